// The status page's first paint (issue 19): time from navigation to the nodes table painted, in
// Debian's headless Chromium, against the same bytes served by a bare node:http static server.
// 50 nodes with 30 days of history behind jarvis serve.
import { existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { BIN, median, printTable, startReady, stopChild, tempDir } from './lib.js';
import { spawn } from 'node:child_process';

const CHROMIUM = process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

export async function benchPage({ runs = 7 } = {}) {
  if (!CHROMIUM) {
    console.log('status page: skipped (chromium not installed)');
    return;
  }
  const { chromium } = await import('playwright-core');
  const { HistoryStore } = await import('../dist/store/history.js');
  const { dir, cleanup } = tempDir();
  const children = [];
  let browser;
  try {
    const nodes = Array.from({ length: 50 }, (_, i) => `n${i + 1}`);
    const now = Date.now();
    const HOUR = 3_600_000;
    const samples = [];
    for (let t = Math.floor(now / HOUR) * HOUR - 30 * 24 * HOUR; t < Math.floor(now / HOUR) * HOUR; t += 600_000) for (const n of nodes) samples.push({ t, n, k: 'p', s: 'ok', l: 20 });
    const data = path.join(dir, 'data');
    const history = new HistoryStore(data, { retentionDays: 90, rule: { upAfter: 2, downAfter: 2, coverMs: 15 * 60_000 }, now: () => now });
    await history.append(samples);
    await history.compact();
    const cfg = path.join(dir, 'jarvis.config.yaml');
    // Refused ports: the page is about what the history and the health check say, not the nodes.
    writeFileSync(cfg, `nodes:\n${nodes.map((n, i) => `  - { id: ${n}, kind: openai, url: "http://127.0.0.1:${20000 + i}", timeoutMs: 500 }`).join('\n')}\n`);
    const child = spawn(process.execPath, [BIN, 'serve', '--json', '--port', '0', '--health-interval', '600000', '--config', cfg, '--data-dir', data], { stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(child);
    const { url } = await startReady(child, { what: 'jarvis serve', event: 'listening' });
    const html = await (await fetch(`${url}/status`)).text();
    const bare = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(html);
    });
    await new Promise((r) => bare.listen(0, '127.0.0.1', r));
    const bareUrl = `http://127.0.0.1:${bare.address().port}/status`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
    const paint = async (target) => {
      const page = await browser.newPage();
      const t0 = Date.now();
      await page.goto(target, { waitUntil: 'commit' });
      await page.waitForSelector('#nodes tbody tr:last-child', { state: 'visible' });
      const ms = Date.now() - t0;
      await page.close();
      return ms;
    };
    await paint(`${url}/status`);
    await paint(bareUrl);
    const j = [];
    const b = [];
    for (let i = 0; i < runs; i++) {
      j.push(await paint(`${url}/status`));
      b.push(await paint(bareUrl));
    }
    bare.close();
    const jm = median(j);
    printTable(`status page, 50 nodes, 30 days of history (${Math.round(html.length / 1024)} KB; Chromium headless, median of ${runs}, in turns)`, ['server', 'to the nodes table', 'target'], [
      ['bare static server, same bytes', `${median(b)} ms`, ''],
      ['jarvis serve /status', `${jm} ms`, `< 200 ms: ${jm < 200 ? 'met' : 'MISSED'}`],
    ]);
  } finally {
    await browser?.close();
    for (const c of children) await stopChild(c);
    cleanup();
  }
}

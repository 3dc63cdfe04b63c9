/**
 * The status page in a real headless Chromium (Debian's, driven by playwright-core: no browser
 * download): every node listed, uptime bars and figures from one rule, a node stopped turns down
 * on the page without a reload, the banner for each overall state, no horizontal scroll at 1280
 * and 390 px, a recovery by another process on the page within one poll, no console errors.
 * Screenshots are written under the test's temp dir. Skipped, with the reason printed, where
 * Chromium is not installed.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { HistoryStore } from '../../src/store/history.js';
import type { Sample } from '../../src/history/buckets.js';
import { writeFileSync } from 'node:fs';
import { BIN, cleanEnv, freePort, jarvis, simFault, startServe, startCluster, stopRestarted, tempDir, type RunningServe, type RunningSim } from '../helpers/cli.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (!CHROMIUM) console.warn('[skip] status page tests: chromium not installed (apt-get install chromium)');

const HOUR = 3_600_000;
/** What the page's callbacks touch of a DOM element (the tests type-check without the DOM lib). */
interface El {
  getAttribute(name: string): string | null;
  querySelector(selector: string): { textContent: string | null } | null;
}
let tmp: ReturnType<typeof tempDir>;
let sim: RunningSim;
let serve: RunningServe;
let browser: Browser | undefined;
/** The hour (start, ms) in which node a was down for its first half hour. */
let badHour = 0;

beforeAll(async () => {
  if (!CHROMIUM) return;
  tmp = tempDir('jarvis-page-');
  let cfg: string;
  ({ sim, cfg } = await startCluster(tmp.dir, [{ id: 'a', kind: 'openai', models: ['m-a'] }, { id: 'b', kind: 'ollama', models: ['qwen3:8b'] }, { id: 'c', kind: 'lmstudio', models: ['mistral'] }], { timeoutMs: 5000 }));
  // Twenty hours of history: a probe every 5 min; node a refused for the first half hour six hours ago.
  const data = path.join(tmp.dir, 'data');
  const now = Date.now();
  const thisHour = Math.floor(now / HOUR) * HOUR;
  badHour = thisHour - 6 * HOUR;
  const samples: Sample[] = [];
  for (let t = thisHour - 20 * HOUR; t < thisHour; t += 300_000) {
    for (const n of ['a', 'b', 'c']) samples.push({ t, n, k: 'p', s: n === 'a' && t >= badHour && t < badHour + HOUR / 2 ? 'refused' : 'ok', l: 30 });
  }
  await new HistoryStore(data, { retentionDays: 90, rule: { upAfter: 2, downAfter: 2, coverMs: 15 * 60_000 }, now: () => now }).append(samples);
  serve = await startServe({ config: cfg, dataDir: data, env: cleanEnv(tmp.dir), args: ['--health-interval', '1000'] });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
});

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  await sim?.stop();
  tmp?.cleanup();
});

/** The page's width against the window's: no horizontal scroll. */
const widths = (page: Page) => page.evaluate(() => {
  const d = globalThis as unknown as { document: { documentElement: { scrollWidth: number } }; innerWidth: number };
  return { scroll: d.document.documentElement.scrollWidth, inner: d.innerWidth };
});

describe.skipIf(!CHROMIUM)('the status page', () => {
  it('lists every node with bars and figures from one rule, turns a stopped node down live, fits 390 px, with no console errors', async () => {
    const page = await browser!.newPage({ viewport: { width: 390, height: 900 } });
    const errors: string[] = [];
    page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
    page.on('pageerror', (e) => errors.push(e.message));
    const res = await page.goto(`${serve.url}/status`);
    expect(res!.status()).toBe(200);
    await page.waitForSelector('#nodes tbody tr');
    expect(await page.$$eval('#nodes tbody tr', (rows: El[]) => rows.map((r) => r.getAttribute('data-node')))).toEqual(['a', 'b', 'c']);
    // The 24 h bar of a: one segment per hour, oldest first, the hour in progress last. The bad
    // hour (six hours ago): down from its start to the second answer after it (35 min), so
    // 41.67 % up of 60 watched minutes; the hours around it fully up.
    const bar = await page.$eval('tr[data-node="a"] svg[aria-label^="a uptime 24h"]', (svg: El) => ({ seg: svg.getAttribute('data-seg') ?? '', title: svg.querySelector('title')?.textContent ?? '' }));
    const segments = bar.seg.split(' ');
    expect(segments).toHaveLength(24);
    // Watched throughout and never throttled: the uptime alone.
    expect(segments[23 - 6]).toBe('41.67');
    expect(segments[23 - 7]).toBe('100');
    // The bar's colour is that segment's own figure: red under 90 %.
    expect(await page.$$eval('tr[data-node="a"] svg[aria-label^="a uptime 24h"] path.r', (p: El[]) => p.length)).toBe(1);
    // The window's figure from the same walk: 35 min down in the watched time.
    // (About 20 h watched: the history, then serve's own probes; the gap between is not watched.)
    expect(bar.title).toMatch(/^a uptime 24h: 9\d\.\d\d % up, watched (19|2\d)(\.\d)? h of 24 h$/);
    expect(await page.textContent('tr[data-node="b"] b[data-window="24h"]')).toBe('100.00 %');
    // A legend for the colours, and hover text naming the segment under the pointer.
    expect(await page.textContent('#legend')).toMatch(/up 99 % or more.*up 90 to 99 %.*up under 90 %.*throttled \(429\).*not watched/);
    const box = (await page.$('tr[data-node="a"] svg[aria-label^="a uptime 24h"]'))!;
    const r = (await box.boundingBox())!;
    await page.mouse.move(r.x + ((23 - 6 + 0.5) * r.width) / 24, r.y + r.height / 2);
    expect(await page.textContent('#tip')).toBe(`${new Date(badHour).toISOString().slice(0, 13).replace('T', ' ')}h UTC: 41.67 % up`);
    const narrow = await widths(page);
    expect(narrow.scroll).toBeLessThanOrEqual(narrow.inner);
    await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42));

    expect(await page.textContent('#overall')).toBe('All systems operational');
    expect((await jarvis(['sim', 'fault', sim.ready.control, 'c', 'down'], { env: cleanEnv(tmp.dir) })).code).toBe(0);
    // One health interval (1 s) and one poll (0.5 s), with room for a busy machine.
    await page.waitForSelector('tr[data-node="c"][data-status="refused"]', { timeout: 30_000 });
    expect(await page.textContent('tr[data-node="c"] .st')).toBe('refused');
    expect(await page.textContent('tr[data-node="c"] .age')).toMatch(/^probed \d+ s ago$/);
    expect(await page.textContent('#down')).toContain('c: refused');
    expect(await page.textContent('#overall')).toBe('Partial outage');
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(42); // not reloaded
    const shot = path.join(tmp.dir, 'status-page-390.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`status page screenshot: ${shot}`);
    await page.setViewportSize({ width: 1280, height: 900 });
    const wide = await widths(page);
    expect(wide.scroll).toBeLessThanOrEqual(wide.inner);
    await page.screenshot({ path: path.join(tmp.dir, 'status-page-1280.png'), fullPage: true });
    expect(errors, errors.join("\n")).toEqual([]);
    await page.close();
  });

  it('readable without JavaScript; a browser at / gets it; badges are SVG; no secrets in it', async () => {
    const ctx = await browser!.newContext({ javaScriptEnabled: false });
    const page = await ctx.newPage();
    await page.goto(`${serve.url}/`);
    expect(await page.$$eval('#nodes tbody tr', (rows: El[]) => rows.length)).toBe(3);
    expect(await page.textContent('#overall')).toMatch(/^(All systems operational|Partial outage)$/);
    const html = await page.content();
    expect(html).not.toMatch(/127\.0\.0\.1:\d+/); // node URLs stay out
    await ctx.close();
    const badge = await fetch(`${serve.url}/badge/b/uptime-24h.svg`);
    expect(badge.headers.get('content-type')).toBe('image/svg+xml');
    expect(await badge.text()).toMatch(/<title>b uptime 24h: 100\.00%<\/title>/);
    expect((await fetch(`${serve.url}/badge/nope/status.svg`)).status).toBe(404);
  });

  it('the banner says each overall state by /health\'s rule: operational, degraded (a quota), partial and major outage', async () => {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${serve.url}/status`);
    const banner = async (text: string, health: string) => {
      await page.waitForFunction((t: string) => (globalThis as unknown as { document: { querySelector(s: string): { textContent: string } | null } }).document.querySelector('#overall')?.textContent === t, text, { timeout: 30_000 });
      expect(((await (await fetch(`${serve.url}/health`)).json()) as { overall: string }).overall).toBe(health);
    };
    for (const n of ['a', 'b', 'c']) await simFault(sim.ready.control, n, 'up');
    await banner('All systems operational', 'operational');
    await simFault(sim.ready.control, 'b', '429');
    await banner('Degraded', 'degraded');
    expect(await page.textContent('tr[data-node="b"] .st')).toBe('throttled');
    await simFault(sim.ready.control, 'c', 'down');
    await banner('Partial outage', 'partial_outage');
    await simFault(sim.ready.control, 'a', 'down');
    await simFault(sim.ready.control, 'b', 'down');
    await banner('Major outage', 'major_outage');
    expect((await fetch(`${serve.url}/health`)).status).toBe(503);
    await page.close();
  });
});

describe.skipIf(!CHROMIUM)('the status page after another process\'s recovery', () => {
  it('shows the node recovered within one poll of `jarvis recover`, not at the next health round (10 min away)', async () => {
    const port = await freePort();
    const dir = path.join(tmp.dir, 'fresh');
    const data = path.join(dir, 'data');
    const cfg = path.join(tmp.dir, 'fresh.yaml');
    writeFileSync(cfg, `nodes:\n  - { id: r, kind: ollama, url: "http://127.0.0.1:${port}", model: "qwen3:8b", timeoutMs: 5000, restart: [${JSON.stringify(process.execPath)}, ${JSON.stringify(BIN)}, sim, node, --kind, ollama, --id, r, --port, "${port}"], process: false }\n`);
    const own = await startServe({ config: cfg, dataDir: data, env: cleanEnv(tmp.dir), args: ['--health-interval', '600000'] });
    try {
      const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(`${own.url}/status`);
      // Its first round (a second after the start) finds nothing listening.
      await page.waitForSelector('tr[data-node="r"][data-status="refused"]', { timeout: 30_000 });
      const recovered = await jarvis(['recover', 'r', '--config', cfg, '--data-dir', data], { env: cleanEnv(tmp.dir) });
      expect(recovered.code, recovered.stdout + recovered.stderr).toBe(0);
      // The incident log changed: serve probes again at once, and the page's next poll (5 s) shows it.
      await page.waitForSelector('tr[data-node="r"][data-status="ok"]', { timeout: 60_000 });
      expect(await page.textContent('#overall')).toBe('All systems operational');
      await page.close();
    } finally {
      await own.stop();
      stopRestarted(data);
    }
  });
});

/**
 * The status page in a real headless Chromium (Debian's, driven by playwright-core: no browser
 * download): every node listed, uptime bars as the history says, a node stopped turns down on
 * the page without a reload, no console errors. A screenshot is written under the test's temp
 * dir. Skipped, with the reason printed, where Chromium is not installed.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { HistoryStore } from '../../src/store/history.js';
import type { Sample } from '../../src/history/buckets.js';
import { cleanEnv, jarvis, startServe, startCluster, tempDir, type RunningServe, type RunningSim } from '../helpers/cli.js';

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
/** The hour (start, ms) in which node a failed half of its probes. */
let badHour = 0;

beforeAll(async () => {
  if (!CHROMIUM) return;
  tmp = tempDir('jarvis-page-');
  let cfg: string;
  ({ sim, cfg } = await startCluster(tmp.dir, [{ id: 'a', kind: 'openai', models: ['m-a'] }, { id: 'b', kind: 'ollama', models: ['qwen3:8b'] }, { id: 'c', kind: 'lmstudio', models: ['mistral'] }], { timeoutMs: 5000 }));
  // Twenty hours of history: a probe every 5 min; node a failed half its probes six hours ago.
  const data = path.join(tmp.dir, 'data');
  const now = Date.now();
  const thisHour = Math.floor(now / HOUR) * HOUR;
  badHour = thisHour - 6 * HOUR;
  const samples: Sample[] = [];
  for (let t = thisHour - 20 * HOUR; t < thisHour; t += 300_000) {
    for (const n of ['a', 'b', 'c']) samples.push({ t, n, k: 'p', s: n === 'a' && t >= badHour && t < badHour + HOUR && (t / 300_000) % 2 === 0 ? 'refused' : 'ok', l: 30 });
  }
  await new HistoryStore(data, { retentionDays: 90, rule: { upAfter: 2, downAfter: 2 }, now: () => now }).append(samples);
  serve = await startServe({ config: cfg, dataDir: data, env: cleanEnv(tmp.dir), args: ['--health-interval', '1000'] });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
});

afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  await sim?.stop();
  tmp?.cleanup();
});

describe.skipIf(!CHROMIUM)('the status page', () => {
  it('lists every node with bars from the history, turns a stopped node down live, with no console errors', async () => {
    const page = await browser!.newPage({ viewport: { width: 412, height: 900 } });
    const errors: string[] = [];
    page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
    page.on('pageerror', (e) => errors.push(e.message));
    const res = await page.goto(`${serve.url}/status`);
    expect(res!.status()).toBe(200);
    await page.waitForSelector('#nodes tbody tr');
    expect(await page.$$eval('#nodes tbody tr', (rows: El[]) => rows.map((r) => r.getAttribute('data-node')))).toEqual(['a', 'b', 'c']);
    // The 24 h bar of a: one segment per hour, oldest first, the hour in progress last; the bad
    // hour (six hours ago) has 6 of its 12 probes answered, and the tooltip names it.
    const bar = await page.$eval('tr[data-node="a"] svg[aria-label="a uptime 24h"]', (svg: El) => ({ seg: svg.getAttribute('data-seg') ?? '', title: svg.querySelector('title')?.textContent ?? '' }));
    const segments = bar.seg.split(' ');
    expect(segments).toHaveLength(24);
    expect(segments[23 - 6]).toBe('6/12');
    expect(segments.filter((s) => s === '12/12').length).toBeGreaterThanOrEqual(18);
    expect(bar.title).toContain(`worst ${new Date(badHour).toISOString().slice(0, 13).replace('T', ' ')}h UTC: 6/12`);
    expect(await page.textContent('tr[data-node="b"] b[data-window="24h"]')).toBe('100.00 %');
    await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42));

    expect((await jarvis(['sim', 'fault', sim.ready.control, 'c', 'down'], { env: cleanEnv(tmp.dir) })).code).toBe(0);
    // One health interval (1 s) and one poll (0.5 s), with room for a busy machine.
    await page.waitForSelector('tr[data-node="c"][data-status="refused"]', { timeout: 30_000 });
    expect(await page.textContent('tr[data-node="c"] td.st')).toBe('refused');
    expect(await page.textContent('#down')).toContain('c: refused');
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(42); // not reloaded
    const shot = path.join(tmp.dir, 'status-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`status page screenshot: ${shot}`);
    expect(errors, errors.join("\n")).toEqual([]);
    await page.close();
  });

  it('readable without JavaScript; a browser at / gets it; badges are SVG; no secrets in it', async () => {
    const ctx = await browser!.newContext({ javaScriptEnabled: false });
    const page = await ctx.newPage();
    await page.goto(`${serve.url}/`);
    expect(await page.$$eval('#nodes tbody tr', (rows: El[]) => rows.length)).toBe(3);
    const html = await page.content();
    expect(html).not.toMatch(/127\.0\.0\.1:\d+/); // node URLs stay out
    await ctx.close();
    const badge = await fetch(`${serve.url}/badge/b/uptime-24h.svg`);
    expect(badge.headers.get('content-type')).toBe('image/svg+xml');
    expect(await badge.text()).toMatch(/<title>b uptime 24h: 100\.00%<\/title>/);
    expect((await fetch(`${serve.url}/badge/nope/status.svg`)).status).toBe(404);
  });
});

// The probe history (issue 19): what an append costs a probe, and `jarvis report` over 30 days of
// 50 nodes probed every 5 minutes (432,000 probes, folded into 30 day files), in process and as
// the whole command.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, fmt, median, printTable, tempDir, timed } from './lib.js';

const { HistoryStore } = await import('../dist/store/history.js');
const DAY = 86_400_000;
const rule = { upAfter: 2, downAfter: 2, coverMs: 15 * 60_000 };

export async function benchHistory() {
  const { dir, cleanup } = tempDir();
  try {
    const end = Date.parse('2026-11-01T00:00:00Z');
    const from = end - 30 * DAY;
    const store = new HistoryStore(dir, { retentionDays: 90, rule, now: () => end });
    const nodes = Array.from({ length: 50 }, (_, i) => `n${i + 1}`);
    let folded = 0;
    const started = performance.now();
    for (let day = 0; day < 30; day++) {
      const samples = [];
      for (let t = from + day * DAY; t < from + (day + 1) * DAY; t += 300_000) for (const n of nodes) samples.push({ t, n, k: 'p', s: (t / 300_000) % 97 === 0 ? 'timeout' : 'ok', l: 20 + (t % 50) });
      await store.append(samples);
      await store.compact();
      folded += samples.length;
    }
    const foldMs = performance.now() - started;
    // One round of probes appended to the hour in progress (what status, check and serve pay).
    const live = new HistoryStore(path.join(dir, 'live'), { retentionDays: 90, rule, now: () => Date.now() });
    const appendMs = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      await live.append(nodes.slice(0, 6).map((n) => ({ t: Date.now(), n, k: 'p', s: 'ok', l: 12 })));
      appendMs.push(performance.now() - t0);
    }
    const readMs = [];
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      await store.read(from, end);
      readMs.push(performance.now() - t0);
    }
    const cfg = path.join(dir, 'jarvis.config.yaml');
    writeFileSync(cfg, `nodes:\n${nodes.map((n, i) => `  - { id: ${n}, kind: openai, url: "http://127.0.0.1:${10000 + i}" }`).join('\n')}\n`);
    const cli = [];
    for (let i = 0; i < 5; i++) cli.push((await timed(process.execPath, [BIN, 'report', '--since', '30d', '--json', '--config', cfg, '--data-dir', dir], { env: { ...process.env, JARVIS_NOW: new Date(end).toISOString() } })).ms);
    const read = median(readMs);
    printTable('probe history (50 nodes, 30 days, a probe every 5 min)', ['measure', 'value', 'target'], [
      ['append: one round of 6 probes to the hour in progress', `${median(appendMs).toFixed(2)} ms`, ''],
      [`fold ${folded.toLocaleString('en')} probes into 30 day files`, fmt(foldMs), ''],
      ['read 30 days x 50 nodes (in process)', `${read.toFixed(1)} ms`, `< 50 ms: ${read < 50 ? 'met' : 'MISSED'}`],
      ['jarvis report --since 30d --json (whole command)', fmt(median(cli)), ''],
    ]);
  } finally {
    cleanup();
  }
}

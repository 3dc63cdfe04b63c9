// Issue 4's figures: a check over 50 sim nodes with 5 broken (wall time, memory), and the cost of
// a quiet check (all up, nothing changed), the one cron runs every few minutes.
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, fmt, median, printTable, startCluster, tempDir, timed } from './lib.js';

const TIMEOUT_MS = 3000;

function spec(count, broken) {
  const kinds = ['ollama', 'lmstudio', 'openai'];
  return Array.from({ length: count }, (_, i) => ({
    id: `n${i + 1}`,
    kind: kinds[i % 3],
    models: [kinds[i % 3] === 'ollama' ? 'qwen3:8b' : `model-${i + 1}`],
    priority: i + 1,
    ...(broken[i] && { fault: broken[i] }),
  }));
}

export async function benchCheck({ runs = 3 } = {}) {
  const rows = [];
  const { dir, cleanup } = tempDir();
  try {
    const broken = { 4: 'down', 14: 'down', 24: '500', 34: 'hang', 44: 'hang' };
    for (const [label, faults] of [
      ['50 nodes, 5 broken (2 down, 1 HTTP 500, 2 hanging)', broken],
      ['50 nodes, all up (quiet check)', {}],
      ['6 nodes, all up (quiet check)', null],
    ]) {
      const nodes = faults === null ? spec(6, {}) : spec(50, faults);
      const cluster = await startCluster(dir, nodes, TIMEOUT_MS);
      try {
        const dataDir = path.join(dir, `data-${rows.length}`);
        // Confirmation as shipped: 1 re-probe after 1 s.
        appendFileSync(cluster.config, 'check: { confirmDelayMs: 1000, confirmProbes: 1 }\n');
        await timed(process.execPath, [BIN, 'check', '--config', cluster.config, '--data-dir', dataDir]); // first run records the state
        const ms = [];
        let rss = 0;
        let out = '';
        for (let i = 0; i < runs; i++) {
          const r = await timed(process.execPath, [BIN, 'check', '--config', cluster.config, '--data-dir', dataDir], { rss: true });
          ms.push(r.ms);
          rss = Math.max(rss, r.maxRssKiB ?? 0);
          out = r.stdout;
          if (r.code === 3) throw new Error('check returned UNKNOWN');
        }
        rows.push([label, fmt(median(ms)), `${Math.round(rss / 1024)} MB`, out.trim() === '' ? 'nothing (quiet)' : `${out.trim().split('\n').length} line(s)`]);
      } finally {
        await cluster.stop();
      }
    }
  } finally {
    cleanup();
  }
  printTable(`jarvis check, after a first run recorded the state (median of ${runs}; timeout ${TIMEOUT_MS} ms, confirmation: 1 re-probe after 1 s)`, ['cluster', 'wall', 'peak RSS', 'stdout'], rows);
}

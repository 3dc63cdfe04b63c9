// `jarvis status` against the runbook's way (a sequential `curl --max-time 3` per node), with a
// third of the nodes hanging; and start-up of `--help` and `status` against a bare `node -e 0`.
import { spawnSync } from 'node:child_process';
import { BIN, fmt, median, percentile, printTable, startCluster, tempDir, timed } from './lib.js';

const TIMEOUT_MS = 3000; // the runbook's detection timeout
const hasCurl = spawnSync('curl', ['--version']).error === undefined;

function spec(count, hangEvery) {
  const kinds = ['ollama', 'lmstudio', 'openai'];
  return Array.from({ length: count }, (_, i) => {
    const kind = kinds[i % 3];
    return {
      id: `n${i + 1}`,
      kind,
      models: [kind === 'ollama' ? 'qwen3:8b' : `model-${i + 1}`],
      priority: i + 1,
      ...(hangEvery && i % hangEvery === hangEvery - 1 && { fault: 'hang' }),
    };
  });
}

const probePath = (kind) => (kind === 'ollama' ? '/api/tags' : '/v1/models');

async function curlSequential(nodes) {
  const started = performance.now();
  for (const n of nodes) {
    await timed('curl', ['-s', '-o', '/dev/null', '--max-time', String(TIMEOUT_MS / 1000), `${n.url}${probePath(n.kind)}`]);
  }
  return performance.now() - started;
}

export async function benchStatus({ counts = [6, 50, 200], curlUpTo = 50 } = {}) {
  const { dir, cleanup } = tempDir();
  const rows = [];
  try {
    for (const count of counts) {
      const cluster = await startCluster(dir, spec(count, 3), TIMEOUT_MS);
      try {
        const runs = [];
        for (let i = 0; i < 3; i++) runs.push(await timed(process.execPath, [BIN, 'status', '--json', '--config', cluster.config], { rss: true }));
        const best = runs.reduce((a, b) => (a.ms < b.ms ? a : b));
        const statuses = JSON.parse(best.stdout).nodes.map((n) => n.status);
        const hung = statuses.filter((s) => s === 'timeout').length;
        const bound = TIMEOUT_MS + 300;
        const curl = hasCurl && count <= curlUpTo ? await curlSequential(cluster.ready.nodes) : undefined;
        rows.push([
          count,
          hung,
          fmt(median(runs.map((r) => r.ms))),
          `${Math.round(Math.max(...runs.map((r) => r.maxRssKiB ?? 0)) / 1024)} MB`,
          curl === undefined ? (hasCurl ? `skipped (~${fmt(hung * TIMEOUT_MS)})` : 'no curl') : fmt(curl),
          curl === undefined ? '' : `${(curl / median(runs.map((r) => r.ms))).toFixed(1)}x`,
          `${fmt(bound)}: ${median(runs.map((r) => r.ms)) <= bound ? 'met' : 'MISSED'}`,
        ]);
      } finally {
        await cluster.stop();
      }
    }
  } finally {
    cleanup();
  }
  printTable(`jarvis status vs sequential curl --max-time 3 (a third of the nodes hang; timeout ${TIMEOUT_MS} ms; median of 3)`, ['nodes', 'hanging', 'jarvis status', 'peak RSS', 'curl, one by one', 'speed-up', 'target (timeout + 300 ms)'], rows);
}

export async function benchStartup({ runs = 15 } = {}) {
  const { dir, cleanup } = tempDir();
  const cluster = await startCluster(dir, spec(6, 0), TIMEOUT_MS);
  try {
    const measure = async (file, args) => {
      await timed(file, args); // warm the file cache
      const ms = [];
      for (let i = 0; i < runs; i++) ms.push((await timed(file, args)).ms);
      return ms;
    };
    const bare = await measure(process.execPath, ['-e', '0']);
    const help = await measure(process.execPath, [BIN, '--help']);
    const status = await measure(process.execPath, [BIN, 'status', '--config', cluster.config]);
    const row = (name, ms, target) => [name, fmt(median(ms)), fmt(percentile(ms, 90)), `+${fmt(median(ms) - median(bare))}`, target ? `${fmt(target)}: ${median(ms) <= target ? 'met' : 'MISSED'}` : ''];
    printTable(`start-up (${runs} runs each, after one warm-up; "over bare" = median minus node -e 0's)`, ['command', 'median', 'p90', 'over bare', 'target'], [
      row('node -e 0', bare),
      row('jarvis --help', help, 120),
      row('jarvis status (6 healthy sim nodes)', status, 250),
    ]);
  } finally {
    await cluster.stop();
    cleanup();
  }
}

// Issue 3's figures: a killed node back to verified (per step), incident appends per second with
// 8 concurrent writers, and `jarvis incidents` over 10,000 stored incidents.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { BIN, ROOT, fmt, median, printTable, tempDir, timed } from './lib.js';

async function freePort() {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Kill a sim node, recover it, read the step timings; `runs` times. */
export async function benchRecoverTime({ runs = 5 } = {}) {
  const { dir, cleanup } = tempDir();
  const rows = [];
  const stepsMs = {};
  const walls = [];
  try {
    for (let i = 0; i < runs; i++) {
      const port = await freePort();
      const restart = [process.execPath, BIN, 'sim', 'node', '--kind', 'ollama', '--id', 'ol1', '--port', String(port), '--model', 'qwen3:8b'];
      const cfg = path.join(dir, `c${i}.yaml`);
      writeFileSync(cfg, `nodes:\n  - { id: ol1, kind: ollama, url: "http://127.0.0.1:${port}", model: "qwen3:8b", timeoutMs: 1000, restart: ${JSON.stringify(restart)} }\n`);
      // Start it, then kill it hard: the state a crashed Ollama leaves.
      const first = spawn(restart[0], restart.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
      await new Promise((r) => first.stdout.once('data', r));
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
      const r = await timed(process.execPath, [BIN, 'recover', 'ol1', '--json', '--config', cfg, '--data-dir', path.join(dir, `d${i}`)]);
      const result = JSON.parse(r.stdout);
      walls.push(r.ms);
      for (const s of result.steps) (stepsMs[s.step] ??= []).push(s.ms);
      for (const s of result.steps) if (s.pid) process.kill(s.pid, 'SIGTERM');
      if (result.outcome !== 'recovered') throw new Error(`run ${i}: ${result.outcome}`);
    }
  } finally {
    cleanup();
  }
  for (const [step, ms] of Object.entries(stepsMs)) rows.push([step, fmt(median(ms))]);
  rows.push(['whole `jarvis recover` process (assess + steps + record)', fmt(median(walls))]);
  printTable(`killed sim node -> verified, through its restart argv (median of ${runs})`, ['step', 'median'], rows);
}

/** 8 processes appending through IncidentStore at once. */
export async function benchAppends({ writers = 8, perWriter = 50 } = {}) {
  const { dir, cleanup } = tempDir();
  try {
    const worker = path.join(dir, 'worker.mjs');
    await build({
      stdin: {
        contents: `import { IncidentStore } from './src/incidents/store.ts';
const [dataDir, n, me] = process.argv.slice(2);
const store = new IncidentStore(dataDir, { now: () => Date.now() });
for (let i = 0; i < Number(n); i++) {
  await store.append({ node: 'n' + me, at: new Date().toISOString(), status: 'refused', diagnosis: 'connection refused', actions: ['bench'], outcome: 'recovered', durationMs: 1 });
}`,
        resolveDir: ROOT,
        loader: 'ts',
      },
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: worker,
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
      logLevel: 'error',
    });
    const dataDir = path.join(dir, 'data');
    mkdirSync(dataDir);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: writers }, (_, i) =>
        new Promise((resolve, reject) => {
          const c = spawn(process.execPath, [worker, dataDir, String(perWriter), String(i)], { stdio: ['ignore', 'ignore', 'inherit'] });
          c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exit ${code}`))));
        }),
      ),
    );
    const ms = performance.now() - started;
    const { readFileSync } = await import('node:fs');
    const stored = JSON.parse(readFileSync(path.join(dataDir, 'incidents.json'), 'utf8')).incidents.length;
    const total = writers * perWriter;
    printTable('incident appends under the cross-process lock', ['writers', 'appends', 'stored', 'wall', 'appends/s'], [
      [writers, total, `${stored}${stored === total ? '' : ' LOST SOME'}`, fmt(ms), Math.round(total / (ms / 1000))],
    ]);
  } finally {
    cleanup();
  }
}

/** `jarvis incidents` over 10,000 stored incidents. */
export async function benchIncidentList({ count = 10_000, runs = 7 } = {}) {
  const { dir, cleanup } = tempDir();
  try {
    const dataDir = path.join(dir, 'data');
    mkdirSync(dataDir);
    const nodes = ['m2', 'm3', 'ol1', 'gemini', 'claude', 'm1'];
    const t0 = Date.now() - 80 * 86_400_000;
    const incidents = Array.from({ length: count }, (_, i) => ({
      id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      node: nodes[i % nodes.length],
      at: new Date(t0 + i * ((80 * 86_400_000) / count)).toISOString(),
      status: 'refused',
      diagnosis: 'connection refused',
      actions: ['start: ollama serve: ok (running, pid 1234)', 'wait until healthy: ok', 'verify with a ping completion: ok'],
      outcome: 'recovered',
      durationMs: 1500,
      escalated: i % 7 === 0,
      recovery: 'restart',
      steps: [
        { step: 'spawn', label: 'start: ollama serve', ok: true, ms: 300, detail: 'running, pid 1234, log data/logs/ol1.log' },
        { step: 'wait_healthy', label: 'wait until healthy', ok: true, ms: 900, detail: 'healthy after 0.9 s' },
        { step: 'verify', label: 'verify with a ping completion', ok: true, ms: 40, detail: 'answered "pong" in 40 ms' },
      ],
      verification: { ok: true, latencyMs: 40, content: 'pong', model: 'qwen3:8b' },
      windowCount: 1,
    }));
    const file = path.join(dataDir, 'incidents.json');
    writeFileSync(file, JSON.stringify({ incidents }));
    const cfg = path.join(dir, 'c.yaml');
    writeFileSync(cfg, `nodes:\n${nodes.map((n) => `  - { id: ${n}, kind: ollama, url: "http://127.0.0.1:9" }`).join('\n')}\n`);
    const { statSync } = await import('node:fs');
    const measure = async (args) => {
      const ms = [];
      for (let i = 0; i < runs; i++) ms.push((await timed(process.execPath, [BIN, 'incidents', ...args, '--config', cfg, '--data-dir', dataDir])).ms);
      return median(ms);
    };
    const table = await measure([]);
    const node = await measure(['--node', 'ol1', '--since', '7d']);
    const json = await measure(['--json']);
    printTable(`jarvis incidents over ${count} stored incidents (${(statSync(file).size / 1e6).toFixed(1)} MB file; median of ${runs})`, ['command', 'median', 'target'], [
      ['jarvis incidents (table, newest 50)', fmt(table), `300 ms: ${table <= 300 ? 'met' : 'MISSED'}`],
      ['jarvis incidents --node ol1 --since 7d', fmt(node), ''],
      ['jarvis incidents --json (all 10,000)', fmt(json), ''],
    ]);
  } finally {
    cleanup();
  }
}

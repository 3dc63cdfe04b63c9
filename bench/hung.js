// One of four nodes hung (it accepts connections and never answers, as a SIGSTOPped server does)
// while 16 clients keep asking `jarvis serve`: how long a request waits on it. The target: no
// request waits more than one attempt timeout plus the backoff on the hung node, since the failure
// that opens its breaker moves every request still waiting on it along, and a half-open breaker
// lets exactly one trial through. The breaker's open time is short here (2 s), so that the run sees
// it half-open several times.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { Pool } from 'undici';
import { BIN, percentile, printTable, startCluster, startReady, stopChild, tempDir } from './lib.js';

const TIMEOUT_MS = 2000;
const MAX_BACKOFF_MS = 200;
const met = (ok) => (ok ? 'met' : 'MISSED');

export async function benchHung({ seconds = 8, connections = 16 } = {}) {
  const { dir, cleanup } = tempDir();
  const nodes = ['hung', 'n2', 'n3', 'n4'].map((id) => ({ id, kind: 'openai', models: ['m.gguf'] }));
  const cluster = await startCluster(dir, nodes, 3000);
  let serve;
  try {
    const cfg = path.join(dir, 'hung.yaml');
    writeFileSync(
      cfg,
      `nodes:\n${cluster.ready.nodes.map((n, i) => `  - { id: ${n.id}, kind: openai, url: "${n.url}", model: m.gguf, priority: ${i + 1} }`).join('\n')}\n` +
        `cascade: { requestTimeoutMs: ${TIMEOUT_MS}, initialBackoffMs: 100, maxBackoffMs: ${MAX_BACKOFF_MS}, recoveryMs: 2000, maxRecoveryMs: 2000 }\n`,
    );
    serve = spawn(process.execPath, [BIN, 'serve', '--json', '--port', '0', '--health-interval', '600000', '--config', cfg, '--data-dir', path.join(dir, 'data')], { stdio: ['ignore', 'pipe', 'ignore'] });
    const url = (await startReady(serve, { what: 'jarvis serve (hung node)', event: 'listening' })).url;
    // Hung once the proxy's first probe saw it answer (and listed its models), as a node that hangs in service.
    for (let i = 0; ; i++) {
      const status = await (await fetch(`${url}/api/status`)).json();
      if (status.nodes.hung?.probe === 'ok') break;
      if (i === 200) throw new Error('the first probe never came');
      await new Promise((r) => setTimeout(r, 50));
    }
    const fault = await fetch(`${cluster.ready.control}/nodes/hung/fault`, { method: 'POST', body: 'hang' });
    if (!fault.ok) throw new Error(`could not hang the node: ${await fault.text()}`);
    const pool = new Pool(url, { connections });
    const body = JSON.stringify({ model: 'm.gguf', messages: [{ role: 'user', content: 'ping' }], max_tokens: 10 });
    const all = [];
    let errors = 0;
    let trials = 0;
    const end = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (performance.now() < end) {
          const t = performance.now();
          const r = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body });
          await r.body.text();
          const ms = performance.now() - t;
          if (r.statusCode !== 200) errors++;
          all.push(ms);
          const trace = String(r.headers['x-jarvis-attempts'] ?? '');
          const waited = trace.split(',').filter((a) => a === 'hung=timeout').length;
          trials += waited;
        }
      }),
    );
    await pool.close();
    const worst = Math.max(...all);
    const bound = TIMEOUT_MS + MAX_BACKOFF_MS;
    printTable(`one of four nodes hung, ${connections} connections for ${seconds} s (attempt timeout ${TIMEOUT_MS} ms, backoff up to ${MAX_BACKOFF_MS} ms, breaker open 2 s)`, ['measure', 'value', 'target'], [
      ['requests answered / errors', `${all.length} / ${errors}`, `no errors: ${met(errors === 0)}`],
      ['requests slower than 100 ms (they waited on the hung node)', String(all.filter((ms) => ms > 100).length), ''],
      ['attempts that timed out on the hung node (threshold, then one trial per half-open)', String(trials), ''],
      ['slowest request', `${Math.round(worst)} ms`, `<= ${bound} ms + the answer: ${met(worst <= bound + 100)}`],
      ['p99 / p50 of all requests', `${Math.round(percentile(all, 99))} / ${percentile(all, 50).toFixed(1)} ms`, ''],
    ]);
  } finally {
    if (serve) await stopChild(serve);
    await cluster.stop();
    cleanup();
  }
}

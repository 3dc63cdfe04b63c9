// Shared state in Redis (issue 20): request overhead against the file store at concurrency 1 and
// 16 (state is read from the instance's own view, kept fresh by its sync, not fetched per
// request), and how long a breaker opened through one instance takes to be seen by another.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { BIN, median, printTable, startCluster, startReady, stopChild, tempDir } from './lib.js';
import { loadgen } from './loadgen.js';

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

export async function benchRedis({ rounds = 3, seconds = 2 } = {}) {
  if (spawnSync('redis-server', ['--version']).error) {
    console.log('redis: skipped (redis-server not installed)');
    return;
  }
  const { dir, cleanup } = tempDir();
  const children = [];
  const cluster = await startCluster(dir, [{ id: 'fast', kind: 'openai', models: ['m'] }], 3000);
  try {
    const port = await freePort();
    const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    children.push(redis);
    await new Promise((r) => setTimeout(r, 300));
    const upstream = cluster.ready.nodes[0].url;
    const refused = `http://127.0.0.1:${await freePort()}`;
    const serve = async (name, redisState) => {
      const cfg = path.join(dir, `${name}.yaml`);
      writeFileSync(cfg, `nodes:\n  - { id: primary, kind: openai, url: "${refused}", priority: 1, timeoutMs: 500 }\n  - { id: fast, kind: openai, url: "${upstream}", priority: 2 }\n${redisState ? `state: { backend: redis, url: "redis://127.0.0.1:${port}/0", keyPrefix: "${name}:" }\n` : ''}`);
      const child = spawn(process.execPath, [BIN, 'serve', '--json', '--port', '0', '--health-interval', '600000', '--config', cfg, '--data-dir', path.join(dir, `data-${name}`)], { stdio: ['ignore', 'pipe', 'ignore'] });
      children.push(child);
      return (await startReady(child, { what: `jarvis serve (${name})`, event: 'listening' })).url;
    };
    const file = await serve('file', false);
    const shared = await serve('redis', true);
    const body = JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 });
    const rows = [];
    for (const c of [1, 16]) {
      const p50 = { file: [], redis: [] };
      const rps = { file: [], redis: [] };
      for (let r = 0; r < rounds; r++) {
        for (const [k, url] of [['file', file], ['redis', shared]]) {
          const out = await loadgen({ origin: url, pathName: '/v1/chat/completions', body, connections: c, seconds });
          p50[k].push(out.p50);
          rps[k].push(out.rps);
        }
      }
      const added = median(p50.redis) - median(p50.file);
      rows.push([`concurrency ${c}`, `${median(p50.file).toFixed(2)} ms / ${Math.round(median(rps.file))}`, `${median(p50.redis).toFixed(2)} ms / ${Math.round(median(rps.redis))}`, `${added.toFixed(2)} ms`, `< 0.2 ms: ${added < 0.2 ? 'met' : 'MISSED'}`]);
    }
    printTable(`request overhead: the file store against Redis (${rounds} rounds of ${seconds} s, in turns)`, ['load', 'file: p50 / req/s', 'redis: p50 / req/s', 'added p50', 'target'], rows);

    // Propagation: three refused attempts through A open primary's breaker; B is asked every 20 ms.
    const a = await serve('pa', true);
    const bCfg = path.join(dir, 'pa.yaml');
    const bChild = spawn(process.execPath, [BIN, 'serve', '--json', '--port', '0', '--health-interval', '600000', '--config', bCfg, '--data-dir', path.join(dir, 'data-pb')], { stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(bChild);
    const b = (await startReady(bChild, { what: 'jarvis serve (pb)', event: 'listening' })).url;
    const ask = async (url) => {
      const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'hi' }] }) });
      await res.text();
      return res.headers.get('x-jarvis-attempts') ?? '';
    };
    for (let i = 0; i < 3; i++) await ask(a);
    const opened = performance.now();
    let seen;
    while (performance.now() - opened < 10_000) {
      if ((await ask(b)).startsWith('primary=circuit_open')) {
        seen = performance.now() - opened;
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    printTable('a breaker opened through one instance, seen by another (sync every 1 s)', ['measure', 'value', 'target'], [['opened through A -> B skips it', seen === undefined ? 'not within 10 s' : `${Math.round(seen)} ms`, seen !== undefined && seen <= 2000 ? '<= 2 syncs: met' : '<= 2 syncs: MISSED']]);
  } finally {
    for (const c of children) await stopChild(c);
    await cluster.stop();
    cleanup();
  }
}

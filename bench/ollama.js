// Ollama's own API in front (issue 36): the same Ollama sim node asked directly, through jarvis
// serve's Ollama front (passed through to the Ollama node), through its OpenAI front (the node's
// OpenAI API, passed through), and through the Ollama front translated to an OpenAI-style node;
// paths in turns. Target: the Ollama pass-through adds under 0.1 ms p50 over the OpenAI front's
// pass-through, and its throughput at 16 is within 10 % of it.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, inTurns, percentile, printTable, startCluster, startReady, stopChild, tempDir } from './lib.js';

const ROUNDS = 3;

export async function benchOllama({ seconds = 3 } = {}) {
  const { dir, cleanup } = tempDir();
  const children = [];
  const cluster = await startCluster(dir, [{ id: 'ol', kind: 'ollama', models: ['qwen3:8b'] }, { id: 'oa', kind: 'openai', models: ['qwen3:8b'] }], 3000);
  try {
    const [olUrl, oaUrl] = cluster.ready.nodes.map((n) => n.url);
    const serve = async (name, node) => {
      const cfg = path.join(dir, `${name}.yaml`);
      writeFileSync(cfg, `nodes:\n  - { id: ${node.id}, kind: ${node.kind}, url: "${node.url}" }\n`);
      const child = spawn(process.execPath, [BIN, 'serve', '--json', '--port', '0', '--health-interval', '600000', '--config', cfg, '--data-dir', path.join(dir, `data-${name}`)], { stdio: ['ignore', 'pipe', 'ignore'] });
      children.push(child);
      return (await startReady(child, { what: `jarvis serve (${name})`, event: 'listening' })).url;
    };
    const viaOllama = await serve('ollama', { id: 'ol', kind: 'ollama', url: olUrl });
    const viaOpenai = await serve('openai', { id: 'oa', kind: 'openai', url: oaUrl });
    const native = JSON.stringify({ model: 'qwen3:8b', stream: false, messages: [{ role: 'user', content: 'ping' }] });
    const chat = JSON.stringify({ model: 'qwen3:8b', messages: [{ role: 'user', content: 'ping' }] });
    const targets = [
      ['direct: the Ollama node, /api/chat', olUrl, '/api/chat', native],
      ['jarvis, Ollama front, passed through', viaOllama, '/api/chat', native],
      ['jarvis, OpenAI front, passed through', viaOllama, '/v1/chat/completions', chat],
      ['jarvis, Ollama front, translated to chat', viaOpenai, '/api/chat', native],
    ];
    const rows = [];
    const stats = {};
    for (const concurrency of [1, 16]) {
      const acc = await inTurns(targets.map(([name, origin, p, body]) => ({ name, origin, path: p, body })), concurrency, seconds, ROUNDS);
      for (const [name] of targets) {
        const a = acc[name];
        const sorted = a.lat.sort((x, y) => x - y);
        stats[`${name}@${concurrency}`] = { p50: percentile(sorted, 50), rps: a.n / seconds };
        rows.push([name, String(concurrency), `${percentile(sorted, 50).toFixed(3)} ms`, `${percentile(sorted, 99).toFixed(2)} ms`, String(Math.round(a.n / seconds)), String(a.errors)]);
      }
    }
    printTable('Ollama front, the same sim node on loopback (closed loop, paths in turns)', ['path', 'concurrency', 'p50', 'p99', 'req/s', 'errors'], rows);
    const pass = 'jarvis, Ollama front, passed through';
    const openai = 'jarvis, OpenAI front, passed through';
    const added = stats[`${pass}@1`].p50 - stats[`${openai}@1`].p50;
    const ratio = stats[`${pass}@16`].rps / stats[`${openai}@16`].rps;
    const met = (ok) => (ok ? 'met' : 'MISSED');
    printTable('targets (from this run)', ['measure', 'value', 'target'], [
      ['Ollama pass-through p50 over the OpenAI front\'s, concurrency 1', `${added.toFixed(3)} ms`, `< 0.1 ms: ${met(added < 0.1)}`],
      ['throughput at 16, Ollama pass-through / OpenAI pass-through', `${(ratio * 100).toFixed(1)} %`, `within 10 %: ${met(Math.abs(1 - ratio) <= 0.1)}`],
    ]);
  } finally {
    for (const c of children) await stopChild(c);
    await cluster.stop();
    cleanup();
  }
}

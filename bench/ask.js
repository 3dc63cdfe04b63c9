// Issue 5's figures, measured in-process on the real engine and transport against sim nodes on
// loopback (CLI start-up is measured elsewhere): the extra latency of a failover over asking the
// answering node directly, with the primary's breaker open, and a hanging primary.
import path from 'node:path';
import { build } from 'esbuild';
import { ROOT, fmt, median, percentile, printTable, startCluster, tempDir } from './lib.js';

export async function benchAsk({ requests = 300 } = {}) {
  const { dir, cleanup } = tempDir();
  const cluster = await startCluster(dir, [
    { id: 'fast', kind: 'openai', models: ['m.gguf'], priority: 2 },
    { id: 'hung', kind: 'openai', models: ['m.gguf'], priority: 1, fault: 'hang' },
  ], 3000);
  try {
    const lib = path.join(dir, 'engine.mjs');
    await build({
      stdin: {
        contents: `export { runCascade } from './src/cascade/engine.ts'; export { ModelCatalog } from './src/cascade/catalog.ts'; export { sendChat, listModels } from './src/cascade/transport.ts'; export { cascadeSettings } from './src/cascade/settings.ts'; export { parseConfig } from './src/config/load.ts';`,
        resolveDir: ROOT,
        loader: 'ts',
      },
      bundle: true,
      platform: 'node',
      format: 'esm',
      outfile: lib,
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
      logLevel: 'error',
    });
    const { runCascade, ModelCatalog, sendChat, listModels, cascadeSettings, parseConfig } = await import(lib);
    const fast = cluster.ready.nodes.find((n) => n.id === 'fast').url;
    const hung = cluster.ready.nodes.find((n) => n.id === 'hung').url;
    const net = await import('node:net');
    const refusedPort = await new Promise((r) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address();
        s.close(() => r(port));
      });
    });
    const cfgText = (primary) => `nodes:\n${primary ? `  - { id: primary, kind: openai, url: "${primary}", priority: 1 }\n` : ''}  - { id: fast, kind: openai, url: "${fast}", priority: 2 }\ncascade: { initialBackoffMs: 200, requestTimeoutMs: 1000, deadlineMs: 10000 }\n`;
    const deps = { send: sendChat, listModels, now: () => performance.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)), random: Math.random };
    const ask = { messages: [{ role: 'user', content: 'ping' }], stream: false };
    const measure = async (cfg, health = {}) => {
      const config = await parseConfig(cfg, 'bench.yaml');
      const settings = cascadeSettings(config, {});
      const ms = [];
      const catalog = new ModelCatalog();
      for (let i = 0; i < 20; i++) await runCascade(config, settings, health, catalog, ask, deps); // warm the connections and the JIT
      for (let i = 0; i < requests; i++) {
        const t = performance.now();
        const r = await runCascade(config, settings, health, catalog, ask, deps);
        ms.push(performance.now() - t);
        if (!r.ok || r.node !== 'fast') throw new Error(`unexpected: ${JSON.stringify(r.attempts)}`);
      }
      return ms;
    };
    const direct = await measure(cfgText(undefined));
    const refused = await measure(cfgText(`http://127.0.0.1:${refusedPort}`));
    const openBreaker = await measure(cfgText(`http://127.0.0.1:${refusedPort}`), { primary: { breaker: { phase: 'open', consecutiveFailures: 3, openUntil: performance.now() + 3_600_000, opens: 1 }, successes: 0, failures: 3, consecutiveFailures: 3, totalRequests: 3 } });
    const ms2 = (x) => `${x.toFixed(2)} ms`;
    const row = (name, ms, target) => {
      const extra = median(ms) - median(direct);
      return [name, ms2(median(ms)), ms2(percentile(ms, 99)), target ? `${extra >= 0 ? '+' : ''}${ms2(extra)}` : '', target ? `${target} ms: ${extra <= target ? 'met' : 'MISSED'}` : ''];
    };
    printTable(`ask through the cascade, in-process, ${requests} requests each (after 20 warm-up)`, ['case', 'median', 'p99', 'extra (median)', 'target'], [
      row('direct to the answering node', direct),
      row('primary refused (fails over)', refused, 20),
      row('primary refused, its breaker open (skipped)', openBreaker, 5),
    ]);

    // A hanging primary: the per-attempt timeout and the breaker decide how long the caller waits.
    const config = await parseConfig(cfgText(hung), 'bench.yaml');
    const settings = cascadeSettings(config, {});
    const walls = [];
    let attempts;
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      const r = await runCascade(config, settings, {}, new ModelCatalog(), ask, deps);
      walls.push(performance.now() - t);
      attempts = r.attempts.map((a) => `${a.node}:${a.class ?? 'ok'}`).join(' ');
    }
    printTable('primary hangs (request timeout 1 s, deadline 10 s, backoff from 200 ms; fresh breaker each run)', ['attempts', 'wall (median of 3)'], [[attempts, fmt(median(walls))]]);
  } finally {
    await cluster.stop();
    cleanup();
  }
}

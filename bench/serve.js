// Issue 6's figures, side by side in one run against the same sim upstream on loopback: direct to
// the node, through `jarvis serve`, and through Portkey's open-source gateway (installed from npm
// into a temp dir by this script, run --headless with a fallback config over the same targets).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Pool } from 'undici';
import { BIN, firstByte, fmt, load, percentile, printTable, startCluster, startReady, stopChild, tempDir } from './lib.js';

const PORTKEY_VERSION = '1.15.2';

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

async function waitPort(port, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((r) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}


export async function benchServe({ seconds = 3 } = {}) {
  const { dir, cleanup } = tempDir();
  const children = [];
  const cluster = await startCluster(dir, [{ id: 'fast', kind: 'openai', models: ['m.gguf'], priority: 2 }], 3000);
  try {
    const upstream = cluster.ready.nodes[0].url;
    const refused = `http://127.0.0.1:${await freePort()}`;
    const startServe = async (nodes, name, extraArgs = []) => {
      const cfg = path.join(dir, `${name}.yaml`);
      writeFileSync(cfg, `nodes:\n${nodes.map((n, i) => `  - { id: ${n.id}, kind: openai, url: "${n.url}", priority: ${i + 1} }`).join('\n')}\n`);
      const child = spawn(process.execPath, [BIN, 'serve', '--json', '--port', '0', '--health-interval', '600000', '--config', cfg, '--data-dir', path.join(dir, `data-${name}`), ...extraArgs], { stdio: ['ignore', 'pipe', 'ignore'] });
      children.push(child);
      return { child, url: (await startReady(child, { what: `jarvis serve (${name})`, event: 'listening' })).url };
    };
    const jarvis = await startServe([{ id: 'fast', url: upstream }], 'direct');
    // The same server on V8's defaults: what serve's memory flags cost in speed (src/serve/tuning.ts).
    const jarvisDefaults = await startServe([{ id: 'fast', url: upstream }], 'defaults', ['--v8-defaults']);
    const jarvisFailover = await startServe([{ id: 'primary', url: refused }, { id: 'fast', url: upstream }], 'failover');

    // Portkey, installed on demand into the temp dir.
    let portkey;
    const pkDir = path.join(dir, 'portkey');
    mkdirSync(pkDir);
    const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefix', pkDir, `@portkey-ai/gateway@${PORTKEY_VERSION}`], { encoding: 'utf8', timeout: 300_000 });
    const pkBin = path.join(pkDir, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js');
    if (install.status === 0 && existsSync(pkBin)) {
      const port = await freePort();
      const child = spawn(process.execPath, [pkBin, '--headless', `--port=${port}`], { stdio: 'ignore' });
      children.push(child);
      await waitPort(port);
      const config = JSON.stringify({ strategy: { mode: 'fallback' }, targets: [{ provider: 'openai', custom_host: `${upstream}/v1`, api_key: 'unused' }] });
      const failoverConfig = JSON.stringify({ strategy: { mode: 'fallback' }, targets: [{ provider: 'openai', custom_host: `${refused}/v1`, api_key: 'unused' }, { provider: 'openai', custom_host: `${upstream}/v1`, api_key: 'unused' }] });
      portkey = { origin: `http://127.0.0.1:${port}`, headers: { 'x-portkey-config': config }, failoverHeaders: { 'x-portkey-config': failoverConfig } };
    } else console.error(`portkey: could not install @portkey-ai/gateway@${PORTKEY_VERSION}: ${install.stderr?.slice(-300)}`);

    const body = JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'ping' }], max_tokens: 10 });
    const targets = [
      ['direct', upstream, '/v1/chat/completions', {}],
      ['jarvis serve', jarvis.url, '/v1/chat/completions', {}],
      ['jarvis serve --v8-defaults', jarvisDefaults.url, '/v1/chat/completions', {}],
      ...(portkey ? [['portkey gateway', portkey.origin, '/v1/chat/completions', portkey.headers]] : []),
    ];
    const rows = [];
    const results = {};
    // The paths take turns in short rounds, so that drift in what else the machine is doing
    // (it is shared, and three processes share its two cores) falls on all of them alike.
    const ROUNDS = 3;
    for (const c of [1, 16, 64]) {
      for (const [, origin, p, headers] of targets) await load(origin, p, headers, body, c, 0.5); // warm-up
      for (let round = 0; round < ROUNDS; round++) {
        for (const [name, origin, p, headers] of targets) {
          const r = await load(origin, p, headers, body, c, seconds / ROUNDS);
          const acc = (results[`${name}@${c}`] ??= { lat: [], errors: 0, rps: 0 });
          acc.lat.push(...r.lat);
          acc.errors += r.errors;
          acc.rps += r.rps / ROUNDS;
        }
      }
      for (const [name] of targets) {
        const r = results[`${name}@${c}`];
        rows.push([name, c, fmt(percentile(r.lat, 50)), fmt(percentile(r.lat, 99)), Math.round(r.rps), r.errors]);
      }
    }
    const ms2 = (x) => `${x.toFixed(2)} ms`;
    for (const r of rows) {
      const res = results[`${r[0]}@${r[1]}`];
      r[2] = ms2(percentile(res.lat, 50));
      r[3] = ms2(percentile(res.lat, 99));
    }
    printTable(`chat completions, same sim upstream on loopback (closed loop, ${seconds} s per cell, undici client)`, ['path', 'concurrency', 'p50', 'p99', 'req/s', 'errors'], rows);

    const p50 = (k) => percentile(results[k].lat, 50);
    const overhead = p50('jarvis serve@1') - p50('direct@1');
    const ratioDirect = results['jarvis serve@16'].rps / results['direct@16'].rps;
    const ratioPortkey = portkey ? results['jarvis serve@16'].rps / results['portkey gateway@16'].rps : undefined;

    // Failover: the primary refused and its breaker open (the first requests open it) against the
    // primary absent. Both on the same server, one request of each in turn, so that the process,
    // its warm-up and the machine's drift are the same for both: `auto` goes through the cascade
    // and skips the primary; `fast` names the node, whose route has no primary in it.
    await load(jarvisFailover.url, '/v1/chat/completions', {}, body, 16, seconds); // opens the breaker, warms up
    const fo = { lat: [] };
    const absent = { lat: [] };
    {
      const pool = new Pool(jarvisFailover.url, { connections: 1 });
      const direct = JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'ping' }], max_tokens: 10 });
      const end = performance.now() + seconds * 2000;
      while (performance.now() < end) {
        for (const [b, into] of [[body, fo], [direct, absent]]) {
          const t = performance.now();
          const r = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body: b });
          await r.body.text();
          if (r.statusCode === 200) into.lat.push(performance.now() - t);
        }
      }
      const check = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body });
      await check.body.text();
      fo.trace = check.headers['x-jarvis-attempts'];
      await pool.close();
    }
    const pkFo = portkey ? await load(portkey.origin, '/v1/chat/completions', portkey.failoverHeaders, body, 1, seconds) : undefined;
    const fbDirect = await firstByte(upstream, '/v1/chat/completions', {});
    const fbJarvis = await firstByte(jarvis.url, '/v1/chat/completions', {});

    printTable('targets (ratios from this run)', ['measure', 'value', 'target'], [
      ['p50 overhead over direct, concurrency 1', ms2(overhead), `< 0.5 ms: ${overhead < 0.5 ? 'met' : 'MISSED'}`],
      ['throughput at 16, jarvis / direct', `${(ratioDirect * 100).toFixed(1)} %`, `>= 30 %: ${ratioDirect >= 0.3 ? 'met' : 'MISSED'}`],
      ['throughput at 16, jarvis / jarvis --v8-defaults (the memory flags\' cost)', `${((results['jarvis serve@16'].rps / results['jarvis serve --v8-defaults@16'].rps) * 100).toFixed(1)} %`, ''],
      ['throughput at 16, jarvis / portkey', ratioPortkey === undefined ? 'n/a (portkey not installed)' : `${ratioPortkey.toFixed(1)}x`, ratioPortkey === undefined ? '' : `>= 5x: ${ratioPortkey >= 5 ? 'met' : 'MISSED'}`],
      [`primary refused, breaker open (${fo.trace}): p50 vs primary absent`, `${ms2(percentile(fo.lat, 50))} vs ${ms2(percentile(absent.lat, 50))}`, `no slower (within 0.02 ms): ${percentile(fo.lat, 50) <= percentile(absent.lat, 50) + 0.02 ? 'met' : 'MISSED'}`],
      ['portkey, primary refused (fallback): p50', pkFo ? ms2(percentile(pkFo.lat, 50)) : 'n/a', ''],
      ['stream first byte p50: direct / jarvis', `${ms2(percentile(fbDirect, 50))} / ${ms2(percentile(fbJarvis, 50))}`, ''],
    ]);

    // Memory at 1000 concurrent streams: a slow-streaming upstream keeps them all open at once.
    // Peak = the kernel's high-water mark of the process (VmHWM), which no sampling interval misses.
    // Cold: a fresh server, its start-up and first burst included. After load: the same after 2 s
    // of plain requests at full speed, the high-water mark reset (clear_refs) before the streams:
    // V8 keeps the heap it grew under load. Serve's own V8 settings (src/serve/tuning.ts) against
    // V8's defaults (--v8-defaults): on defaults V8 recompiles undici's WebAssembly HTTP parser
    // with TurboFan once it is hot and lets the young generation grow to 32 MB.
    const slow = await startCluster(dir, [{ id: 'slow', kind: 'openai', models: ['m.gguf'], tokenDelayMs: 200 }], 3000);
    const memRows = [];
    try {
      for (const [label, args, warm] of [
        ['jarvis serve, cold', [], false],
        ['jarvis serve, after load', [], true],
        ['jarvis serve --v8-defaults, cold', ['--v8-defaults'], false],
        ['jarvis serve --v8-defaults, after load', ['--v8-defaults'], true],
      ]) {
        const srv = await startServe([{ id: 'slow', url: slow.ready.nodes[0].url }, { id: 'fast', url: upstream }], `streams-${memRows.length}`, args);
        const status = () => readFileSync(`/proc/${srv.child.pid}/status`, 'utf8');
        const bytesOf = (field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status())?.[1] ?? NaN) * 1024;
        if (warm) {
          const warmBody = JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'ping' }], max_tokens: 10 });
          await load(srv.url, '/v1/chat/completions', {}, warmBody, 16, 2);
        }
        await new Promise((r) => setTimeout(r, 1000));
        const idle = bytesOf('VmRSS');
        if (warm) writeFileSync(`/proc/${srv.child.pid}/clear_refs`, '5');
        const pool = new Pool(srv.url, { connections: 1000 });
        const streamBody = JSON.stringify({ model: 'slow', stream: true, messages: [{ role: 'user', content: 'one two three four five six seven eight' }] });
        let done = 0;
        const started = performance.now();
        await Promise.all(
          Array.from({ length: 1000 }, async () => {
            const r = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body: streamBody });
            await r.body.text();
            if (r.statusCode === 200) done++;
          }),
        );
        const wall = performance.now() - started;
        const peak = bytesOf('VmHWM');
        await pool.close();
        memRows.push([label, done, fmt(wall), `${Math.round(idle / 1e6)} MB`, `${Math.round(peak / 1e6)} MB`, `< 100 MB: ${peak < 100e6 ? 'met' : 'MISSED'}`]);
      }
      printTable('1000 concurrent streams through jarvis serve (upstream streams a token every 200 ms, 128 connections to it)', ['server', 'completed', 'wall', 'RSS before', 'peak RSS', 'target'], memRows);
    } finally {
      await slow.stop();
    }
  } finally {
    for (const c of children) await stopChild(c);
    await cluster.stop();
    cleanup();
  }
}

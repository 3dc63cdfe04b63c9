// `jarvis serve` side by side with what it is measured against, in one run, same sim upstream on
// loopback: direct to the node, a bare Node proxy (bench/bare-proxy.js: node:http in, an undici
// Pool out, nothing else), jarvis serve on V8's defaults and with --low-memory, and Portkey's
// open-source gateway (installed from npm into a temp dir, run --headless with a fallback config
// over the same targets). Load from wrk where installed, else autocannon (bench/loadgen.js). Besides
// the one-line request, a 23 KB conversation at 16: what an agent sends with every request.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { BIN, firstByte, fmt, load, median, percentile, printTable, ROOT, startCluster, startReady, stopChild, tempDir } from './lib.js';
import { LOADGEN, loadgen } from './loadgen.js';
import { benchHung } from './hung.js';

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

const ms2 = (x) => `${x.toFixed(2)} ms`;
const pct = (x) => `${(x * 100).toFixed(1)} %`;
const met = (ok) => (ok ? 'met' : 'MISSED');

/** A process's CPU time (user + system) in ms, from /proc; undefined where there is none. */
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
function cpuMs(pid) {
  if (!pid || !existsSync(`/proc/${pid}/stat`)) return undefined;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/** A load run, with the proxy's CPU µs per request during it (steadier than req/s on a shared machine). */
async function measured(pid, run) {
  const before = cpuMs(pid);
  const r = await run();
  const after = cpuMs(pid);
  return { ...r, cpuUs: before === undefined || after === undefined ? undefined : ((after - before) * 1000) / r.requests };
}

function measureInto(results, key, r) {
  const acc = (results[key] ??= { p50: [], p99: [], rps: [], cpu: [], errors: 0 });
  acc.p50.push(r.p50);
  acc.p99.push(r.p99);
  acc.rps.push(r.rps);
  if (r.cpuUs !== undefined) acc.cpu.push(r.cpuUs);
  acc.errors += r.errors;
}

const cpuCell = (r) => (r.cpu.length ? `${median(r.cpu).toFixed(0)} µs` : '');

/** The bare proxy as a child; resolves with its URL. */
async function startBare(upstream, children, nodeArgs = [], env = process.env, connections = 128) {
  const child = spawn(process.execPath, [...nodeArgs, path.join(ROOT, 'bench', 'bare-proxy.js'), upstream, String(connections)], { stdio: ['ignore', 'pipe', 'inherit'], env });
  children.push(child);
  return (await startReady(child, { what: 'the bare proxy', event: 'listening' })).url;
}

export async function benchServe({ seconds = 2 } = {}) {
  const { dir, cleanup } = tempDir();
  const children = [];
  const cluster = await startCluster(dir, [{ id: 'fast', kind: 'openai', models: ['m.gguf'], priority: 2 }], 3000);
  try {
    const upstream = cluster.ready.nodes[0].url;
    const refused = `http://127.0.0.1:${await freePort()}`;
    const startServe = async (nodes, name, extraArgs = [], nodeArgs = [], env = process.env, connections = 128) => {
      const cfg = path.join(dir, `${name}.yaml`);
      writeFileSync(cfg, `nodes:\n${nodes.map((n, i) => `  - { id: ${n.id}, kind: openai, url: "${n.url}", priority: ${i + 1} }`).join('\n')}\nserve: { upstreamConnections: ${connections} }\n`);
      const child = spawn(process.execPath, [...nodeArgs, BIN, 'serve', '--json', '--port', '0', '--health-interval', '600000', '--config', cfg, '--data-dir', path.join(dir, `data-${name}`), ...extraArgs], { stdio: ['ignore', 'pipe', 'ignore'], env });
      children.push(child);
      return { child, url: (await startReady(child, { what: `jarvis serve (${name})`, event: 'listening' })).url };
    };
    const jarvis = await startServe([{ id: 'fast', url: upstream }], 'direct');
    // The same server with --low-memory: what its V8 flags cost in speed (src/serve/tuning.ts).
    const jarvisLow = await startServe([{ id: 'fast', url: upstream }], 'low-memory', ['--low-memory']);
    const jarvisFailover = await startServe([{ id: 'primary', url: refused }, { id: 'fast', url: upstream }], 'failover');
    const bare = await startBare(upstream, children);
    const barePid = children.at(-1).pid;

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
      portkey = { pid: child.pid, origin: `http://127.0.0.1:${port}`, headers: { 'x-portkey-config': config }, failoverHeaders: { 'x-portkey-config': failoverConfig } };
    } else console.error(`portkey: could not install @portkey-ai/gateway@${PORTKEY_VERSION}: ${install.stderr?.slice(-300)}`);

    const body = JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'ping' }], max_tokens: 10 });
    // [name, origin, headers, pid of the proxy: its CPU time per request is read from /proc].
    const targets = [
      ['direct', upstream, {}],
      ['bare proxy (node:http + undici Pool)', bare, {}, barePid],
      ['jarvis serve', jarvis.url, {}, jarvis.child.pid],
      ['jarvis serve --low-memory', jarvisLow.url, {}, jarvisLow.child.pid],
      ...(portkey ? [['portkey gateway', portkey.origin, portkey.headers, portkey.pid]] : []),
    ];
    const rows = [];
    const results = {};
    // The paths take turns in rounds, so that drift in what else the machine is doing (it is
    // shared, and the generator, the proxy and the node share its two cores) falls on all alike.
    // Five: with three, the ratios below moved by 5 points from one run to the next on this machine.
    const ROUNDS = 5;
    for (const c of [1, 16, 64]) {
      for (const [, origin, headers] of targets) await loadgen({ origin, pathName: '/v1/chat/completions', headers, body, connections: c, seconds: 1 }); // warm-up
      for (let round = 0; round < ROUNDS; round++) {
        for (const [name, origin, headers, pid] of round % 2 ? [...targets].reverse() : targets) measureInto(results, `${name}@${c}`, await measured(pid, () => loadgen({ origin, pathName: '/v1/chat/completions', headers, body, connections: c, seconds })));
      }
      for (const [name] of targets) {
        const r = results[`${name}@${c}`];
        r.p50m = median(r.p50);
        r.rpsm = r.rps.reduce((a, b) => a + b, 0) / r.rps.length;
        rows.push([name, c, ms2(r.p50m), ms2(median(r.p99)), Math.round(r.rpsm), cpuCell(r), r.errors]);
      }
    }
    // What an agent sends: its whole conversation (40 messages, 23 KB) with every request.
    const conversation = JSON.stringify({ model: 'auto', max_tokens: 10, messages: Array.from({ length: 40 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `${'lorem ipsum dolor sit amet '.repeat(20)}${i}` })) });
    const bodyTargets = targets.filter(([name]) => name === 'direct' || name.startsWith('bare') || name === 'jarvis serve');
    for (const [, origin, headers] of bodyTargets) await loadgen({ origin, pathName: '/v1/chat/completions', headers, body: conversation, connections: 16, seconds: 1 });
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, origin, headers, pid] of round % 2 ? [...bodyTargets].reverse() : bodyTargets) measureInto(results, `${name}@16/23KB`, await measured(pid, () => loadgen({ origin, pathName: '/v1/chat/completions', headers, body: conversation, connections: 16, seconds })));
    }
    for (const [name] of bodyTargets) {
      const r = results[`${name}@16/23KB`];
      r.rpsm = r.rps.reduce((a, b) => a + b, 0) / r.rps.length;
      rows.push([`${name}, 23 KB conversation`, 16, ms2(median(r.p50)), ms2(median(r.p99)), Math.round(r.rpsm), cpuCell(r), r.errors]);
    }
    printTable(`chat completions, same sim upstream on loopback (${LOADGEN}; ${ROUNDS} rounds of ${seconds} s per cell, paths in turns; p50/p99: median of the rounds)`, ['path', 'concurrency', 'p50', 'p99', 'req/s', 'CPU/req', 'errors'], rows);

    const at = (name, c) => results[`${name}@${c}`];
    const J = 'jarvis serve';
    const B = 'bare proxy (node:http + undici Pool)';
    const addedJ = at(J, 1).p50m - at('direct', 1).p50m;
    const addedB = at(B, 1).p50m - at('direct', 1).p50m;
    // Each round measures jarvis and the bare proxy one after the other (in turns), so the two
    // readings of a round share what else the machine was doing then. The ratio is the median of
    // the rounds' ratios: one round that a neighbour's burst fell on (on one of the two, not both)
    // no longer moves it, as it moves the ratio of the means (shown beside it).
    const ratio = (c) => median(at(J, c).rps.map((x, i) => x / at(B, c).rps[i]));
    const ratioOfMeans = (c) => at(J, c).rpsm / at(B, c).rpsm;
    const ratioCell = (c) => `${pct(ratio(c))} (means: ${pct(ratioOfMeans(c))}; rounds: ${at(J, c).rps.map((x, i) => ((100 * x) / at(B, c).rps[i]).toFixed(0)).join(' ')})`;
    const lowCost = (c) => at('jarvis serve --low-memory', c).rpsm / at(J, c).rpsm;
    const ratioPortkey = portkey ? at(J, 16).rpsm / at('portkey gateway', 16).rpsm : undefined;

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
    const fbBare = await firstByte(bare, '/v1/chat/completions', {});
    const fbJarvis = await firstByte(jarvis.url, '/v1/chat/completions', {});

    printTable('targets (ratios from this run, default settings)', ['measure', 'value', 'target'], [
      ['throughput at 16, jarvis / bare proxy (median of rounds)', ratioCell(16), `>= 80 %: ${met(ratio(16) >= 0.8)}`],
      ['throughput at 64, jarvis / bare proxy (median of rounds)', ratioCell(64), `>= 80 %: ${met(ratio(64) >= 0.8)}`],
      ['throughput at 16 with a 23 KB conversation, jarvis / bare proxy', ratioCell('16/23KB'), `>= 80 %: ${met(ratio('16/23KB') >= 0.8)}`],
      ...(at(J, 16).cpu.length ? [['CPU per request at 16 (median): bare proxy / jarvis', `${median(at(B, 16).cpu).toFixed(0)} / ${median(at(J, 16).cpu).toFixed(0)} µs = ${pct(median(at(B, 16).cpu) / median(at(J, 16).cpu))}`, 'steadier than req/s here']] : []),
      ['p50 added over direct at 1: jarvis / bare proxy', `${ms2(addedJ)} / ${ms2(addedB)}`, `within 0.05 ms: ${met(addedJ <= addedB + 0.05)}`],
      [`primary refused, breaker open (${fo.trace}): p50 vs primary absent`, `${ms2(percentile(fo.lat, 50))} vs ${ms2(percentile(absent.lat, 50))}`, `within 0.02 ms: ${met(percentile(fo.lat, 50) <= percentile(absent.lat, 50) + 0.02)}`],
      ['throughput at 16, jarvis / portkey', ratioPortkey === undefined ? 'n/a (portkey not installed)' : `${ratioPortkey.toFixed(1)}x`, ratioPortkey === undefined ? '' : `>= 5x: ${met(ratioPortkey >= 5)}`],
      ['--low-memory\'s throughput / the default\'s, at 16 and 64', `${pct(lowCost(16))} / ${pct(lowCost(64))}`, ''],
      ['portkey, primary refused (fallback): p50', pkFo ? ms2(percentile(pkFo.lat, 50)) : 'n/a', ''],
      ['stream first byte p50: direct / bare proxy / jarvis', `${[fbDirect, fbBare, fbJarvis].map((x) => percentile(x, 50).toFixed(2)).join(' / ')} ms`, ''],
    ]);

    // Memory per open stream: 1000 streams at once through a slow-streaming upstream, twice: with
    // 128 connections to it (jarvis's default `serve.upstreamConnections`: 128 streams open to the
    // node, the others waiting in the proxy's pool) and with 1000 (every stream open from the
    // client through the proxy to the node: what "1000 open streams" costs). Two readings per server:
    // - peak RSS: the kernel's high-water mark (VmHWM, reset with clear_refs after the idle
    //   reading), which no sampling interval misses. It counts V8's young generation, which grows
    //   to tens of MB under any allocation rate, garbage included.
    // - kept: what the process holds alive with every stream open, after two full GCs (heap used,
    //   external and array buffers; bench/heap-hook.js, on SIGUSR2), above the same after idle.
    // Cold: a fresh process. After load: the same after 2 s of requests at full speed (V8 keeps
    // what it grew). The bare proxy is the reference for what node:http and undici cost.
    const slow = await startCluster(dir, [{ id: 'slow', kind: 'openai', models: ['m.gguf'], tokenDelayMs: 200 }], 3000);
    const memRows = [];
    const perStreamKB = {};
    try {
      const slowUrl = slow.ready.nodes[0].url;
      const heapFile = path.join(dir, 'heap.json');
      const hook = ['--expose-gc', '--import', pathToFileURL(path.join(ROOT, 'bench', 'heap-hook.js')).href];
      const env = { ...process.env, JARVIS_BENCH_HEAP: heapFile };
      const nodes = [{ id: 'slow', url: slowUrl }, { id: 'fast', url: upstream }];
      const bareWith = (connections) => async () => ({ url: await startBare(slowUrl, children, hook, env, connections), child: children.at(-1) });
      const servers = [];
      for (const connections of [128, 1000]) {
        servers.push(
          [`bare proxy, cold`, bareWith(connections), false, connections],
          [`bare proxy, after load`, bareWith(connections), true, connections],
          [`jarvis serve, cold`, () => startServe(nodes, `streams-cold-${connections}`, [], hook, env, connections), false, connections],
          [`jarvis serve, after load`, () => startServe(nodes, `streams-warm-${connections}`, [], hook, env, connections), true, connections],
          [`jarvis serve --low-memory, cold`, () => startServe(nodes, `streams-low-cold-${connections}`, ['--low-memory'], hook, env, connections), false, connections],
          [`jarvis serve --low-memory, after load`, () => startServe(nodes, `streams-low-warm-${connections}`, ['--low-memory'], hook, env, connections), true, connections],
        );
      }
      // What an agent streams: its whole conversation (the 23 KB above) with each request.
      servers.push([`bare proxy, cold, 23 KB conversation`, bareWith(1000), false, 1000, true], [`jarvis serve, cold, 23 KB conversation`, () => startServe(nodes, 'streams-conversation', [], hook, env, 1000), false, 1000, true]);
      for (const [label, start, warm, connections, long] of servers) {
        const srv = await start();
        const status = () => readFileSync(`/proc/${srv.child.pid}/status`, 'utf8');
        const bytesOf = (field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status())?.[1] ?? NaN) * 1024;
        const kept = async () => {
          rmSync(heapFile, { force: true });
          srv.child.kill('SIGUSR2');
          for (let i = 0; i < 100 && !existsSync(heapFile); i++) await new Promise((r) => setTimeout(r, 50));
          const m = JSON.parse(readFileSync(heapFile, 'utf8'));
          return m.heapUsed + m.external;
        };
        if (warm) {
          // Whole answers come at once even from the slow node (it delays streamed tokens only),
          // which is where the bare proxy sends them.
          const warmBody = JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'ping' }], max_tokens: 10 });
          await load(srv.url, '/v1/chat/completions', {}, warmBody, 16, 2);
        }
        await new Promise((r) => setTimeout(r, 1000));
        const keptIdle = await kept();
        const idle = bytesOf('VmRSS');
        writeFileSync(`/proc/${srv.child.pid}/clear_refs`, '5');
        const pool = new Pool(srv.url, { connections: 1000 });
        // 16 words, a token each 200 ms: each stream lasts about 3.4 s, time for all 1000 to open.
        const streamBody = long
          ? JSON.stringify({ ...JSON.parse(conversation), model: 'slow', stream: true, max_tokens: 16 })
          : JSON.stringify({ model: 'slow', stream: true, messages: [{ role: 'user', content: 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen' }] });
        let done = 0;
        let heads = 0;
        const started = performance.now();
        const all = Promise.all(
          Array.from({ length: 1000 }, async () => {
            const r = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body: streamBody });
            heads++;
            await r.body.text();
            if (r.statusCode === 200) done++;
          }),
        );
        // Every request sent and as many streaming as there are connections to the node: the kept
        // reading then (a GC pauses the process for a few ms; the streams go on after it).
        while (heads < connections && performance.now() - started < 10_000) await new Promise((r) => setTimeout(r, 20));
        const open = heads;
        await new Promise((r) => setTimeout(r, 300));
        const keptOpen = await kept();
        await all;
        const wall = performance.now() - started;
        const peak = bytesOf('VmHWM');
        await pool.close();
        const perStream = (peak - idle) / 1000;
        const keptPerStream = (keptOpen - keptIdle) / 1000;
        if (!long) perStreamKB[`${label}@${connections}`] = { kept: keptPerStream / 1024, peak: perStream / 1024 };
        memRows.push([
          label,
          connections,
          open,
          done,
          fmt(wall),
          `${Math.round(idle / 1e6)} MB`,
          `${Math.round(peak / 1e6)} MB`,
          `${(perStream / 1024).toFixed(1)} KB`,
          `${(keptPerStream / 1024).toFixed(1)} KB`,
        ]);
      }
      printTable('1000 concurrent streams (upstream streams a token every 200 ms; 128 or 1000 connections to it)', ['server', 'connections', 'streaming at the kept reading', 'completed', 'wall', 'RSS idle', 'peak RSS', 'per stream: peak RSS', 'kept after GC'], memRows);
      // The target: 1000 concurrent streams on default settings, where the node gets at most
      // serve.upstreamConnections (128) of them at once and the others wait in the proxy, as they
      // would in the node's own queue (a local server runs a few at a time). With every stream open
      // end to end (1000 connections, not the default), node:http and undici keep more than 15 KB
      // per stream on their own: that row says how far jarvis is from the bare proxy there.
      const kb = (label, connections, what = 'kept') => perStreamKB[`${label}@${connections}`][what];
      const pair = (label, connections, what) => `${kb(`${label}, cold`, connections, what).toFixed(1)} / ${kb(`${label}, after load`, connections, what).toFixed(1)} KB`;
      const jarvisKept = Math.max(kb('jarvis serve, cold', 128), kb('jarvis serve, after load', 128));
      const overBare = Math.max(kb('jarvis serve, cold', 1000) - kb('bare proxy, cold', 1000), kb('jarvis serve, after load', 1000) - kb('bare proxy, after load', 1000));
      printTable('memory per stream (kept after GC, above idle; cold / after load)', ['measure', 'jarvis serve', 'bare proxy', 'target'], [
        ['1000 concurrent streams, default settings (128 connections to the node)', pair('jarvis serve', 128), pair('bare proxy', 128), `< 15 KB: ${met(jarvisKept < 15)}`],
        ['every stream open end to end (serve.upstreamConnections: 1000)', pair('jarvis serve', 1000), pair('bare proxy', 1000), `< 15 KB: ${met(Math.max(kb('jarvis serve, cold', 1000), kb('jarvis serve, after load', 1000)) < 15)}; over the bare proxy: ${overBare.toFixed(1)} KB`],
        ['peak RSS per stream, default settings (mostly V8\'s young generation)', pair('jarvis serve', 128, 'peak'), pair('bare proxy', 128, 'peak'), ''],
      ]);
    } finally {
      await slow.stop();
    }
  } finally {
    for (const c of children) await stopChild(c);
    await cluster.stop();
    cleanup();
  }
  await benchHung();
}

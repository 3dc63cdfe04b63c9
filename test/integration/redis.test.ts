/**
 * Several proxies, one truth: two `jarvis serve` processes (separate data dirs, so only Redis
 * joins them) on a real Redis (Debian's redis-server, started here on a free loopback port with
 * a temp dir; .ci/run installs it). Skipped, with the reason printed, where it is not installed.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, freePort, jarvis, startServe, startSim, tempDir, type RunningServe, type RunningSim } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';
import { hasRedis, TestRedis } from '../helpers/redis.js';
import { parseConfig } from '../../src/config/load.js';
import { sharedState } from '../../src/store/shared-state.js';
import { healthFold, type HealthEvent } from '../../src/cascade/node-health.js';

if (!hasRedis) console.warn('[skip] redis tests: redis-server not installed (apt-get install redis-server)');

let tmp: ReturnType<typeof tempDir>;
let redis: TestRedis;
let sim: RunningSim;

beforeAll(async () => {
  if (!hasRedis) return;
  tmp = tempDir('jarvis-redis-');
  redis = new TestRedis(tmp.dir);
  await redis.start();
  const spec = path.join(tmp.dir, 'spec.json');
  writeFileSync(spec, JSON.stringify({ nodes: [{ id: 'fast', kind: 'openai', models: ['m'] }] }));
  sim = await startSim(['cluster', '--spec', spec]);
});

afterAll(async () => {
  await sim?.stop();
  await redis?.stop();
  tmp?.cleanup();
});

const ask = async (base: string, model = 'auto') => {
  const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) });
  await res.text();
  return { status: res.status, attempts: res.headers.get('x-jarvis-attempts') ?? '', node: res.headers.get('x-jarvis-node') };
};

describe.skipIf(!hasRedis)('shared state in Redis', () => {
  it("failures through one proxy open the breaker for the other within a second or two; Redis gone: both keep answering, degraded, and merge back", async () => {
    const refused = `http://127.0.0.1:${await freePort()}`;
    const cfg = path.join(tmp.dir, 'two.yaml');
    writeFileSync(cfg, `nodes:\n  - { id: primary, kind: openai, url: "${refused}", priority: 1, timeoutMs: 5000 }\n  - { id: fast, kind: openai, url: "${sim.ready.nodes[0]!.url}", priority: 2 }\nstate: { backend: redis, url: "${redis.url}", keyPrefix: "t1:" }\n`);
    const env = cleanEnv(tmp.dir);
    const serves: RunningServe[] = [];
    try {
      for (const name of ['a', 'b']) serves.push(await startServe({ config: cfg, dataDir: path.join(tmp.dir, `data-${name}`), env, args: ['--health-interval', '600000'] }));
      const [a, b] = serves as [RunningServe, RunningServe];
      // Three refused attempts through a open primary's breaker (threshold 3). Asked by name: first
      // whatever each proxy's own health check has seen of it (its first round may already have
      // put a refused node last for \`auto\` on a busy machine).
      for (let i = 0; i < 3; i++) expect((await ask(a.url, 'primary')).attempts).toMatch(/^primary=refused,fast=ok$/);
      const opened = Date.now();
      let seenAfter = -1;
      await waitFor(async () => {
        const r = await ask(b.url, 'primary');
        if (r.attempts.startsWith('primary=circuit_open')) seenAfter = Date.now() - opened;
        return seenAfter >= 0;
      }, { what: 'b skipping the breaker a opened', timeoutMs: 30_000, intervalMs: 100 });
      // A sync is a second; within a few of them even on a busy machine (how soon is bench's to time).
      expect(seenAfter).toBeLessThan(10_000);
      // Each instance's heartbeat comes with its sync: both seen within a sync or two.
      const state = async () => ((await (await fetch(`${b.url}/api/status`)).json()) as { state: { backend: string; instances: number; available: boolean } }).state;
      await waitFor(async () => (await state()).instances === 2, { what: 'two instances seen', timeoutMs: 30_000 });
      expect(await state()).toMatchObject({ backend: 'redis', available: true, instances: 2 });

      await redis.stop();
      for (const s of serves) expect((await ask(s.url)).status).toBe(200);
      type Health = { status: string; reason?: string; state: { available: boolean } };
      const health = async () => (await (await fetch(`${a.url}/health`)).json()) as Health;
      await waitFor(async () => !(await health()).state.available, { what: 'a degraded', timeoutMs: 30_000 });
      // Degraded, still answering (the primary's open breaker is one reason, the state the other).
      expect((await health()).status).toBe('degraded');
      expect(a.log()).toMatch(/state: shared state \(redis:\/\/127\.0\.0\.1:\d+\/0\) unavailable/);
      expect(await (await fetch(`${a.url}/metrics`)).text()).toMatch(/^jarvis_shared_state_up 0$/m);
      await redis.start(); // empty: what each instance queued meanwhile is merged back
      await waitFor(async () => (await health()).state.available, { what: 'a back to ok', timeoutMs: 30_000 });
      expect(a.log()).toMatch(/state: shared state .* is back; \d+ queued outcome\(s\) merged/);
    } finally {
      for (const s of serves) await s.stop();
    }
  });

  it('started with Redis configured and unreachable: it starts, answers, and says it is degraded', async () => {
    const cfg = path.join(tmp.dir, 'away.yaml');
    writeFileSync(cfg, `nodes:\n  - { id: fast, kind: openai, url: "${sim.ready.nodes[0]!.url}" }\nstate: { backend: redis, url: "redis://127.0.0.1:${await freePort()}/0" }\n`);
    const s = await startServe({ config: cfg, dataDir: path.join(tmp.dir, 'data-away'), env: cleanEnv(tmp.dir), args: ['--health-interval', '600000'] });
    try {
      expect((await ask(s.url)).status).toBe(200);
      const health = (await (await fetch(`${s.url}/health`)).json()) as { status: string; reason: string };
      expect(health).toMatchObject({ status: 'degraded', reason: expect.stringMatching(/^shared state unavailable: /) as string });
    } finally {
      await s.stop();
    }
  });

  it("requests in flight through one proxy count in the other's least-busy balancing", async () => {
    const spec = path.join(tmp.dir, 'load-spec.json');
    writeFileSync(spec, JSON.stringify({ nodes: [{ id: 'slow', kind: 'openai', models: ['m'], fault: 'slow:8000' }, { id: 'quick', kind: 'openai', models: ['m'] }] }));
    const pair = await startSim(['cluster', '--spec', spec]);
    const cfg = path.join(tmp.dir, 'load.yaml');
    writeFileSync(cfg, `nodes:\n${pair.ready.nodes.map((n) => `  - { id: ${n.id}, kind: openai, url: "${n.url}", model: m, timeoutMs: 10000 }`).join('\n')}\nrouting: { strategy: least-busy }\nstate: { backend: redis, url: "${redis.url}", keyPrefix: "t5:" }\n`);
    const env = cleanEnv(tmp.dir);
    const serves: RunningServe[] = [];
    try {
      for (const name of ['a', 'b']) serves.push(await startServe({ config: cfg, dataDir: path.join(tmp.dir, `load-${name}`), env, args: ['--health-interval', '600000'] }));
      const [a, b] = serves as [RunningServe, RunningServe];
      // Three requests held by the slow node through a.
      const held = Array.from({ length: 3 }, () => fetch(`${a.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'slow', messages: [{ role: 'user', content: 'hi' }] }) }).then((r) => r.text()));
      const inFlightOnB = async () => ((await (await fetch(`${b.url}/api/status`)).json()) as { nodes: Record<string, { in_flight: number }> }).nodes.slow!.in_flight;
      await waitFor(async () => (await inFlightOnB()) === 3, { what: "a's three requests seen in flight by b", timeoutMs: 30_000 });
      // b has nothing in flight itself, yet sends its request for m to the idle node.
      expect((await ask(b.url)).node).toBe('quick');
      await Promise.all(held);
    } finally {
      for (const s of serves) await s.stop();
      await pair.stop();
    }
  });

  it('eight jarvis ask processes recording failures at once: none is lost', async () => {
    const refused = `http://127.0.0.1:${await freePort()}`;
    const cfg = path.join(tmp.dir, 'eight.yaml');
    writeFileSync(cfg, `nodes:\n  - { id: primary, kind: openai, url: "${refused}", priority: 1, timeoutMs: 5000 }\n  - { id: fast, kind: openai, url: "${sim.ready.nodes[0]!.url}", priority: 2 }\nstate: { backend: redis, url: "${redis.url}", keyPrefix: "t2:" }\ncascade: { failureThreshold: 100 }\n`);
    const env = cleanEnv(tmp.dir);
    const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => jarvis(['ask', `q${i}`, '--config', cfg, '--data-dir', path.join(tmp.dir, `ask-${i}`)], { env })));
    expect(runs.map((r) => r.code)).toEqual(Array(8).fill(0));
    const h = await jarvis(['health', '--json', '--config', cfg, '--data-dir', path.join(tmp.dir, 'ask-x')], { env });
    const health = JSON.parse(h.stdout) as Record<string, { total_requests: number; consecutive_failures: number }>;
    expect(health.primary!.total_requests).toBe(8);
    expect(health.fast!.total_requests).toBe(8);
    const reset = await jarvis(['reset', 'primary', '--json', '--config', cfg, '--data-dir', path.join(tmp.dir, 'ask-x')], { env });
    expect(reset.code).toBe(0);
    const after = JSON.parse((await jarvis(['health', '--json', '--config', cfg, '--data-dir', path.join(tmp.dir, 'ask-x')], { env })).stdout) as Record<string, { total_requests: number }>;
    expect(after.primary!.total_requests).toBe(0);
  });

  it('a dead node with --auto-recover on both proxies is restarted exactly once (the lease)', async () => {
    const port = await freePort();
    const count = path.join(tmp.dir, 'spawns.txt');
    const restart = ['sh', '-c', `echo spawn >> ${count}; exec ${process.execPath} ${BIN} sim node --kind openai --id dead --port ${port} --model m`];
    const cfg = path.join(tmp.dir, 'heal.yaml');
    writeFileSync(cfg, `nodes:\n  - { id: dead, kind: openai, url: "http://127.0.0.1:${port}", priority: 1, timeoutMs: 500, restart: ${JSON.stringify(restart)} }\n  - { id: fast, kind: openai, url: "${sim.ready.nodes[0]!.url}", priority: 2 }\nstate: { backend: redis, url: "${redis.url}", keyPrefix: "t3:" }\ncascade: { initialBackoffMs: 50 }\n`);
    const env = cleanEnv(tmp.dir);
    const serves: RunningServe[] = [];
    const pids: number[] = [];
    try {
      for (const name of ['a', 'b']) serves.push(await startServe({ config: cfg, dataDir: path.join(tmp.dir, `heal-${name}`), env, args: ['--auto-recover', '--health-interval', '300'] }));
      // Asked by name: with `auto`, a first health check that finds it down first puts it last
      // in the order, and the failures that open its breaker (what the healer acts on) never come.
      for (let i = 0; i < 3; i++) await ask(serves[0]!.url, 'dead');
      await waitFor(() => serves.some((s) => /heal: dead recovered, back in service/.test(s.log())), { what: 'one proxy recovered dead', timeoutMs: 20_000 });
      // Both had the chance: let a few more health checks pass.
      await new Promise((r) => setTimeout(r, 1500));
      expect(readFileSync(count, 'utf8').trim().split('\n')).toEqual(['spawn']);
      for (const name of ['a', 'b']) {
        const f = path.join(tmp.dir, `heal-${name}`, 'incidents.json');
        if (existsSync(f)) for (const i of (JSON.parse(readFileSync(f, 'utf8')) as { incidents: { steps?: { pid?: number }[] }[] }).incidents) for (const s of i.steps ?? []) if (s.pid) pids.push(s.pid);
      }
      expect((await ask(serves[1]!.url)).node).toBe('dead');
    } finally {
      for (const s of serves) await s.stop();
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // gone
        }
      }
    }
  });

  it.each(['file', 'redis'] as const)("a reset is stamped (%s): a failure from before it, synced by an instance after it, does not bring the state back", async (backend) => {
    const yaml = `nodes:\n  - { id: primary, kind: openai, url: "http://127.0.0.1:9" }\n${backend === 'redis' ? `state: { backend: redis, url: "${redis.url}", keyPrefix: "t6:" }\n` : ''}`;
    const config = await parseConfig(yaml, 'reset.yaml');
    const shared = await sharedState(config, path.join(tmp.dir, `reset-${backend}`), {});
    const breaker = { failureThreshold: 1, recoveryMs: 60_000, maxRecoveryMs: 60_000 };
    const failed = (at: number): HealthEvent => ({ node: 'primary', at, ok: false, counts: true, error: 'refused' });
    try {
      expect(shared.backend).toBe(backend);
      await shared.exchange([failed(1000)], {}, healthFold(breaker));
      expect((await shared.load()).nodes.primary?.breaker.phase).toBe('open');
      expect(await shared.reset('primary', 2000)).toBe(true);
      // Queued at 1500 by a proxy that syncs only now: dropped.
      await shared.exchange([failed(1500)], {}, healthFold(breaker));
      expect((await shared.load()).nodes.primary).toBeUndefined();
      expect(await shared.reset('primary', 2500)).toBe(false);
      // After the reset: counted.
      await shared.exchange([failed(3000)], {}, healthFold(breaker));
      expect((await shared.load()).nodes.primary).toMatchObject({ failures: 1, breaker: { phase: 'open' } });
    } finally {
      await shared.close();
    }
  });

  it('the probe history is shared: status runs from three data dirs, across midnight and folded by two reports at once, read back as one; Redis away: kept in the data dir', async () => {
    const cfg = path.join(tmp.dir, 'history.yaml');
    writeFileSync(cfg, `nodes:\n  - { id: fast, kind: openai, url: "${sim.ready.nodes[0]!.url}", timeoutMs: 1000 }\ncheck: { upAfter: 2, confirmProbes: 1, confirmDelayMs: 0 }\nstate: { backend: redis, url: "${redis.url}", keyPrefix: "t7:" }\n`);
    const t0 = Date.parse('2026-11-30T23:58:00Z');
    const at = (m: number) => cleanEnv(tmp.dir, { JARVIS_NOW: new Date(t0 + m * 60_000).toISOString() });
    const status = (m: number, dir: string) => jarvis(['status', '--json', '--config', cfg, '--data-dir', path.join(tmp.dir, `hist-${dir}`)], { env: at(m) });
    const fault = async (f: string) => expect((await jarvis(['sim', 'fault', sim.ready.control, 'fast', f], { env: cleanEnv(tmp.dir) })).code).toBe(0);
    type Report = { nodes: { node: string; upMs: number; uptimePct: number; probes: { ok: number; failed: number }; downPeriods: { from: string; to?: string; cause?: string }[] }[] };
    const report = async (dir: string) => {
      const r = await jarvis(['report', '--since', '2026-11-30T23:00:00Z', '--json', '--config', cfg, '--data-dir', path.join(tmp.dir, `hist-${dir}`)], { env: at(65) });
      expect(r.stderr).toBe('');
      // Up from 23:59 to the failure at 00:00 and from the answers' return at 00:03 to the last
      // probe's cover (00:03 + 15 min); down for 3 min: 16 of 19 watched minutes. Each process's
      // clock adds the ms its run took (seconds on a busy machine): the second decimal moves.
      const node: Partial<Report['nodes'][number]> = (JSON.parse(r.stdout) as Report).nodes.find((n) => n.node === 'fast')!;
      delete node.upMs;
      // The window runs to each process's own now.
      delete (node as { windowMs?: number }).windowMs;
      expect(node.uptimePct).toBeGreaterThan(83.5);
      expect(node.uptimePct).toBeLessThan(85);
      delete node.uptimePct;
      return node;
    };
    try {
      await status(0, 'a');
      await status(1, 'b');
      await fault('down');
      await Promise.all([status(2, 'a'), status(2, 'b'), status(2, 'c')]); // 00:00, the next day
      await status(3, 'c');
      await fault('up');
      await status(4, 'a');
      await status(5, 'b');
      // An hour later two reports fold the hours at once; neither loses nor doubles a probe.
      const [x, y] = await Promise.all([report('d'), report('e')]);
      expect(x).toEqual(y);
      expect(x.probes).toEqual({ ok: 4, failed: 4 });
      // Each process's clock starts at JARVIS_NOW; its own run adds some ms (seconds on a busy machine).
      expect(x.downPeriods).toEqual([{ from: expect.stringMatching(/^2026-12-01T00:00:0\d\.\d+Z$/) as string, to: expect.stringMatching(/^2026-12-01T00:03:0\d\.\d+Z$/) as string, ms: expect.any(Number) as number, cause: 'refused' }]);
      expect(Math.abs(Date.parse(x.downPeriods![0]!.to!) - Date.parse(x.downPeriods![0]!.from) - 180_000)).toBeLessThan(10_000);
      expect(await report('d')).toEqual(x);
      for (const dir of ['a', 'b', 'c', 'd']) expect(existsSync(path.join(tmp.dir, `hist-${dir}`, 'history'))).toBe(false);

      await redis.stop();
      const away = await status(70, 'a');
      expect(away.code).toBe(0);
      expect(away.stderr).toMatch(/shared history unavailable .*; recorded in the data dir's files/);
      expect(existsSync(path.join(tmp.dir, 'hist-a', 'history', 'raw'))).toBe(true);
    } finally {
      await fault('up');
      if (!redis.up) await redis.start();
    }
  });
});

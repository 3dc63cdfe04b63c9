import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { executePlan } from '../../src/runbook/executor.js';
import type { ExecutorDeps } from '../../src/runbook/executor.js';
import type { RecoveryPlan, Step } from '../../src/runbook/plan.js';
import type { ProbeResult } from '../../src/probe/probe.js';

// The executor with every door replaced: a clock that moves only when it sleeps, a node whose
// HTTP answers the test decides, a spawn that says how the started process behaves.
const config = await parseConfig('nodes:\n  - { id: x, kind: openai, url: "http://127.0.0.1:9/v1", model: m }\n', 'test.yaml');
const node = config.nodes[0]!;
const probe: ProbeResult = { id: 'x', kind: 'openai', priority: 1, latencyMs: 1, target: 'GET /v1/models', status: 'refused' };

function fakeDeps(o: { upAfterMs?: number; spawnExit?: { code: number; afterMs: number }; log?: string }) {
  let now = 0;
  const calls: string[] = [];
  const up = () => o.upAfterMs !== undefined && now >= o.upAfterMs;
  let exitNow: ((e: { code: number | null; signal: null }) => void) | undefined;
  const deps: ExecutorDeps = {
    now: () => now,
    sleep: async (ms: number) => {
      now += ms;
      if (o.spawnExit && now >= o.spawnExit.afterMs) exitNow?.({ code: o.spawnExit.code, signal: null });
      await Promise.resolve();
    },
    http: async (url: string, opts: { method?: string }) => {
      calls.push(`${opts.method ?? 'GET'} ${url}`);
      if (!up()) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      const body = url.endsWith('/models') ? { data: [{ id: 'm' }] } : { model: 'm', choices: [{ message: { content: 'pong' } }] };
      return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), truncated: false };
    },
    run: async () => ({ argv: [], exitCode: 0, stdout: '', stderr: '', timedOut: false, canceled: false, notFound: false, durationMs: 0 }),
    spawn: async (argv: readonly string[]) => {
      calls.push(`spawn ${argv.join(' ')}`);
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        exitNow = resolve;
        if (o.spawnExit && o.spawnExit.afterMs === 0) resolve({ code: o.spawnExit.code, signal: null });
      });
      return { pid: 4242, exited };
    },
    readLogTail: async () => o.log ?? '',
    portHolders: async () => [],
    stopHolders: async () => ({ pids: [], killed: [], stillListening: false, strangers: [] }),
    writePidFile: async (node: string, started: { pid: number; argv: string[] }) => void calls.push(`pid file ${node} ${started.pid} ${started.argv.join(' ')}`),
    env: {},
    platform: 'linux',
    scheduled: true,
  };
  return { deps, calls };
}

const plan = (...steps: Step[]): RecoveryPlan => ({ node: 'x', action: 'restart', reason: 'test', steps });
const spawn: Step = { kind: 'spawn', label: 'start', argv: ['server', '--port', '9'], logFile: '/tmp/x.log' };
const waitHealthy: Step = { kind: 'wait_healthy', label: 'wait until healthy', deadlineMs: 10_000 };
const verify: Step = { kind: 'verify', label: 'verify', timeoutMs: 5000 };

describe('executePlan', () => {
  it('a server that keeps running: started, polled until healthy, verified', async () => {
    const { deps, calls } = fakeDeps({ upAfterMs: 1500 });
    const r = await executePlan(plan(spawn, waitHealthy, verify), node, deps, probe);
    expect(r.ok).toBe(true);
    expect(r.records.map((s) => [s.step, s.ok])).toEqual([['spawn', true], ['wait_healthy', true], ['verify', true]]);
    expect(r.records[0]!.detail).toMatch(/running, pid 4242/);
    // What it started is written down before anything else happens: the next recovery may stop it.
    expect(calls.slice(0, 2)).toEqual(['spawn server --port 9', 'pid file x 4242 server --port 9']);
    expect(r.verification).toMatchObject({ ok: true, content: 'pong' });
    expect(calls.filter((c) => c.startsWith('GET')).length).toBeGreaterThan(1);
  });

  it('a restart script that returns at once (exit 0, a launcher): the wait for health is the judge', async () => {
    const { deps } = fakeDeps({ upAfterMs: 2000, spawnExit: { code: 0, afterMs: 0 } });
    const r = await executePlan(plan(spawn, waitHealthy, verify), node, deps, probe);
    expect(r.ok).toBe(true);
    expect(r.records[0]!.detail).toMatch(/exited 0 \(a launcher\)/);
    expect(r.records[1]!.detail).toMatch(/healthy after/);
  });

  it('a launcher that returns at once and a server that never comes: not healthy by the deadline', async () => {
    const { deps } = fakeDeps({ spawnExit: { code: 0, afterMs: 0 } });
    const r = await executePlan(plan(spawn, waitHealthy, verify), node, deps, probe);
    expect(r.ok).toBe(false);
    expect(r.records.map((s) => s.step)).toEqual(['spawn', 'wait_healthy']);
    expect(r.records[1]!.detail).toMatch(/not healthy after 10 s: refused/);
  });

  it('a start that fails at once: its log lines in the record, nothing after it runs', async () => {
    const { deps } = fakeDeps({ spawnExit: { code: 1, afterMs: 0 }, log: 'Error: listen EADDRINUSE: address already in use 127.0.0.1:9\n' });
    const r = await executePlan(plan(spawn, waitHealthy, verify), node, deps, probe);
    expect(r.ok).toBe(false);
    expect(r.records).toHaveLength(1);
    expect(r.records[0]).toMatchObject({ ok: false, detail: 'exited at once (code 1)', output: expect.stringContaining('EADDRINUSE') });
  });

  it('a server that dies while it is awaited: said so, with its log, before the deadline', async () => {
    const { deps } = fakeDeps({ spawnExit: { code: 2, afterMs: 1000 }, log: 'CUDA error: out of memory\n' });
    const r = await executePlan(plan(spawn, waitHealthy, verify), node, deps, probe);
    expect(r.ok).toBe(false);
    expect(r.records[1]).toMatchObject({ step: 'wait_healthy', ok: false, detail: expect.stringMatching(/exited \(code 2\) before the node was healthy/), output: expect.stringContaining('out of memory') });
  });
});

/**
 * The orchestrators in process: `checkCluster`, `recoverNode` and serve's healer, on real records
 * in a temp dir (the same store every command opens) and fake doors: nodes whose HTTP answers the
 * test decides, restart commands that bring them back, a clock that moves only when told. The
 * end-to-end tests (test/integration) run the same paths through the built CLI; these show the
 * decisions one by one, fast, with nothing left to the machine's load.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkCluster } from '../../src/check/run.js';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { HttpFailure, type HttpOptions } from '../../src/probe/http.js';
import type { ExecutorDeps } from '../../src/runbook/executor.js';
import { recoverNode } from '../../src/runbook/recover.js';
import { loadRunbook } from '../../src/runbook/runbook.js';
import { LiveHealth } from '../../src/serve/live-health.js';
import { startHealer } from '../../src/serve/healer.js';
import { ModelCatalog } from '../../src/cascade/catalog.js';
import { cascadeSettings } from '../../src/config/env.js';
import { openRecords, type Records } from '../../src/store/records.js';
import type { Clock } from '../../src/system/clock.js';
import { commandResult } from '../helpers/results.js';
import { waitFor } from '../helpers/wait.js';

type State = 'up' | 'refused' | 'throttled' | 'error500';

const CONFIG = `
check: { confirmProbes: 1, confirmDelayMs: 0 }
nodes:
  - { id: a, kind: openai, url: "http://127.0.0.1:41001/v1", model: m, restart: [restart-a], process: false }
  - { id: b, kind: openai, url: "http://127.0.0.1:41002/v1", model: m, restart: [restart-b], process: false, fallbacks: [a] }
  - { id: c, kind: openai, url: "http://127.0.0.1:41003/v1", model: m, restart: [restart-c], process: false }
`;

const runbook = await loadRunbook();
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The cluster as the test sets it, behind fake doors; `calls` lists every command run. */
function world(states: Record<string, State>, start = Date.parse('2026-12-01T12:00:00Z')) {
  let wall = start;
  let mono = 0;
  const calls: string[] = [];
  const byPort: Record<string, string> = { '41001': 'a', '41002': 'b', '41003': 'c' };
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) => ({ status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), truncated: false });
  const clock: Clock = { now: () => wall, monotonic: () => mono };
  const deps: ExecutorDeps = {
    now: () => mono,
    http: async (url: string, opts: HttpOptions) => {
      const id = byPort[new URL(url).port]!;
      calls.push(`${opts.method ?? 'GET'} ${id} ${new URL(url).pathname}`);
      const state = states[id];
      if (state === 'refused') throw new HttpFailure('connect ECONNREFUSED', 'ECONNREFUSED', 'connect');
      if (state === 'throttled') return json(429, { error: { message: 'quota' } }, { 'retry-after': '60' });
      if (state === 'error500') return json(500, { error: { message: 'boom' } });
      return url.endsWith('/models') ? json(200, { data: [{ id: 'm' }] }) : json(200, { model: 'm', choices: [{ message: { content: 'pong' } }] });
    },
    run: async (argv: readonly string[]) => {
      calls.push(argv.join(' '));
      if (argv[0] === 'ping') return commandResult({ argv: [...argv], stdout: '1 packets transmitted, 1 received' });
      return commandResult({ argv: [...argv], exitCode: undefined, notFound: true });
    },
    sleep: async (ms: number) => {
      mono += ms;
      wall += ms;
    },
    // A node's `restart` starts its server detached: here, the node answers from then on.
    spawn: async (argv: readonly string[]) => {
      calls.push(argv.join(' '));
      const id = /^restart-(\w+)$/.exec(argv[0] ?? '')?.[1];
      if (id) states[id] = 'up';
      return { pid: 40_000 + calls.length, exited: new Promise<never>(() => undefined) };
    },
    readLogTail: async () => '',
    portHolders: async () => [],
    stopHolders: async () => ({ pids: [], killed: [], stillListening: false, strangers: [] }),
    writePidFile: async () => undefined,
    env: {},
    platform: 'linux',
    scheduled: true,
  };
  return { deps, clock, calls, states, advance: (ms: number) => ((wall += ms), (mono += ms)) };
}

function records(config: Config, clock: Clock): Records {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'jarvis-orch-'));
  dirs.push(dataDir);
  return openRecords({ dataDir, config: () => config, env: {}, clock, warn: () => undefined, owner: { pid: process.pid, command: 'test' }, instance: 'test' });
}

const config = await parseConfig(CONFIG, 'test.yaml');

describe('checkCluster in process', () => {
  it('three nodes failing in different ways: levels, transitions, what it records and what it leaves alone', async () => {
    const w = world({ a: 'up', b: 'refused', c: 'throttled' });
    const rec = records(config, w.clock);
    const options = { config, runbook, records: rec, deps: w.deps, clock: w.clock, recover: false, commandLine: 'jarvis check', host: 'here' };
    const first = await checkCluster(options);
    expect(first.nodes.map((n) => [n.id, n.status, n.transition, n.level])).toEqual([
      ['a', 'ok', 'unchanged', 'ok'],
      // b's fallback a answers: a warning, not critical.
      ['b', 'refused', 'down', 'warning'],
      ['c', 'http_error', 'down', 'warning'],
    ]);
    expect(first.nodes.find((n) => n.id === 'c')).toMatchObject({ throttled: true, retryAfterS: 60 });
    expect(first.exitCode).toBe(1);
    // Without --recover nothing was run; b and c were probed twice (the confirmation).
    expect(w.calls.filter((c) => c.startsWith('restart-'))).toEqual([]);
    expect(w.calls.filter((c) => c === 'GET b /v1/models')).toHaveLength(2);
    // Remembered: state.json's check section, a check.log line, every probe in the history.
    expect((await rec.state.read()).check?.nodes.b).toMatchObject({ status: 'refused' });
    expect(JSON.parse(readFileSync(rec.paths.checkLog, 'utf8').trim())).toMatchObject({ level: 'warning', nodes: { a: 'ok', b: 'refused', c: 'http_error' } });
    const history = await rec.history.read(w.clock.now() - 3_600_000, w.clock.now() + 1);
    expect([...history.keys()].sort()).toEqual(['a', 'b', 'c']);

    // The next run: nothing changed, so nothing to say.
    w.advance(60_000);
    const second = await checkCluster(options);
    expect(second.changed).toBe(false);
    expect(second.nodes.map((n) => n.transition)).toEqual(['unchanged', 'unchanged', 'unchanged']);
  });

  it('with --recover: the refused node restarted and verified, the throttled one skipped, one incident each way', async () => {
    const w = world({ a: 'up', b: 'refused', c: 'throttled' });
    const rec = records(config, w.clock);
    const r = await checkCluster({ config, runbook, records: rec, deps: w.deps, clock: w.clock, recover: true, commandLine: 'jarvis check --recover', host: 'here' });
    const b = r.nodes.find((n) => n.id === 'b')!;
    expect(b).toMatchObject({ status: 'ok', transition: 'down', recovery: { action: 'recovered' }, level: 'warning' });
    expect(r.nodes.find((n) => n.id === 'c')!.recovery).toMatchObject({ action: 'skipped', reason: expect.stringMatching(/quota|429|throttled/i) });
    expect(w.calls).toContain('restart-b');
    expect(w.calls).not.toContain('restart-c');
    const incidents = await rec.incidents.list();
    expect(incidents.map((i) => [i.node, i.outcome])).toEqual([['b', 'recovered']]);
    // The down-then-recovered alert pair goes nowhere without hooks, but the state says b is ok now.
    expect((await rec.state.read()).check?.nodes.b?.status).toBe('ok');
  });

  it('an incident log that cannot be read: probes and alerts go on, nothing is restarted, the level is UNKNOWN', async () => {
    const w = world({ a: 'up', b: 'refused', c: 'up' });
    const rec = records(config, w.clock);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path.join(rec.dataDir, 'incidents.json'), '{ not json');
    const r = await checkCluster({ config, runbook, records: rec, deps: w.deps, clock: w.clock, recover: true, commandLine: 'jarvis check --recover', host: 'here' });
    expect(r.level).toBe('unknown');
    expect(r.exitCode).toBe(3);
    expect(r.recordError).toMatch(/incidents\.json/);
    expect(w.calls).not.toContain('restart-b');
    expect(readFileSync(path.join(rec.dataDir, 'incidents.json'), 'utf8')).toBe('{ not json');
  });
});

describe('recoverNode in process', () => {
  it('the runbook rule: the third recovery within 24 h escalates, the fourth too, an ack resets the count', async () => {
    const w = world({ a: 'refused', b: 'up', c: 'up' });
    const rec = records(config, w.clock);
    const recover = async () => {
      w.states.a = 'refused';
      return recoverNode({ config, runbook, nodeId: 'a', records: rec, deps: w.deps, clock: w.clock, force: false, wait: false, dryRun: false, commandLine: 'jarvis recover a' });
    };
    const outcomes = [];
    for (let i = 0; i < 4; i++) {
      const r = await recover();
      outcomes.push([r.outcome, r.incident?.windowCount, r.incident?.escalated]);
      w.advance(3_600_000);
    }
    expect(outcomes).toEqual([
      ['recovered', 1, false],
      ['recovered', 2, false],
      ['recovered', 3, true],
      ['recovered', 4, true],
    ]);
    await rec.incidents.acknowledge('a', new Date(w.clock.now()).toISOString());
    w.advance(1000);
    const after = await recover();
    expect([after.incident?.windowCount, after.incident?.escalated]).toEqual([1, false]);
  });

  it('a dry run plans and touches nothing: no command, no incident, no lock left', async () => {
    const w = world({ a: 'refused', b: 'up', c: 'up' });
    const rec = records(config, w.clock);
    const r = await recoverNode({ config, runbook, nodeId: 'a', records: rec, deps: w.deps, clock: w.clock, force: false, wait: false, dryRun: true, commandLine: 'jarvis recover a --dry-run' });
    expect(r.outcome).toBe('planned');
    expect(r.plan.action).toBe('restart');
    expect(w.calls.filter((c) => c.startsWith('restart-'))).toEqual([]);
    expect(await rec.incidents.list()).toEqual([]);
  });

  it('a second recovery of the same node while one holds its lock is refused, saying who holds it', async () => {
    const w = world({ a: 'refused', b: 'up', c: 'up' });
    const rec = records(config, w.clock);
    const held = await rec.lock('recover-a');
    try {
      await expect(recoverNode({ config, runbook, nodeId: 'a', records: rec, deps: w.deps, clock: w.clock, force: false, wait: false, dryRun: false, commandLine: 'jarvis recover a' })).rejects.toThrow(/already running.*pid/);
    } finally {
      await held.release();
    }
  });
});

describe('the healer in process', () => {
  it('a node whose probes fail downAfterProbes times is recovered once, in the background, and said so', async () => {
    const auto = await parseConfig(`${CONFIG}serve: { downAfterProbes: 2 }\n`, 'test.yaml');
    const w = world({ a: 'up', b: 'refused', c: 'up' });
    const rec = records(auto, w.clock);
    const health = new LiveHealth(await rec.health(), new ModelCatalog(), cascadeSettings(auto, {}), () => undefined);
    const log: string[] = [];
    const healer = startHealer({ config: auto, runbook, records: rec, executor: w.deps, health, clock: w.clock, intervalMs: 5, autoRecover: true, log: (l) => log.push(l) });
    try {
      await waitFor(() => log.some((l) => /heal: b recovered, back in service/.test(l)), { what: "the healer's recovery of b" });
    } finally {
      await healer.stop();
    }
    expect(log.filter((l) => /recovering it in the background/.test(l))).toEqual(['health: b refused on 2 probes in a row: recovering it in the background']);
    expect(w.calls.filter((c) => c === 'restart-b')).toHaveLength(1);
    expect((await rec.incidents.list()).map((i) => [i.node, i.outcome])).toEqual([['b', 'recovered']]);
    expect(healer.lastProbes().find((p) => p.id === 'b')?.status).toBe('ok');
  });
});

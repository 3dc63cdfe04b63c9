/**
 * `jarvis recover` as a real process against real processes: a simulated node killed and brought
 * back through its `restart` argv, through the default plan with stand-in `ollama` and `lms`
 * executables on PATH, and (see ssh.test.ts) over ssh. Every process started is stopped by PID.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, ROOT, cleanEnv, freePort, jarvis, nextHit, simFault, startSim, tempDir } from '../helpers/cli.js';

interface RecoverJson {
  node: string;
  outcome: string;
  recovered: boolean;
  exitCode: number;
  assessment: { probe: { status: string }; process: { alive: boolean | null } };
  plan: { action: string; reason: string; steps: { kind: string; label: string; argv?: string[] }[] };
  steps: { step: string; label: string; ok: boolean; detail?: string; pid?: number }[];
  verification?: { ok: boolean; content?: string; latencyMs: number };
  incident?: { id: string; escalated: boolean; outcome: string; windowCount: number };
}

const STANDINS = path.join(ROOT, 'test', 'fixtures', 'bin');
let tmp: ReturnType<typeof tempDir>;
let env: NodeJS.ProcessEnv;
const pids: number[] = [];

/** Remembers the pid a spawn step reported, to stop it after the test. */
function track(result: RecoverJson): void {
  for (const s of result.steps) if (s.pid) pids.push(s.pid);
}

beforeEach(() => {
  tmp = tempDir();
  env = cleanEnv(tmp.dir, { PATH: `${STANDINS}:${process.env.PATH}`, JARVIS_TEST_CALLS: path.join(tmp.dir, 'calls.jsonl'), JARVIS_TEST_LMS_STATE: path.join(tmp.dir, 'lms') });
});

afterEach(async () => {
  for (const pid of pids.splice(0)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  // The lms stand-in's server, if one was started.
  const state = path.join(tmp.dir, 'lms', 'server.json');
  if (existsSync(state)) {
    try {
      process.kill((JSON.parse(readFileSync(state, 'utf8')) as { pid: number }).pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  await new Promise((r) => setTimeout(r, 100));
  tmp.cleanup();
});


const calls = () => (existsSync(env.JARVIS_TEST_CALLS!) ? readFileSync(env.JARVIS_TEST_CALLS!, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as string[]) : []);

/** A node script in the temp dir, as a restart argv (YAML flow), so no JS is quoted inside YAML. */
function script(name: string, source: string): string {
  const file = path.join(tmp.dir, `${name}.cjs`);
  writeFileSync(file, source);
  return `[${JSON.stringify(process.execPath)}, ${JSON.stringify(file)}]`;
}

function writeConfig(nodes: string[], extra = ''): string {
  const file = path.join(tmp.dir, 'jarvis.config.yaml');
  writeFileSync(file, `nodes:\n${nodes.join('\n')}\n${extra}`);
  return file;
}

const recover = async (args: string[], cfg: string) => {
  const r = await jarvis(['recover', ...args, '--json', '--config', cfg, '--data-dir', path.join(tmp.dir, 'data')], { env, timeoutMs: 60_000 });
  const json = r.stdout ? (JSON.parse(r.stdout) as RecoverJson) : undefined;
  if (json) track(json);
  return { ...r, json };
};

const incidents = () => {
  const file = path.join(tmp.dir, 'data', 'incidents.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { incidents: { node: string; outcome: string; escalated: boolean; status: string; diagnosis: string; actions: string[]; at: string; durationMs: number; id: string }[] }).incidents : [];
};

describe('jarvis recover through the node restart argv', () => {
  it('a killed sim node is restarted, polled until healthy, verified, and the incident recorded', async () => {
    const sim = await startSim(['node', '--kind', 'ollama', '--id', 'ol1', '--model', 'qwen3:8b']);
    const url = sim.ready.nodes[0]!.url;
    const port = new URL(url).port;
    sim.child.kill('SIGKILL');
    await new Promise((r) => sim.child.once('exit', r));
    const cfg = writeConfig([
      `  - { id: ol1, kind: ollama, url: "${url}", model: "qwen3:8b", timeoutMs: 1000, restart: [${JSON.stringify(process.execPath)}, ${JSON.stringify(BIN)}, sim, node, --kind, ollama, --id, ol1, --port, "${port}", --model, "qwen3:8b"], fallbacks: [m3] }`,
      '  - { id: m3, kind: lmstudio, url: "http://127.0.0.1:9", timeoutMs: 500 }',
    ]);
    const r = await recover(['OL1'], cfg);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = r.json!;
    expect(j.assessment.probe.status).toBe('refused');
    expect(j.plan.action).toBe('restart');
    expect(j.steps.map((s) => [s.step, s.ok])).toEqual([
      ['spawn', true],
      ['wait_healthy', true],
      ['verify', true],
    ]);
    expect(j.verification).toMatchObject({ ok: true, content: 'pong from ol1' });
    expect(j.outcome).toBe('recovered');
    const [incident] = incidents();
    expect(incident).toMatchObject({ node: 'ol1', status: 'refused', diagnosis: 'connection refused', outcome: 'recovered', escalated: false });
    expect(Date.parse(incident!.at)).not.toBeNaN();
    expect(incident!.durationMs).toBeGreaterThan(0);
    expect(incident!.actions.length).toBe(3);
    // It really answers now, as its own process that outlives jarvis.
    const status = await jarvis(['status', '--json', '--config', cfg], { env });
    expect((JSON.parse(status.stdout) as { nodes: { id: string; status: string }[] }).nodes[0]).toMatchObject({ id: 'ol1', status: 'ok' });
    expect(existsSync(path.join(tmp.dir, 'data', 'logs', 'ol1.log'))).toBe(true);
  });

  it('a healthy node is verified, exit 0, and no incident is recorded', async () => {
    const sim = await startSim(['node', '--kind', 'lmstudio', '--id', 'm3', '--model', 'mistral-7b']);
    try {
      const cfg = writeConfig([`  - { id: m3, kind: lmstudio, url: "${sim.ready.nodes[0]!.url}", model: mistral, timeoutMs: 1000, process: false }`]);
      const r = await recover(['m3'], cfg);
      expect(r.code).toBe(0);
      expect(r.json).toMatchObject({ outcome: 'healthy', recovered: true, verification: { ok: true } });
      expect(existsSync(path.join(tmp.dir, 'data', 'incidents.json'))).toBe(false);
    } finally {
      await sim.stop();
    }
  });

  it('a start that fails is reported with its log, three in 24 h escalate', async () => {
    const cfg = writeConfig([`  - { id: bad, kind: ollama, url: "http://127.0.0.1:${await freePort()}", timeoutMs: 5000, restart: [${JSON.stringify(process.execPath)}, -e, "console.error('Error: listen tcp: address already in use'); process.exit(1)"] }`]);
    const outcomes = [];
    for (let i = 0; i < 3; i++) {
      const r = await recover(['bad'], cfg);
      expect(r.code).toBe(1);
      outcomes.push(r.json!);
    }
    // Said by the start when it dies within its grace, else by the wait for health (a busy machine).
    expect(outcomes[0]!.steps.find((s) => !s.ok)!.detail).toMatch(/^exited at once \(code 1\)$|^the started process exited \(code 1\) before the node was healthy$/);
    expect(outcomes.map((o) => o.incident!.escalated)).toEqual([false, false, true]);
    expect(outcomes[2]!.incident!.windowCount).toBe(3);
    // People see it loudly.
    const human = await jarvis(['recover', 'bad', '--config', cfg, '--data-dir', path.join(tmp.dir, 'data')], { env });
    expect(human.stdout).toMatch(/ESCALATED: 4 incidents on bad/);
    expect(human.stdout).toMatch(/address already in use/);
    const list = await jarvis(['incidents', '--config', cfg, '--data-dir', path.join(tmp.dir, 'data')], { env });
    expect(list.stdout).toMatch(/last 24 h: bad 4, 4 counting \(escalated\)/);
  });

  it('--dry-run prints the plan and runs nothing', async () => {
    const port = await freePort();
    const marker = path.join(tmp.dir, 'ran');
    const cfg = writeConfig([
      `  - { id: ol1, kind: ollama, url: "http://127.0.0.1:${port}", timeoutMs: 500, restart: ${script('mark', `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`)} }`,
      `  - { id: m3, kind: lmstudio, url: "http://127.0.0.1:${port}", timeoutMs: 500 }`,
      `  - { id: ol2, kind: ollama, url: "http://127.0.0.1:${port}", timeoutMs: 500 }`,
    ]);
    for (const id of ['ol1', 'm3', 'ol2']) {
      const r = await recover([id, '--dry-run'], cfg);
      expect(r.code).toBe(1);
      expect(r.json!.plan.action).toBe('restart');
      expect(r.json!.steps).toEqual([]);
    }
    expect(existsSync(marker)).toBe(false);
    // Only the read-only status check reached the stand-ins: no start, serve, stop or load.
    expect(calls()).toEqual([['lms', 'server', 'status', '--json']]);
    expect(existsSync(path.join(tmp.dir, 'data', 'incidents.json'))).toBe(false);
    const human = await jarvis(['recover', 'ol2', '--dry-run', '--config', cfg, '--data-dir', path.join(tmp.dir, 'data')], { env });
    expect(human.stdout).toMatch(/Would run \(dry run: nothing is executed\):\n {2}1\. start: ollama serve/);
    expect(existsSync(marker)).toBe(false);
  });
});

describe('jarvis recover through the default plan (stand-in ollama and lms on PATH)', () => {
  it('ollama: `ollama serve` started detached on the configured address', async () => {
    const port = await freePort();
    const cfg = writeConfig([`  - { id: ol1, kind: ollama, url: "http://127.0.0.1:${port}", model: "qwen3:8b", timeoutMs: 1000 }`]);
    const r = await recover(['ol1'], cfg);
    expect(r.code).toBe(0);
    // The process check ran (\`pgrep -x ollama\`: machine-wide, so another test's stand-in may be
    // up meanwhile); refused, the node is restarted either way.
    expect(r.json!.assessment.process).toMatchObject({ alive: expect.any(Boolean) as boolean, command: expect.stringContaining('pgrep') as string });
    expect(r.json!.plan.steps[0]).toMatchObject({ kind: 'spawn', argv: ['ollama', 'serve'] });
    expect(r.json!.outcome).toBe('recovered');
    expect(calls()).toEqual([['ollama', 'serve']]);
    // pgrep -x ollama now finds the stand-in.
    const again = await recover(['ol1', '--dry-run'], cfg);
    expect(again.json!.assessment.process.alive).toBe(true);
  });

  it('lmstudio: `lms server start --port N`, then a missing model loaded with `lms load`', async () => {
    const port = await freePort();
    const cfg = writeConfig([`  - { id: m2, kind: lmstudio, url: "http://127.0.0.1:${port}", model: mistral, timeoutMs: 1000 }`]);
    const r = await recover(['m2'], cfg);
    expect(r.code).toBe(0);
    expect(r.json!.assessment.process.alive).toBe(false);
    expect(calls()).toEqual([
      ['lms', 'server', 'status', '--json'],
      ['lms', 'server', 'start', '--port', String(port)],
      // The evidence after the recovery: the server's process again.
      ['lms', 'server', 'status', '--json'],
    ]);
    expect(r.json!.verification).toMatchObject({ ok: true, content: 'pong from lms' });

    // Now the server is up but the model is unloaded.
    const state = JSON.parse(readFileSync(path.join(tmp.dir, 'lms', 'server.json'), 'utf8')) as { control: string };
    expect((await jarvis(['sim', 'fault', state.control, 'lms', 'model-missing'], { env })).code).toBe(0);
    const load = await recover(['m2'], cfg);
    expect(load.json!.assessment.probe.status).toBe('model_missing');
    expect(load.json!.plan.action).toBe('load_model');
    expect(load.code).toBe(0);
    // The load, then the evidence after it (the server's process, read-only).
    expect(calls().slice(-2)).toEqual([['lms', 'load', 'mistral', '-y'], ['lms', 'server', 'status', '--json']]);
  });
});

describe('what each diagnosis does', () => {
  it('timeout with the process alive: overload, not killed unless --force', async () => {
    const sim = await startSim(['node', '--kind', 'ollama', '--id', 'busy', '--fault', 'hang']);
    try {
      // `node` is certainly alive: stands for "the server process is running".
      const cfg = writeConfig([`  - { id: busy, kind: ollama, url: "${sim.ready.nodes[0]!.url}", timeoutMs: 500, process: node, restart: [${JSON.stringify(process.execPath)}, -e, "process.exit(3)"] }`]);
      const r = await recover(['busy'], cfg);
      expect(r.code).toBe(1);
      expect(r.json!.plan).toMatchObject({ action: 'none', steps: [] });
      expect(r.json!.plan.reason).toMatch(/overloaded: the process is alive/);
      expect(r.json!.incident!.outcome).toBe('no_action');
      const forced = await recover(['busy', '--force'], cfg);
      expect(forced.json!.plan.action).toBe('restart');
    } finally {
      await sim.stop();
    }
  });

  it('a low-impact node is not restarted; a machine that is unreachable is not either', async () => {
    const cfg = writeConfig([`  - { id: m1, kind: lmstudio, url: "http://127.0.0.1:${await freePort()}", timeoutMs: 5000, impact: low, restart: [${JSON.stringify(process.execPath)}, -e, "0"] }`]);
    const r = await recover(['m1'], cfg);
    expect(r.code).toBe(1);
    expect(r.json!.plan).toMatchObject({ action: 'none' });
    expect(r.json!.plan.reason).toMatch(/low-impact/);
  });

  it('quota: --no-wait waits for nothing and records nothing (a quota is a state); otherwise waits Retry-After, re-checks and verifies', async () => {
    const sim = await startSim(['node', '--kind', 'openai', '--id', 'gemini', '--model', 'gemini', '--fault', '429:2']);
    try {
      const cfg = writeConfig([`  - { id: gemini, kind: proxy, url: "${sim.ready.nodes[0]!.url}", timeoutMs: 1000 }`]);
      const noWait = await recover(['gemini', '--no-wait'], cfg);
      expect(noWait.json!.plan.action).toBe('none');
      expect(noWait.json!.outcome).toBe('no_action');
      expect(noWait.json!.incident).toBeUndefined();
      const probed = await nextHit(sim.ready.control, 'gemini');
      const waiting = recover(['gemini'], cfg);
      // Up once its probe met the quota: the wait for Retry-After then ends on a node that answers.
      await probed();
      await simFault(sim.ready.control, 'gemini', 'up');
      const r = await waiting;
      expect(r.json!.plan.steps[0]).toMatchObject({ kind: 'wait', label: 'wait 2 s for the quota to reset' });
      expect(r.json!.outcome).toBe('recovered');
      expect(r.code).toBe(0);
    } finally {
      await sim.stop();
    }
  });

  it('unknown node: exit 2', async () => {
    const cfg = writeConfig(['  - { id: a, kind: ollama, url: "http://127.0.0.1:9" }']);
    const r = await jarvis(['recover', 'zz', '--config', cfg, '--data-dir', path.join(tmp.dir, 'data')], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Known nodes: a/);
  });
});

describe('one recovery per node at a time, and Ctrl-C', () => {
  const slowStart = (marker: string) => script('sleeper', `require('fs').writeFileSync(${JSON.stringify(marker)}, String(process.pid)); setTimeout(() => {}, 60000);`);

  it('a second recover of the same node says who holds it; SIGINT records the incident as interrupted', async () => {
    const marker = path.join(tmp.dir, 'sleeper.pid');
    const cfg = writeConfig([`  - { id: ol1, kind: ollama, url: "http://127.0.0.1:${await freePort()}", timeoutMs: 5000, restart: ${slowStart(marker)} }`], 'recover: { healthTimeoutMs: 20000 }\n');
    const { spawn } = await import('node:child_process');
    const first = spawn(process.execPath, [BIN, 'recover', 'ol1', '--config', cfg, '--data-dir', path.join(tmp.dir, 'data')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let firstOut = '';
    first.stdout.on('data', (d: Buffer) => (firstOut += d.toString()));
    try {
      for (let i = 0; i < 100 && !existsSync(marker); i++) await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(marker)).toBe(true);
      pids.push(Number(readFileSync(marker, 'utf8')));
      const second = await jarvis(['recover', 'ol1', '--config', cfg, '--data-dir', path.join(tmp.dir, 'data')], { env });
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(new RegExp(`a recovery of ol1 is already running \\(held by pid ${first.pid} since .*jarvis recover ol1`));

      first.kill('SIGINT');
      const code = await new Promise((r) => first.once('exit', r));
      expect(code).toBe(130);
      expect(firstOut).toMatch(/recovery interrupted; recorded as such/);
      expect(incidents().map((i) => i.outcome)).toEqual(['interrupted']);
      // The lock went with it: a new recovery may start.
      expect(existsSync(path.join(tmp.dir, 'data', 'locks', 'recover-ol1.lock'))).toBe(false);
    } finally {
      if (first.exitCode === null) first.kill('SIGKILL');
    }
  });
});

describe('interrupted while assessing', () => {
  it('SIGINT while the probe waits on a hung node: exit 130, nothing done, no incident (an aborted probe is not a diagnosis)', async () => {
    // A node that accepts connections and never answers.
    const sockets = new Set<Socket>();
    const hung = createServer((s) => sockets.add(s));
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    const port = (hung.address() as AddressInfo).port;
    const cfg = writeConfig([`  - { id: h, kind: openai, url: "http://127.0.0.1:${port}", timeoutMs: 20000, restart: ["true"] }`]);
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [BIN, 'recover', 'h', '--config', cfg, '--data-dir', path.join(tmp.dir, 'data')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      for (let i = 0; i < 100 && sockets.size === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(sockets.size).toBeGreaterThan(0); // the probe is waiting
      child.kill('SIGINT');
      const code = await new Promise((r) => child.once('exit', r));
      expect(code).toBe(130);
      expect(out).toMatch(/h: interrupted while assessing it; nothing done, nothing recorded/);
      expect(out).not.toMatch(/bad response/);
      expect(incidents()).toEqual([]);
      expect(calls()).toEqual([]);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      for (const s of sockets) s.destroy();
      await new Promise((r) => hung.close(r));
    }
  });
});

describe('the incident file', () => {
  it('a corrupt or foreign file is never overwritten: exit 3 naming the path', async () => {
    const cfg = writeConfig([`  - { id: bad, kind: ollama, url: "http://127.0.0.1:${await freePort()}", timeoutMs: 5000, restart: [${JSON.stringify(process.execPath)}, -e, "process.exit(1)"] }`]);
    const file = path.join(tmp.dir, 'data', 'incidents.json');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(path.dirname(file), { recursive: true });
    for (const content of ['{"incidents": [ {"node": "bad", "at": "2026-11-2', '{"rows": []}', '[1,2,3]']) {
      writeFileSync(file, content);
      const r = await jarvis(['recover', 'bad', '--config', cfg, '--data-dir', path.dirname(file)], { env });
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(file);
      expect(r.stderr).toMatch(/left untouched/);
      expect(readFileSync(file, 'utf8')).toBe(content);
      const list = await jarvis(['incidents', '--config', cfg, '--data-dir', path.dirname(file)], { env });
      expect(list.code).toBe(3);
    }
  });
});


/**
 * Recovery that does no harm, on the built CLI with real processes: a simulator serving six nodes
 * from one process survives `recover`, `recover --force` and `check --recover` of each of them;
 * an unrelated server on a node's port is left running and the recovery says why; the process
 * jarvis started for a node (its pid file) is the one a later recovery stops.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, freePort, jarvis, startSim, stopChild, tempDir, type RunningSim } from '../helpers/cli.js';

let tmp: ReturnType<typeof tempDir>;
let env: NodeJS.ProcessEnv;
let dataDir: string;
const pids: number[] = [];
const sims: RunningSim[] = [];

interface RecoverJson {
  outcome: string;
  plan: { action: string; reason: string; steps: { kind: string; label: string }[] };
  steps: { step: string; ok: boolean; label: string; detail?: string; pid?: number }[];
  incident?: { outcome: string; actions: string[] };
}

beforeEach(() => {
  tmp = tempDir();
  env = cleanEnv(tmp.dir);
  dataDir = path.join(tmp.dir, 'data');
});

afterEach(async () => {
  for (const pid of pids.splice(0)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  await Promise.all(sims.splice(0).map((s) => s.stop()));
  tmp.cleanup();
});

/** Running (a zombie waiting for a parent that is not ours to reap it is not). */
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

const cli = (args: string[], config: string) => jarvis([...args, '--config', config, '--data-dir', dataDir], { env, timeoutMs: 60_000 });

async function recover(id: string, config: string, extra: string[] = []): Promise<RecoverJson> {
  const r = await cli(['recover', id, '--json', ...extra], config);
  const json = JSON.parse(r.stdout) as RecoverJson;
  for (const s of json.steps) if (s.pid) pids.push(s.pid);
  return json;
}

describe('one process serving six nodes', () => {
  it('survives recover, recover --force and check --recover of each node: the other five stay ok', async () => {
    const configPath = path.join(tmp.dir, 'sim.yaml');
    const sim = await startSim(['cluster', '--preset', 'runbook', '--config-out', configPath, '--timeout', '1000']);
    sims.push(sim);
    // Automatic recovery as cron runs it, without the wait that confirms an outage.
    writeFileSync(configPath, `${readFileSync(configPath, 'utf8')}check: { confirmDelayMs: 0 }\n`);
    const simPid = sim.ready.pid;
    const fault = (id: string, f: string) => jarvis(['sim', 'fault', sim.ready.control, id, f], { env });
    const others = async (id: string) => {
      const status = JSON.parse((await cli(['status', '--json'], configPath)).stdout) as { nodes: { id: string; status: string }[] };
      return status.nodes.filter((n) => n.id !== id).map((n) => `${n.id} ${n.status}`);
    };
    for (const { id } of sim.ready.nodes) {
      await fault(id, '500');
      const everyOtherOk = sim.ready.nodes.filter((n) => n.id !== id).map((n) => `${n.id} ok`);
      const check = JSON.parse((await cli(['check', '--recover', '--json'], configPath)).stdout) as { nodes: { id: string; recovery?: { action: string; reason: string } }[] };
      const low = id === 'm1'; // low impact: the runbook asks for no urgent action unless forced
      expect(check.nodes.find((n) => n.id === id)!.recovery).toMatchObject(low ? { action: 'skipped' } : { action: 'not_recovered', reason: expect.stringMatching(new RegExp(`^port \\d+ is held by pid ${simPid} \\(.*sim cluster.*\\), which is not this node's server \\(it also serves ports .* of other nodes\\): not stopping it$`)) });
      expect(alive(simPid)).toBe(true);
      expect(await others(id)).toEqual(everyOtherOk);
      for (const extra of [[], ['--force']]) {
        const r = await recover(id, configPath, extra);
        if (low && extra.length === 0) expect(r.outcome).toBe('no_action');
        else {
          expect(r).toMatchObject({ outcome: 'not_recovered', plan: { action: 'refused', steps: [] }, steps: [] });
          expect(r.plan.reason).toContain(`held by pid ${simPid} (`);
          expect(r.incident!.actions).toEqual([`refused: ${r.plan.reason}`]);
        }
        expect(alive(simPid)).toBe(true);
        expect(await others(id)).toEqual(everyOtherOk);
      }
      await fault(id, 'up');
    }
    // The human view says it in one sentence.
    await fault('ol1', '500');
    const text = await cli(['recover', 'ol1'], configPath);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(new RegExp(`ol1 NOT recovered: port \\d+ is held by pid ${simPid} \\(\`.*\`\\), which is not this node's server`));
    const dry = await cli(['recover', 'ol1', '--dry-run', '--force'], configPath);
    expect(dry.stdout).toMatch(new RegExp(`plan +port \\d+ is held by pid ${simPid}`));
  });
});

describe('the runbook\'s escalation, on every surface', () => {
  it('three recoveries of a node that dies each time: the third escalates, and recover, incidents, --json and check show the same count', async () => {
    const port = await freePort();
    const config = path.join(tmp.dir, 'c.yaml');
    writeFileSync(config, `nodes:\n  - { id: x, kind: ollama, url: "http://127.0.0.1:${port}", model: "qwen3:8b", timeoutMs: 2000, restart: [${JSON.stringify(process.execPath)}, ${JSON.stringify(BIN)}, sim, node, --kind, ollama, --id, x, --port, "${port}"], process: false }\ncheck: { confirmDelayMs: 0 }\n`);
    const texts: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const r = await cli(['recover', 'x'], config);
      expect(r.code).toBe(0);
      texts.push(r.stdout);
      // It dies again: the process jarvis started (its pid file says which) is stopped.
      const { pid } = JSON.parse(readFileSync(path.join(dataDir, 'run', 'x.pid'), 'utf8')) as { pid: number };
      process.kill(pid, 'SIGTERM');
      while (alive(pid)) await new Promise((r) => setTimeout(r, 20));
    }
    expect(texts.map((t) => /last 24 h: x (\d+), (\d+) counting/.exec(t)?.slice(1).join('/'))).toEqual(['1/1', '2/2', '3/3']);
    expect(texts[2]).toMatch(/ESCALATED: 3 incidents on x within the window/);
    const stored = (JSON.parse(readFileSync(path.join(dataDir, 'incidents.json'), 'utf8')) as { incidents: { outcome: string; escalated: boolean; windowCount: number; inProgress?: boolean }[] }).incidents;
    expect(stored.map((i) => [i.outcome, i.windowCount, i.escalated, i.inProgress ?? false])).toEqual([
      ['recovered', 1, false, false],
      ['recovered', 2, false, false],
      ['recovered', 3, true, false],
    ]);
    const list = JSON.parse((await cli(['incidents', '--json'], config)).stdout) as { window: { nodes: { node: string; count: number; escalated: boolean }[] } };
    expect(list.window.nodes).toEqual([{ node: 'x', count: 3, recorded: 3, escalated: true }]);
    // The same words as recover's last line: one function writes both.
    expect((await cli(['incidents'], config)).stdout).toContain('last 24 h: x 3, 3 counting (escalated)');
    expect(texts[2]).toContain('last 24 h: x 3, 3 counting (escalated)');
    const check = JSON.parse((await cli(['check', '--recover', '--json'], config)).stdout) as { nodes: { id: string; escalated: boolean; recovery?: { action: string; reason: string } }[] };
    expect(check.nodes[0]).toMatchObject({ id: 'x', escalated: true, recovery: { action: 'skipped', reason: expect.stringMatching(/^escalated/) } });
  });
});

describe('a recorded incident that does not count', () => {
  it('a hung node left alone: recover, incidents and --json all say 1 recorded, 0 counting', async () => {
    const port = await freePort();
    sims.push(await startSim(['node', '--kind', 'ollama', '--id', 'h', '--port', String(port), '--fault', 'hang']));
    const config = path.join(tmp.dir, 'c.yaml');
    writeFileSync(config, `nodes:\n  - { id: h, kind: ollama, url: "http://127.0.0.1:${port}", model: "qwen3:8b", timeoutMs: 500, process: false }\n`);
    const r = await cli(['recover', 'h'], config);
    expect(r.stdout).toMatch(/h not recovered/);
    const line = 'last 24 h: h 1, 0 counting';
    expect(r.stdout).toContain(line);
    expect((await cli(['incidents'], config)).stdout).toContain(line);
    const list = JSON.parse((await cli(['incidents', '--json'], config)).stdout) as { window: { nodes: unknown[] } };
    expect(list.window.nodes).toEqual([{ node: 'h', count: 0, recorded: 1, escalated: false }]);
  });
});

describe('words that match what happened', () => {
  it('a recovery verified while another node of the same machine went down during it says so', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const a = await startSim(['node', '--kind', 'ollama', '--id', 'a', '--port', String(pa), '--fault', '500']);
    const b = await startSim(['node', '--kind', 'ollama', '--id', 'b', '--port', String(pb)]);
    sims.push(a, b);
    const start = `[${JSON.stringify(process.execPath)}, ${JSON.stringify(BIN)}, sim, node, --kind, ollama, --id, a, --port, "${pa}"]`;
    const config = path.join(tmp.dir, 'c.yaml');
    // A stop command (the person's word, run as written) that also ends the other node's server.
    writeFileSync(config, `nodes:\n  - { id: a, kind: ollama, url: "http://127.0.0.1:${pa}", model: "qwen3:8b", restart: ${start}, stop: [kill, "${a.child.pid}", "${b.child.pid}"], process: false }\n  - { id: b, kind: ollama, url: "http://127.0.0.1:${pb}", model: "qwen3:8b" }\n`);
    const r = await cli(['recover', 'a', '--json'], config);
    const json = JSON.parse(r.stdout) as RecoverJson & { sameMachineDown?: { node: string; status: string }[] };
    for (const s of json.steps) if (s.pid) pids.push(s.pid);
    expect(json.outcome).toBe('recovered');
    expect(json.sameMachineDown).toEqual([{ node: 'b', status: 'refused' }]);
    const incident = (JSON.parse(readFileSync(path.join(dataDir, 'incidents.json'), 'utf8')) as { incidents: { sameMachineDown?: unknown }[] }).incidents[0]!;
    expect(incident.sameMachineDown).toEqual([{ node: 'b', status: 'refused' }]);
  });
});

describe('a port held by something else', () => {
  it('an unrelated server on the node\'s port is not stopped, and the recovery says why; with the node\'s own `stop`, the person decides', async () => {
    const port = await freePort();
    const squatter = spawn(process.execPath, ['-e', `require('http').createServer((q, s) => { s.statusCode = 500; s.end('{}'); }).listen(${port}, '127.0.0.1', () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise((r) => squatter.stdout.once('data', r));
      const restart = `[${JSON.stringify(process.execPath)}, ${JSON.stringify(BIN)}, sim, node, --kind, ollama, --id, x, --port, "${port}"]`;
      const config = path.join(tmp.dir, 'c.yaml');
      writeFileSync(config, `nodes:\n  - { id: x, kind: ollama, url: "http://127.0.0.1:${port}", model: "qwen3:8b", timeoutMs: 2000, restart: ${restart}, process: false }\n`);
      for (const extra of [['--dry-run'], [], ['--force']]) {
        const r = await recover('x', config, extra);
        expect(r.plan).toMatchObject({ action: 'refused', steps: [] });
        expect(r.plan.reason).toMatch(new RegExp(`^port ${port} is held by pid ${squatter.pid} \\(\`${process.execPath} -e 'require.{100,}\\.\\.\\.\`\\), which is not this node's server \\(it is neither a ollama server nor the node's start command, and jarvis did not start it\\): not stopping it$`));
        expect(r.outcome).toBe(extra[0] === '--dry-run' ? 'planned' : 'not_recovered');
        expect(alive(squatter.pid!)).toBe(true);
      }
      // A node-level `stop` argv is the person's word: it runs (here it stops the squatter).
      writeFileSync(config, `nodes:\n  - { id: x, kind: ollama, url: "http://127.0.0.1:${port}", model: "qwen3:8b", timeoutMs: 2000, restart: ${restart}, stop: [kill, "${squatter.pid}"], process: false }\n`);
      const stopped = await recover('x', config);
      expect(stopped.steps[0]).toMatchObject({ step: 'command', ok: true, label: `stop: kill ${squatter.pid}` });
      expect(stopped.outcome).toBe('recovered');
    } finally {
      await stopChild(squatter);
    }
  });

  it('the process jarvis started for the node (its pid file) is the one the next recovery stops', async () => {
    const port = await freePort();
    const start = (fault?: string) => `[${JSON.stringify(process.execPath)}, ${JSON.stringify(BIN)}, sim, node, ${fault ? `--fault, "${fault}", ` : ''}--kind, ollama, --id, x, --port, "${port}"]`;
    const config = path.join(tmp.dir, 'c.yaml');
    // First a start that comes up broken (500): nothing held the port, so it is started; its verify fails.
    writeFileSync(config, `nodes:\n  - { id: x, kind: ollama, url: "http://127.0.0.1:${port}", model: "qwen3:8b", timeoutMs: 2000, restart: ${start('500')}, process: false }\nrecover: { healthTimeoutMs: 1500 }\n`);
    const first = await recover('x', config);
    const pid = first.steps.find((s) => s.step === 'spawn')!.pid!;
    expect(first.outcome).toBe('not_recovered');
    const record = JSON.parse(readFileSync(path.join(dataDir, 'run', 'x.pid'), 'utf8')) as { pid: number; argv: string[] };
    expect(record).toMatchObject({ pid, argv: [process.execPath, BIN, 'sim', 'node', '--fault', '500', '--kind', 'ollama', '--id', 'x', '--port', String(port)] });
    // The config's start command changes: the old process no longer matches it, but jarvis started it.
    writeFileSync(config, `nodes:\n  - { id: x, kind: ollama, url: "http://127.0.0.1:${port}", model: "qwen3:8b", timeoutMs: 2000, restart: ${start()}, process: false }\n`);
    const second = await recover('x', config);
    expect(second.steps[0]).toMatchObject({ step: 'stop_port', ok: true, label: expect.stringContaining(`pid ${pid} (`), detail: `pid ${pid} stopped (SIGTERM)` });
    expect(second.steps[0]!.label).toContain('jarvis started it for x (pid file)');
    expect(second.outcome).toBe('recovered');
    expect(alive(pid)).toBe(false);
    const now = JSON.parse(readFileSync(path.join(dataDir, 'run', 'x.pid'), 'utf8')) as { pid: number };
    expect(now.pid).toBe(second.steps.find((s) => s.step === 'spawn')!.pid);
    expect(existsSync(path.join(dataDir, 'run'))).toBe(true);
  });
});

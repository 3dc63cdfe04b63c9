/**
 * The operations path at 3 a.m., on the built CLI with real child processes: a restart launcher
 * that exits 0, a program missing from PATH, a stop before the start against a process holding
 * the port, escalation over a series of `check --recover` runs, parallel recoveries, a check
 * command whose child keeps stdout open, and every data file corrupt in every way.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, ROOT, cleanEnv, freePort, jarvis, startSim, tempDir, type RunningSim } from '../helpers/cli.js';

let tmp: ReturnType<typeof tempDir>;
let env: NodeJS.ProcessEnv;
let dataDir: string;
const pids: number[] = [];
const sims: RunningSim[] = [];

interface Step {
  step: string;
  label: string;
  ok: boolean;
  detail?: string;
  output?: string;
  pid?: number;
}
interface RecoverJson {
  outcome: string;
  recovered: boolean;
  steps: Step[];
  incident?: { escalated: boolean; windowCount: number; at: string; durationMs: number };
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

function writeConfig(text: string): string {
  const file = path.join(tmp.dir, 'jarvis.config.yaml');
  writeFileSync(file, text);
  return file;
}

/** The argv that starts a sim Ollama node on `port` in the foreground. */
const simArgv = (port: number, id = 'x') => [process.execPath, BIN, 'sim', 'node', '--kind', 'ollama', '--id', id, '--host', '127.0.0.1', '--port', String(port), '--model', 'qwen3:8b'];
const yamlArgv = (argv: string[]) => `[${argv.map((a) => JSON.stringify(a)).join(', ')}]`;

const recover = async (id: string, config: string, extra: string[] = []) => {
  const r = await jarvis(['recover', id, '--json', '--config', config, '--data-dir', dataDir, ...extra], { env, timeoutMs: 60_000 });
  const json = r.stdout ? (JSON.parse(r.stdout) as RecoverJson) : undefined;
  for (const s of json?.steps ?? []) if (s.pid) pids.push(s.pid);
  return { ...r, json };
};

/** The pid of whatever listens on the port now (the server a launcher started), to stop it after the test. */
async function trackListener(port: number): Promise<void> {
  const { portHolders } = await import('../../src/system/ports.js');
  const { runCommand } = await import('../../src/system/process.js');
  pids.push(...((await portHolders(port, runCommand)) ?? []).map((h) => h.pid));
}

describe('restarts that restart', () => {
  it('a launcher that starts the server in the background and exits 0 is not a crash', async () => {
    const port = await freePort();
    // A wrapper script: starts the server detached, 150 ms later, and exits 0 at once.
    const launcher = path.join(tmp.dir, 'start-server.sh');
    writeFileSync(launcher, `#!/bin/sh\n(sleep 0.15; exec ${simArgv(port).map((a) => `'${a}'`).join(' ')}) > ${tmp.dir}/server.log 2>&1 &\nexit 0\n`);
    chmodSync(launcher, 0o755);
    const config = writeConfig(`nodes:\n  - { id: x, kind: ollama, url: "http://127.0.0.1:${port}", model: "qwen3:8b", restart: [${JSON.stringify(launcher)}], process: false }\nrecover: { healthTimeoutMs: 15000 }\n`);
    const r = await recover('x', config);
    await trackListener(port);
    expect(r.json?.outcome).toBe('recovered');
    const start = r.json!.steps.find((s) => s.step === 'spawn')!;
    expect(start).toMatchObject({ ok: true, detail: expect.stringMatching(/exited 0 \(a launcher\)/) });
    expect(start.label).toBe(`start: ${launcher}`);
    expect(r.code).toBe(0);
  });

  it('a program not on PATH says so, with the cron hint when no terminal ran it, without it by hand; a start that fails shows its error line, not its stack', async () => {
    const port = await freePort();
    const config = writeConfig(
      `nodes:\n  - { id: x, kind: ollama, url: "http://127.0.0.1:${port}", model: "qwen3:8b", restart: [no-such-server-binary, --port, "${port}"], process: false }\n` +
        `  - { id: y, kind: ollama, url: "http://127.0.0.1:${port}", model: "qwen3:8b", restart: ${yamlArgv([process.execPath, '-e', "console.log('starting'); throw new Error('listen EADDRINUSE: address already in use 127.0.0.1:1')"])}, process: false }\n`,
    );
    const missing = await recover('x', config);
    const step = missing.json!.steps.find((s) => s.step === 'spawn')!;
    expect(step).toMatchObject({ ok: false, detail: "no-such-server-binary: not found on PATH (cron's and services' PATH is short: use an absolute path)" });
    // By hand (a terminal on stdin, here script's pty): the program is not on this PATH; cron has nothing to do with it.
    const byHand = spawnSync('script', ['-qc', `${process.execPath} ${BIN} recover x --json --config ${config} --data-dir ${dataDir}`, '/dev/null'], { env, encoding: 'utf8', timeout: 60_000 });
    const json = JSON.parse(byHand.stdout.slice(byHand.stdout.indexOf('{'))) as RecoverJson;
    expect(json.steps.find((s) => s.step === 'spawn')).toMatchObject({ ok: false, detail: 'no-such-server-binary: not found on PATH (exit 127)' });
    const crash = await recover('y', config);
    expect(crash.json!.steps.find((s) => s.step === 'spawn')!.label).toMatch(/^start: \S+ -e 'console\.log/);
    // Said by the start when it dies within its grace (300 ms; a busy machine may take longer to
    // even start node), else by the wait for health: either way with its error line, not its stack.
    const failed = crash.json!.steps.find((s) => !s.ok)!;
    expect(failed.detail).toMatch(/^exited at once \(code 1\)$|^the started process exited \(code 1\) before the node was healthy$/);
    expect(failed.output).toMatch(/EADDRINUSE/);
    expect(failed.output).not.toMatch(/^\s+at |Node\.js v/m);
  });

  it('a node answering 500 with a custom restart: the process holding the port is stopped first, then started anew', async () => {
    // Started as the node's own restart argv would start it: the process on the port is its server.
    const port = await freePort();
    const old = await startSim(simArgv(port).slice(3));
    sims.push(old);
    const url = old.ready.nodes[0]!.url;
    await jarvis(['sim', 'fault', old.ready.control, 'x', '500'], { env });
    const config = writeConfig(`nodes:\n  - { id: x, kind: ollama, url: "${url}", model: "qwen3:8b", restart: ${yamlArgv(simArgv(port))}, process: false }\n`);
    const r = await recover('x', config);
    expect(r.json!.steps.map((s) => s.step)).toEqual(['stop_port', 'spawn', 'wait_healthy', 'verify']);
    expect(r.json!.steps[0]).toMatchObject({ ok: true, label: `stop pid ${old.child.pid} (\`${simArgv(port).join(' ')} --exit-with-parent\`), it runs the node's own start command, on port ${port}`, detail: `pid ${old.child.pid} stopped (SIGTERM)` });
    expect(r.json?.outcome).toBe('recovered');
    // A `stop` argv of its own is used as it is.
    const other = await startSim(['node', '--kind', 'ollama', '--id', 'x', '--model', 'qwen3:8b']);
    sims.push(other);
    const otherUrl = other.ready.nodes[0]!.url;
    await jarvis(['sim', 'fault', other.ready.control, 'x', '502'], { env });
    const withStop = writeConfig(`nodes:\n  - { id: x, kind: ollama, url: "${otherUrl}", model: "qwen3:8b", restart: ${yamlArgv(simArgv(Number(new URL(otherUrl).port)))}, stop: [kill, "${other.child.pid}"], process: false }\n`);
    const again = await recover('x', withStop);
    expect(again.json!.steps[0]).toMatchObject({ step: 'command', ok: true, label: `stop: kill ${other.child.pid}` });
    expect(again.json?.outcome).toBe('recovered');
  });
});

describe('a missing model on Ollama', () => {
  it('is pulled when recover.pullMissing allows it, and only then', async () => {
    const sim = await startSim(['node', '--kind', 'ollama', '--id', 'o', '--model', 'qwen3:8b', '--fault', 'model-missing']);
    sims.push(sim);
    env = { ...env, PATH: `${path.join(ROOT, 'test', 'fixtures', 'bin')}:${process.env.PATH}`, JARVIS_TEST_OLLAMA_CONTROL: `${sim.ready.control}#o` };
    const node = `nodes:\n  - { id: o, kind: ollama, url: "${sim.ready.nodes[0]!.url}", model: "qwen3:8b", process: false }\n`;
    const off = await recover('o', writeConfig(node));
    expect(off.json).toMatchObject({ outcome: 'no_action' });
    const on = await recover('o', writeConfig(`${node}recover: { pullMissing: true }\n`));
    expect(on.json!.steps[0]).toMatchObject({ step: 'command', ok: true, label: 'pull qwen3:8b: ollama pull qwen3:8b' });
    expect(on.json?.outcome).toBe('recovered');
  });
});

describe('escalation means something', () => {
  it('429 and a hang left alone are not incidents that escalate; failed restarts do; ack starts the count afresh', async () => {
    const sim = await startSim(['cluster', '--spec', writeSpec([{ id: 'q', kind: 'openai', models: ['g'], fault: '429:60' }, { id: 'h', kind: 'openai', models: ['m'], fault: 'hang' }])]);
    sims.push(sim);
    const url = (id: string) => sim.ready.nodes.find((n) => n.id === id)!.url;
    // d is down on a port nobody here listens on (9, discard): a sim's `down` node frees its port,
    // which another test's server, started meanwhile in the parallel suite, may take.
    const config = writeConfig(
      `nodes:\n  - { id: q, kind: proxy, url: "${url('q')}", fallbacks: [h] }\n  - { id: h, kind: openai, url: "${url('h')}", timeoutMs: 300, fallbacks: [q] }\n` +
        `  - { id: d, kind: openai, url: "http://127.0.0.1:9", timeoutMs: 5000, restart: [${JSON.stringify(process.execPath)}, -e, "process.exit(1)"], process: false }\n` +
        `check: { confirmDelayMs: 0 }\nrecover: { healthTimeoutMs: 1000 }\n`,
    );
    const check = () => jarvis(['check', '--recover', '--json', '--config', config, '--data-dir', dataDir], { env, timeoutMs: 60_000 });
    const runs = [];
    for (let i = 0; i < 4; i++) runs.push(await check());
    const last = JSON.parse(runs[3]!.stdout) as { nodes: { id: string; escalated: boolean; throttled?: boolean; level: string; recovery?: { action: string; reason: string } }[] };
    const node = (id: string) => last.nodes.find((n) => n.id === id)!;
    expect(node('q')).toMatchObject({ throttled: true, escalated: false, level: 'warning', recovery: { action: 'skipped', reason: expect.stringMatching(/^throttled/) } });
    expect(node('h').escalated).toBe(false);
    expect(node('d').escalated).toBe(true);
    const incidents = (JSON.parse(readFileSync(path.join(dataDir, 'incidents.json'), 'utf8')) as { incidents: { node: string; outcome: string; escalated: boolean }[] }).incidents;
    expect(incidents.filter((i) => i.node === 'q')).toEqual([]);
    expect(incidents.filter((i) => i.node === 'h').every((i) => i.outcome === 'no_action' && !i.escalated)).toBe(true);
    expect(incidents.filter((i) => i.node === 'd').map((i) => i.escalated)).toEqual([false, false, true]);
    // The plain output of a run with nothing new is empty: cron mails nothing.
    const quiet = await jarvis(['check', '--recover', '--config', config, '--data-dir', dataDir], { env, timeoutMs: 60_000 });
    expect(quiet.stdout).not.toMatch(/still .*escalated|q still/);
    // ack: the next failure counts from one, not four.
    expect((await jarvis(['incidents', 'ack', 'd', '--config', config, '--data-dir', dataDir], { env })).code).toBe(0);
    const after = JSON.parse((await check()).stdout) as { nodes: { id: string; escalated: boolean; recovery?: { action: string } }[] };
    expect(after.nodes.find((n) => n.id === 'd')).toMatchObject({ escalated: false, recovery: { action: 'not_recovered' } });
    const d = (JSON.parse(readFileSync(path.join(dataDir, 'incidents.json'), 'utf8')) as { incidents: { node: string; windowCount: number }[] }).incidents.filter((i) => i.node === 'd');
    expect(d.at(-1)!.windowCount).toBe(1);
  });

  it('two dead nodes are recovered at the same time, not one after the other', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    // Each server comes up 1.5 s after its start.
    const slow = (port: number, id: string) => yamlArgv(['sh', '-c', `sleep 1.5; exec ${simArgv(port, id).map((a) => `'${a}'`).join(' ')}`]);
    const config = writeConfig(`nodes:\n  - { id: a, kind: ollama, url: "http://127.0.0.1:${p1}", model: "qwen3:8b", restart: ${slow(p1, 'a')}, process: false }\n  - { id: b, kind: ollama, url: "http://127.0.0.1:${p2}", model: "qwen3:8b", restart: ${slow(p2, 'b')}, process: false }\ncheck: { confirmDelayMs: 0 }\n`);
    const r = await jarvis(['check', '--recover', '--json', '--config', config, '--data-dir', dataDir], { env, timeoutMs: 60_000 });
    await trackListener(p1);
    await trackListener(p2);
    const result = JSON.parse(r.stdout) as { nodes: { id: string; recovery?: { action: string } }[] };
    expect(result.nodes.map((n) => n.recovery?.action)).toEqual(['recovered', 'recovered']);
    const incidents = (JSON.parse(readFileSync(path.join(dataDir, 'incidents.json'), 'utf8')) as { incidents: { node: string; at: string; durationMs: number }[] }).incidents;
    const [first, second] = [...incidents].sort((x, y) => Date.parse(x.at) - Date.parse(y.at));
    // The second began before the first ended.
    expect(Date.parse(second!.at)).toBeLessThan(Date.parse(first!.at) + first!.durationMs);
  });
});

describe('alerts that stay fired', () => {
  it('a generic hook is reminded after its interval, a failed delivery waits in the outbox, a silence window holds everything back', async () => {
    const received: { path: string; alerts: { event: string; node: string }[] }[] = [];
    let down = true;
    const http = await import('node:http');
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        if (down) return void res.writeHead(503).end();
        received.push({ path: req.url ?? '', alerts: (JSON.parse(body) as { alerts: { event: string; node: string }[] }).alerts });
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const sim = await startSim(['node', '--kind', 'ollama', '--id', 'a', '--model', 'qwen3:8b', '--fault', 'down']);
    sims.push(sim);
    try {
      const base = `nodes:\n  - { id: a, kind: ollama, url: "${sim.ready.nodes[0]!.url}", model: "qwen3:8b", timeoutMs: 500 }\ncheck: { confirmDelayMs: 0 }\nalerts:\n  webhooks:\n    - { url: "http://127.0.0.1:${port}/hook", retries: 0, remindEveryMinutes: 30 }\n`;
      const config = writeConfig(base);
      const at = (minutes: number) => ({ ...env, JARVIS_NOW: new Date(Date.parse('2026-12-01T02:00:00Z') + minutes * 60_000).toISOString() });
      const check = (minutes: number, cfg = config) => jarvis(['check', '--config', cfg, '--data-dir', dataDir], { env: at(minutes), timeoutMs: 30_000 });
      // The receiver is down when a goes down: the alert waits in the outbox.
      await check(0);
      expect(received).toHaveLength(0);
      expect(Object.keys((JSON.parse(readFileSync(path.join(dataDir, 'outbox.json'), 'utf8')) as { hooks: object }).hooks)).toHaveLength(1);
      // Back up: the next run delivers what waited, even though nothing changed.
      down = false;
      await check(5);
      expect(received.map((r) => r.alerts.map((a) => `${a.event} ${a.node}`))).toEqual([['down a']]);
      // Nothing new within the reminder interval; a reminder after it.
      await check(20);
      expect(received).toHaveLength(1);
      await check(40);
      expect(received).toHaveLength(2);
      expect(received[1]!.alerts[0]).toMatchObject({ event: 'down', node: 'a' });
      // A maintenance window: no recovery, no alert, and the node does not raise the level.
      const silenced = writeConfig(`${base}maintenance:\n  - { nodes: [a], start: "2026-12-01T02:30:00Z", duration: 2h, every: 24h }\n`);
      const r = await jarvis(['check', '--recover', '--json', '--config', silenced, '--data-dir', dataDir], { env: at(24 * 60 + 90), timeoutMs: 30_000 });
      expect(received).toHaveLength(2);
      const json = JSON.parse(r.stdout) as { level: string; nodes: { silenced?: boolean; recovery?: { action: string; reason: string } }[] };
      expect(json.level).toBe('ok');
      expect(json.nodes[0]).toMatchObject({ silenced: true, recovery: { action: 'skipped', reason: expect.stringMatching(/^maintenance window/) } });
    } finally {
      server.close();
    }
  });
});

describe('a check stopped mid-recovery', () => {
  it('SIGTERM during check --recover: the node being recovered is reported skipped (interrupted), and counts toward nothing', async () => {
    const { spawn } = await import('node:child_process');
    const port = await freePort();
    const config = writeConfig(`nodes:\n  - { id: a, kind: ollama, url: "http://127.0.0.1:${port}", model: "qwen3:8b", restart: [sh, -c, "sleep 20"], process: false }\ncheck: { confirmDelayMs: 0 }\nrecover: { healthTimeoutMs: 30000 }\n`);
    const child = spawn(process.execPath, [BIN, 'check', '--recover', '--json', '--config', config, '--data-dir', dataDir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    // Once the restart is running (its spawn step logs to data/logs/a.log), stop the check.
    for (let i = 0; i < 100; i++) {
      if (existsSync(path.join(dataDir, 'logs', 'a.log'))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).toBe(130);
    const result = JSON.parse(out) as { nodes: { recovery?: { action: string; reason: string } }[] };
    expect(result.nodes[0]!.recovery).toMatchObject({ action: 'skipped', reason: expect.stringMatching(/^interrupted/) });
    // The restart had begun: recorded as interrupted, which never counts toward escalation.
    const incidents = (JSON.parse(readFileSync(path.join(dataDir, 'incidents.json'), 'utf8')) as { incidents: { outcome: string; escalated: boolean; windowCount: number; steps: { pid?: number }[] }[] }).incidents;
    // The restart's process group (sh and its sleep) outlives the check by design: stop it.
    for (const pid of incidents.flatMap((i) => i.steps.map((st) => st.pid).filter((p): p is number => p !== undefined))) {
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    expect(incidents).toMatchObject([{ outcome: 'interrupted', escalated: false, windowCount: 0 }]);
  });
});

describe('hard timeouts', () => {
  it('a check command whose child keeps stdout open ends at its timeout, its process group with it', async () => {
    const config = writeConfig(`nodes:\n  - { id: p, kind: proxy, check: { command: [sh, -c, "sleep 30 & sleep 31"], timeoutMs: 1000 } }\n  - { id: n, kind: proxy, check: { command: [${JSON.stringify(process.execPath)}, -e, "throw new Error('quota exceeded, retry in 42 s')"] } }\n`);
    const r = await jarvis(['status', '--json', '--config', config, '--data-dir', dataDir], { env, timeoutMs: 15_000 });
    expect(r.code).not.toBeNull(); // not killed by the helper's 15 s limit
    const nodes = (JSON.parse(r.stdout) as { nodes: { id: string; status: string; detail?: string }[] }).nodes;
    expect(nodes[0]).toMatchObject({ status: 'timeout' });
    expect(nodes[1]!.detail).toMatch(/quota exceeded, retry in 42 s/);
    expect(nodes[1]!.detail).not.toMatch(/Node\.js v/);
  });
});

describe('data errors do not blind the monitor', () => {
  const nodeLine = (url: string) => `nodes:\n  - { id: a, kind: ollama, url: "${url}", model: "qwen3:8b" }\n`;
  let sim: RunningSim;
  let config: string;
  beforeEach(async () => {
    sim = await startSim(['node', '--kind', 'ollama', '--id', 'a', '--model', 'qwen3:8b']);
    sims.push(sim);
    config = writeConfig(nodeLine(sim.ready.nodes[0]!.url));
    mkdirSync(dataDir, { recursive: true });
  });
  const run = (args: string[]) => jarvis([...args, '--config', config, '--data-dir', dataDir], { env, timeoutMs: 30_000 });

  it.each([
    ['empty', ''],
    ['truncated', '{"cascade": {"nodes": {"a": {"breaker": {"phase": "op'],
    ['not an object', '[1, 2, 3]'],
  ])('state.json %s: set aside once, said once, every command carries on', async (_what, text) => {
    for (const args of [['health', '--json'], ['ask', 'hi'], ['check'], ['reset', 'a'], ['status']]) {
      writeFileSync(path.join(dataDir, 'state.json'), text);
      const r = await run(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stderr.match(/moved aside/g) ?? [], args.join(' ')).toHaveLength(args[0] === 'status' ? 0 : 1);
    }
    expect(readdirSync(dataDir).filter((f) => f.startsWith('state.json.corrupt-')).length).toBeGreaterThanOrEqual(4);
  });

  it('state.json with wrong types: the bad entries are dropped with a warning, nothing crashes or is written back', async () => {
    const bad = { cascade: { nodes: { a: { breaker: { phase: 'open', consecutiveFailures: 3, openUntil: 'zzz', opens: 1 }, successes: 'x', failures: 0, consecutiveFailures: 0, totalRequests: 0 } } }, acks: { a: 'not a date' } };
    writeFileSync(path.join(dataDir, 'state.json'), JSON.stringify(bad));
    const health = await run(['health']);
    expect(health.code).toBe(0);
    expect(health.stderr).toMatch(/cascade\.nodes\.a: not a valid entry/);
    expect(health.stdout).not.toMatch(/NaN/);
    const ask = await run(['ask', 'hi']);
    expect(ask.code).toBe(0);
    const saved = JSON.parse(readFileSync(path.join(dataDir, 'state.json'), 'utf8')) as { cascade: { nodes: Record<string, { breaker: { openUntil?: unknown } }> }; acks?: unknown };
    expect(saved.cascade.nodes.a!.breaker.openUntil).toBeUndefined();
    expect(JSON.stringify(saved)).not.toMatch(/zzz|null/);
  });

  it('incidents.json corrupt: check still probes, restarts nothing, exits UNKNOWN (3) saying it cannot record, and leaves the file as it was', async () => {
    const text = '{"incidents": [ {"node": "a", "at": "2026-';
    writeFileSync(path.join(dataDir, 'incidents.json'), text);
    await jarvis(['sim', 'fault', sim.ready.control, 'a', 'down'], { env });
    const r = await run(['check', '--recover', '--nagios']);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^JARVIS UNKNOWN - 0\/1 ok; a refused; cannot record incidents: .*incidents\.json/);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(readFileSync(path.join(dataDir, 'incidents.json'), 'utf8')).toBe(text);
    const plain = await run(['check', '--recover']);
    expect(plain.stdout).toMatch(/cannot record incidents \(nothing was restarted\)/);
  });

  it('--nagios prints its one line for a config error too', async () => {
    writeFileSync(config, 'nodes: [ {id: broken');
    const r = await run(['check', '--nagios']);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^JARVIS UNKNOWN - .*not valid YAML/);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('an unwritable data dir: exit 3 naming the path, no stack trace', async () => {
    if (process.getuid?.() === 0) {
      // root writes anywhere: a data dir under a regular file cannot be made by anyone.
      writeFileSync(path.join(tmp.dir, 'file'), 'x');
      const r = await jarvis(['ask', 'hi', '--config', config, '--data-dir', path.join(tmp.dir, 'file', 'data')], { env });
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/cannot (read|lock) .*file\/data\/state\.json: ENOTDIR/);
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
      return;
    }
    chmodSync(dataDir, 0o500);
    const r = await run(['ask', 'hi']);
    chmodSync(dataDir, 0o700);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/data dir .* writable/);
  });
});

function writeSpec(nodes: object[]): string {
  const file = path.join(tmp.dir, `spec-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ nodes }));
  return file;
}

describe('a first hour without friction', () => {
  it('config check validates without touching a node; config schema is a JSON Schema init points editors at', async () => {
    const config = writeConfig('nodes:\n  - { id: a, kind: ollama, url: "http://127.0.0.1:9", model: "qwen3:8b" }\n');
    const ok = await jarvis(['config', 'check', config], { env });
    expect(ok).toMatchObject({ code: 0 });
    expect(ok.stdout).toMatch(/valid \(1 node, 0 tasks\)/);
    writeFileSync(config, 'nodes:\n  - { id: a, kind: nope }\n');
    const bad = await jarvis(['config', 'check', config], { env });
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/line 2: nodes\[0\]\.kind: expected one of/);
    const schema = JSON.parse((await jarvis(['config', 'schema'], { env })).stdout) as { type: string; properties: { nodes: { items: { properties: Record<string, unknown> } } } };
    expect(schema.type).toBe('object');
    expect(Object.keys(schema.properties.nodes.items.properties)).toEqual(expect.arrayContaining(['id', 'kind', 'url', 'model', 'priority', 'timeoutMs', 'restart', 'stop', 'apiKeyEnv']));
    const init = await jarvis(['init', '--output', path.join(tmp.dir, 'new.yaml')], { env });
    expect(init.code).toBe(0);
    expect(readFileSync(path.join(tmp.dir, 'new.yaml'), 'utf8').split('\n')[0]).toBe('# yaml-language-server: $schema=./jarvis.schema.json');
    expect(JSON.parse(readFileSync(path.join(tmp.dir, 'jarvis.schema.json'), 'utf8'))).toEqual(schema);
  });

  it('help: global options once in jarvis --help and pointed to from each command; examples; defaults as written', async () => {
    const top = await jarvis(['--help'], { env });
    expect(top.stdout).toMatch(/--config <file>[\s\S]*--data-dir <dir>/);
    const r = await jarvis(['recover', '--help'], { env });
    expect(r.stdout).not.toMatch(/Global Options:/);
    expect(r.stdout).toMatch(/Examples:\n {2}\$ jarvis recover ol1\n/);
    expect(r.stdout.trimEnd()).toMatch(/Global options \(--config, --data-dir, --json, --no-color\): see jarvis --help\.$/);
    const watch = await jarvis(['watch', '--help'], { env });
    expect(watch.stdout).toMatch(/refresh every \(default: 2000\)/);
    expect(watch.stdout).not.toMatch(/default: "/);
  });

  it('completion scripts that the shells themselves accept and run: node ids from the --config on the line, wherever it is; subcommands', async () => {
    const config = writeConfig('nodes:\n  - { id: m2, kind: lmstudio, url: "http://127.0.0.1:9" }\n  - { id: ol1, kind: ollama, url: "http://127.0.0.1:8" }\n');
    const ids = await jarvis(['completion', '--nodes', '--config', config], { env });
    expect(ids.stdout).toBe('m2\nol1\n');
    const { spawnSync } = await import('node:child_process');
    // `jarvis` on the PATH is the built CLI; no config in the directory: only the line says which.
    const shim = path.join(tmp.dir, 'bin');
    mkdirSync(shim);
    writeFileSync(path.join(shim, 'jarvis'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`);
    chmodSync(path.join(shim, 'jarvis'), 0o755);
    const shellEnv = { ...env, PATH: `${shim}:${process.env.PATH}` };
    const script = async (shell: string) => {
      const file = path.join(tmp.dir, `c.${shell}`);
      writeFileSync(file, (await jarvis(['completion', shell], { env })).stdout);
      return file;
    };
    // What each shell offers for a line (its last word being completed), from the shell itself.
    const lines: [string, string[]][] = [
      [`jarvis diagnose --config ${config} o`, ['ol1']],
      [`jarvis --config ${config} recover `, ['m2', 'ol1']],
      [`jarvis incidents ack --config=${config} m`, ['m2']],
      ['jarvis config ', ['check', 'schema']],
      ['jarvis sim f', ['fault']],
      ['jarvis completion z', ['zsh']],
      [`jarvis recover --config ${config} ol1 --f`, ['--force']],
    ];
    const bash = await script('bash');
    expect(spawnSync('bash', ['-c', `source ${bash} && complete -p jarvis`], { encoding: 'utf8' }).stdout).toMatch(/complete -F _jarvis jarvis/);
    for (const [line, want] of lines) {
      const words = line.split(' ');
      const done = spawnSync('bash', ['-c', `source ${bash}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _jarvis; echo "\${COMPREPLY[@]}"`], { encoding: 'utf8', env: shellEnv });
      expect(done.stdout.trim().split(' '), `bash: ${line}`).toEqual(want);
    }
    const fish = spawnSync('fish', ['-v'], { encoding: 'utf8' });
    if (fish.error) console.warn('[skip part] fish not installed: its completion is not run');
    else {
      const file = await script('fish');
      for (const [line, want] of lines) {
        const done = spawnSync('fish', ['-c', `source ${file}; complete -C '${line}'`], { encoding: 'utf8', env: shellEnv });
        expect(done.stdout.trim().split('\n').map((l) => l.split('\t')[0]), `fish: ${line}`).toEqual(want);
      }
    }
    const zsh = spawnSync('zsh', ['--version'], { encoding: 'utf8' });
    if (zsh.error) console.warn('[skip part] zsh not installed: its completion is not run');
    else {
      const file = await script('zsh');
      expect(spawnSync('zsh', ['-n', file], { encoding: 'utf8' }).status).toBe(0);
      // compadd and _describe stand in for the completion system: what they are given, filtered as it would.
      const stubs = 'compadd(){ [[ $1 == -a ]] && print -l -- ${(P)2}; }; _describe(){ print -l -- ${(P)2} | cut -d: -f1; }; _files(){ print FILES; }';
      for (const [line, want] of lines) {
        const words = line.split(' ');
        const done = spawnSync('zsh', ['-c', `${stubs}; source ${file}; words=(${words.map((w) => `'${w}'`).join(' ')}); CURRENT=${words.length}; _jarvis`], { encoding: 'utf8', env: shellEnv });
        const prefix = words.at(-1)!;
        expect(done.stdout.trim().split('\n').filter((w) => w.startsWith(prefix)), `zsh: ${line}`).toEqual(want);
      }
    }
    expect((await jarvis(['completion', 'tcsh'], { env })).code).toBe(2);
  });
});

/**
 * `jarvis check` as cron runs it, across several runs on a simulated cluster: transitions reported
 * once, recovery, escalation stopping automatic restarts until ack, webhooks, overlapping checks,
 * a check killed mid-run.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, jarvis, nextHit, simFault, startSim, tempDir, type RunningSim } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

let tmp: ReturnType<typeof tempDir>;
let env: NodeJS.ProcessEnv;
let sim: RunningSim;
let cfg: string;
let dataDir: string;
const restartedPids: number[] = [];

interface CheckJson {
  level: string;
  exitCode: number;
  changed: boolean;
  nodes: { id: string; status: string; transition: string; recovery?: { action: string; reason: string; escalated?: boolean }; escalated: boolean; level: string }[];
  alerts: { event: string; node: string; dedupKey: string }[];
  deliveries: { url: string; ok: boolean; attempts: number }[];
}

/** A sim cluster of three nodes (a has fallback b), its config plus `extra` top-level YAML. */
async function cluster(faults: string[], extra = ''): Promise<void> {
  const spec = path.join(tmp.dir, 'spec.json');
  writeFileSync(
    spec,
    JSON.stringify({
      nodes: [
        { id: 'a', kind: 'ollama', models: ['qwen3:8b'], fallbacks: [{ node: 'b' }] },
        { id: 'b', kind: 'lmstudio', models: ['mistral'] },
        { id: 'c', kind: 'openai', models: ['m'] },
      ],
    }),
  );
  const out = path.join(tmp.dir, 'sim.yaml');
  sim = await startSim(['cluster', '--spec', spec, '--config-out', out, '--timeout', '500', ...faults.flatMap((f) => ['--fault', f])]);
  cfg = path.join(tmp.dir, 'jarvis.config.yaml');
  writeFileSync(cfg, `${readFileSync(out, 'utf8')}check: { confirmDelayMs: 50 }\n${extra}`);
}

const check = async (...args: string[]) => {
  const r = await jarvis(['check', ...args, '--config', cfg, '--data-dir', dataDir], { env, timeoutMs: 60_000 });
  return r;
};
const checkJson = async (...args: string[]) => {
  const r = await check('--json', ...args);
  const j = JSON.parse(r.stdout) as CheckJson;
  for (const n of j.nodes) if (n.recovery?.action === 'recovered') rememberRestarted();
  return { ...r, json: j };
};

function rememberRestarted(): void {
  const file = path.join(dataDir, 'incidents.json');
  if (!existsSync(file)) return;
  for (const i of (JSON.parse(readFileSync(file, 'utf8')) as { incidents: { steps?: { pid?: number }[] }[] }).incidents) {
    for (const s of i.steps ?? []) if (s.pid && !restartedPids.includes(s.pid)) restartedPids.push(s.pid);
  }
}

beforeEach(() => {
  tmp = tempDir();
  env = cleanEnv(tmp.dir);
  dataDir = path.join(tmp.dir, 'data');
});

afterEach(async () => {
  for (const pid of restartedPids.splice(0)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
  await sim?.stop();
  tmp.cleanup();
});

describe('jarvis check', () => {
  it('reports a transition once: down, silence, resolved; exit codes like a Nagios plugin', async () => {
    await cluster(['a=down']);
    const first = await check();
    expect(first.code).toBe(1); // a is down but its fallback b is healthy: WARNING
    expect(first.stdout).toMatch(/^a DOWN \(refused: connection refused/m);
    expect(first.stdout).toMatch(/JARVIS WARNING - 2\/3 ok; a refused/);

    const second = await check();
    expect(second.code).toBe(1);
    expect(second.stdout).toBe(''); // nothing changed: cron mails nothing

    await jarvis(['sim', 'fault', sim.ready.control, 'a', 'up'], { env });
    const third = await check();
    expect(third.code).toBe(0);
    expect(third.stdout).toMatch(/^a RESOLVED \(was refused\)/m);
    expect((await check()).stdout).toBe('');

    const log = readFileSync(path.join(dataDir, 'check.log'), 'utf8').trim().split('\n');
    expect(log).toHaveLength(4);
    expect(JSON.parse(log[0]!)).toMatchObject({ level: 'warning', nodes: { a: 'refused', b: 'ok', c: 'ok' } });
    const state = JSON.parse(readFileSync(path.join(dataDir, 'state.json'), 'utf8')) as { check: { nodes: Record<string, { status: string }> } };
    expect(state.check.nodes.a!.status).toBe('ok');
  });

  it('CRITICAL when a node is down and nothing can take its work; --nagios prints one line with perf data', async () => {
    await cluster(['b=down', 'c=500']);
    const r = await check('--nagios');
    // a is up, so c's work (the cascade) has somewhere to go; b's fallback... is the cascade too.
    expect(r.code).toBe(1);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toMatch(/^JARVIS WARNING - 1\/3 ok; b refused, c http_error \| ok=1;;;0;3 duration=\d+ms;;;0 'a'=\d+ms;;;0 'b'=U 'c'=U$/m);
    await jarvis(['sim', 'fault', sim.ready.control, 'a', 'down'], { env });
    const all = await check('--nagios');
    expect(all.code).toBe(2);
    expect(all.stdout).toMatch(/^JARVIS CRITICAL - 0\/3 ok; a refused, b refused, c http_error \|/);
  });

  it('a failure that answers when probed again is not an incident', async () => {
    await cluster(['a=slow:700']);
    // The first probe (timeout 500 ms) fails; slow answers are not timeouts on the re-probe... unless
    // they still are: switch it up while the confirmation waits.
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('check: { confirmDelayMs: 50 }', 'check: { confirmDelayMs: 1500 }'));
    const probed = await nextHit(sim.ready.control, 'a');
    const running = checkJson();
    // The first probe has met the slow node (it times out, slow as it came): up for the confirmation.
    await probed();
    await simFault(sim.ready.control, 'a', 'up');
    const { json, code } = await running;
    expect(code).toBe(0);
    expect(json.nodes.find((n) => n.id === 'a')).toMatchObject({ status: 'ok', transition: 'unchanged' });
    expect(json.changed).toBe(false);
  });

  it('--recover brings a node back; escalation stops automatic restarts until ack', async () => {
    const fail = path.join(tmp.dir, 'fail.cjs');
    writeFileSync(fail, "console.error('cannot start'); process.exit(1)");
    await cluster(['a=down', 'c=down']);
    // c cannot be started: its restart fails every time.
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(/(- id: c\n(?: {4}.*\n)*? {4}restart: ).*\n/, `$1[${JSON.stringify(process.execPath)}, ${JSON.stringify(fail)}]\n`));

    const r1 = await checkJson('--recover');
    expect(r1.json.nodes.find((n) => n.id === 'a')!.recovery).toMatchObject({ action: 'recovered' });
    expect(r1.json.nodes.find((n) => n.id === 'c')!.recovery).toMatchObject({ action: 'not_recovered' });
    expect(r1.json.level).toBe('warning'); // c is down, but the cascade (a, b) takes its work
    const r2 = await checkJson('--recover');
    expect(r2.json.nodes.find((n) => n.id === 'a')!.recovery).toBeUndefined();
    const r3 = await checkJson('--recover');
    const c3 = r3.json.nodes.find((n) => n.id === 'c')!;
    expect(c3.recovery).toMatchObject({ action: 'not_recovered', escalated: true });
    expect(r3.json.alerts.map((a) => [a.event, a.node])).toContainEqual(['escalated', 'c']);

    // Escalated: the next checks restart nothing, exit CRITICAL, and print nothing new (cron mails
    // output: an escalation is said once, in the run that escalated); --verbose shows why.
    const human = await check('--recover');
    expect(human.code).toBe(2);
    expect(human.stdout).toBe('');
    const verbose = await check('--recover', '--verbose');
    expect(verbose.stdout).toMatch(/escalated .* not restarted automatically until `jarvis incidents ack c`/);
    const count = () => (JSON.parse(readFileSync(path.join(dataDir, 'incidents.json'), 'utf8')) as { incidents: { node: string }[] }).incidents.filter((i) => i.node === 'c').length;
    expect(count()).toBe(3);

    expect((await jarvis(['incidents', 'ack', 'C', '--config', cfg, '--data-dir', dataDir], { env })).code).toBe(0);
    const r5 = await checkJson('--recover');
    expect(r5.json.nodes.find((n) => n.id === 'c')!.recovery).toMatchObject({ action: 'not_recovered' });
    expect(count()).toBe(4);
  });

  it('webhooks: generic and Alertmanager bodies on down/resolved; a failing webhook is tolerated and logged', async () => {
    const received: { path: string; body: unknown }[] = [];
    let failing = 0;
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        if (req.url === '/broken') {
          failing++;
          res.writeHead(500).end('nope');
          return;
        }
        received.push({ path: req.url ?? '', body: JSON.parse(body) as unknown });
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    try {
      await cluster(
        ['b=down'],
        [
          'alerts:',
          '  webhooks:',
          `    - { url: "http://127.0.0.1:${port}/generic" }`,
          `    - { url: "http://127.0.0.1:${port}/api/v2/alerts", format: alertmanager }`,
          `    - { url: "http://127.0.0.1:${port}/broken", retries: 1 }`,
          '',
        ].join('\n'),
      );
      const down = await check();
      expect(down.code).toBe(1); // b is down; a and c take its work
      expect(down.stderr).toMatch(/webhook http:\/\/127\.0\.0\.1:\d+\/broken failed after 2 attempt\(s\): HTTP 500/);
      expect(failing).toBe(2);
      const generic = received.find((r) => r.path === '/generic')!.body as { source: string; alerts: { event: string; node: string; status: string; dedupKey: string; severity: string }[] };
      expect(generic).toMatchObject({ source: 'jarvis', alerts: [{ event: 'down', node: 'b', status: 'refused', dedupKey: 'jarvis/b/refused', severity: 'warning' }] });
      const am = received.find((r) => r.path === '/api/v2/alerts')!.body as { labels: Record<string, string>; annotations: Record<string, string>; startsAt?: string; endsAt?: string }[];
      expect(am[0]).toMatchObject({ labels: { alertname: 'JarvisNodeDown', node: 'b', severity: 'warning', dedup_key: 'jarvis/b/refused' } });
      expect(Date.parse(am[0]!.startsAt!)).not.toBeNaN();

      // Unchanged: the generic hook hears nothing new; Alertmanager gets the firing alert again
      // (it resolves alerts that are not re-sent); the failed delivery is retried from the outbox.
      received.length = 0;
      await check();
      expect(received.map((r) => r.path)).toEqual(['/api/v2/alerts']);
      expect((received[0]!.body as { labels: Record<string, string>; startsAt: string }[])[0]).toMatchObject({ labels: { dedup_key: 'jarvis/b/refused' }, startsAt: am[0]!.startsAt });
      expect(failing).toBe(4);
      received.length = 0;

      await jarvis(['sim', 'fault', sim.ready.control, 'b', 'up'], { env });
      const up = await check();
      expect(up.code).toBe(0); // the failing webhook does not change the exit code
      const resolved = received.find((r) => r.path === '/api/v2/alerts')!.body as { labels: Record<string, string>; endsAt?: string }[];
      expect(resolved[0]!.labels.dedup_key).toBe('jarvis/b/refused');
      expect(Date.parse(resolved[0]!.endsAt!)).not.toBeNaN();
      const log = readFileSync(path.join(dataDir, 'check.log'), 'utf8');
      expect(log).toMatch(/"deliveries":\[\{"url":"http:\/\/127\.0\.0\.1:\d+\/broken","ok":false/);
    } finally {
      server.close();
    }
  });

  it('two overlapping checks: the second says UNKNOWN (3) and who holds the lock; a check killed mid-run leaves valid data and a recoverable lock', async () => {
    // Nobody to take over (a's fallback b and the rest of the cascade all hang): critical.
    await cluster(['a=hang', 'b=hang', 'c=hang']);
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('check: { confirmDelayMs: 50 }', 'check: { confirmDelayMs: 3000 }'));
    await check(); // a first state.json
    const first = spawn(process.execPath, [BIN, 'check', '--config', cfg, '--data-dir', dataDir], { env, stdio: 'ignore' });
    try {
      // The first holds the lock (its owner record is written once it does).
      await waitFor(() => existsSync(path.join(dataDir, 'locks', 'check.owner.json')), { what: "the first check's lock", intervalMs: 20 });
      const second = await check();
      expect(second.code).toBe(3);
      expect(second.stderr).toMatch(new RegExp(`another check is running \\(held by pid ${first.pid} since`));

      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
      // Data is whole, and the dead holder's lock does not block the next check.
      expect(() => JSON.parse(readFileSync(path.join(dataDir, 'state.json'), 'utf8')) as unknown).not.toThrow();
      const next = await check('--json');
      expect(next.code).toBe(2);
      expect((JSON.parse(next.stdout) as CheckJson).level).toBe('critical');
    } finally {
      if (first.exitCode === null) first.kill('SIGKILL');
    }
  });
});

/**
 * The remote restart path against a real OpenSSH server on 127.0.0.1, started by the test with
 * temp keys (Debian's openssh-server; .ci/run installs it). Skipped, with the reason printed,
 * where sshd is not installed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, cleanEnv, freePort, jarvis, startSim, tempDir } from '../helpers/cli.js';

const SSHD = ['/usr/sbin/sshd', '/usr/bin/sshd'].find((p) => existsSync(p));
const STANDINS = path.join(ROOT, 'test', 'fixtures', 'bin');
const hasKeygen = spawnSync('ssh-keygen', ['-?']).error === undefined;
const reason = !SSHD ? 'sshd not installed (apt-get install openssh-server)' : !hasKeygen ? 'ssh-keygen not installed' : '';
if (reason) console.warn(`[skip] ssh tests: ${reason}`);

let tmp: ReturnType<typeof tempDir>;
let sshd: ChildProcess | undefined;
let sshPort = 0;
let sshdLog = '';

function waitForPort(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve();
      });
      s.on('error', () => (Date.now() > deadline ? reject(new Error(`sshd did not listen: ${sshdLog}`)) : setTimeout(attempt, 100)));
    };
    attempt();
  });
}

beforeAll(async () => {
  if (reason) return;
  tmp = tempDir('jarvis-ssh-');
  const k = (name: string) => path.join(tmp.dir, name);
  for (const [file, type] of [
    ['host_key', 'ed25519'],
    ['client_key', 'ed25519'],
  ] as const) {
    const r = spawnSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', k(file)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
  }
  writeFileSync(k('authorized_keys'), readFileSync(k('client_key.pub')));
  sshPort = await freePort();
  writeFileSync(
    k('sshd_config'),
    [
      `Port ${sshPort}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${k('host_key')}`,
      `AuthorizedKeysFile ${k('authorized_keys')}`,
      `PidFile ${k('sshd.pid')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'PermitRootLogin prohibit-password',
      `AllowUsers ${userInfo().username}`,
      'LogLevel ERROR',
      // The remote side's tools: the stand-in nvidia-smi (two GPUs) first on its PATH.
      `SetEnv PATH=${STANDINS}:/usr/local/bin:/usr/bin:/bin JARVIS_TEST_GPU=two JARVIS_TEST_JOURNAL=${k('remote-journal.txt')} JARVIS_TEST_LMS_PS=qwen3-30b-a3b`,
      '',
    ].join('\n'),
  );
  // Privilege separation directory that Debian's sshd expects.
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true });
  sshd = spawn(SSHD!, ['-D', '-e', '-f', k('sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  sshd.stderr!.on('data', (d: Buffer) => (sshdLog += d.toString()));
  await waitForPort(sshPort, 10_000);
});

afterAll(async () => {
  if (sshd && sshd.exitCode === null) {
    sshd.kill('SIGTERM');
    await new Promise((r) => sshd!.once('exit', r));
  }
  tmp?.cleanup();
});


/** A node's `ssh:` block (YAML lines) for this test's sshd, as this user, with its key. */
const sshLines = () => [
  '    ssh:',
  `      target: ${userInfo().username}@127.0.0.1`,
  `      port: ${sshPort}`,
  `      identityFile: ${path.join(tmp.dir, 'client_key')}`,
  '      options: [-o, StrictHostKeyChecking=no, -o, UserKnownHostsFile=/dev/null, -o, LogLevel=ERROR]',
];
describe.skipIf(Boolean(reason))('jarvis recover over ssh', () => {
  it('restarts a remote node in the background over ssh (BatchMode, key auth), then verifies', async () => {
    const id = `remote${process.pid}`;
    const port = await freePort();
    const remoteLog = `/tmp/jarvis-${id}.log`;
    const cfg = path.join(tmp.dir, 'jarvis.config.yaml');
    const restart = [process.execPath, BIN, 'sim', 'node', '--kind', 'ollama', '--id', id, '--port', String(port), '--model', 'qwen3:8b'];
    writeFileSync(
      cfg,
      [
        'nodes:',
        `  - id: ${id}`,
        '    kind: ollama',
        `    url: http://127.0.0.1:${port}`,
        '    model: qwen3:8b',
        '    timeoutMs: 1000',
        `    restart: ${JSON.stringify(restart)}`,
        ...sshLines(),
        '',
      ].join('\n'),
    );
    const env = cleanEnv(tmp.dir);
    let simPid: number | undefined;
    try {
      const r = await jarvis(['recover', id, '--json', '--config', cfg, '--data-dir', path.join(tmp.dir, 'data')], { env, timeoutMs: 60_000 });
      const j = JSON.parse(r.stdout) as { outcome: string; plan: { steps: { kind: string; argv?: string[] }[] }; steps: { ok: boolean; label: string; detail?: string }[]; verification?: { ok: boolean } };
      // The sim started on the "remote" side prints its ready line (with its pid) into the remote log.
      if (existsSync(remoteLog)) simPid = (JSON.parse(readFileSync(remoteLog, 'utf8').split('\n')[0]!) as { pid: number }).pid;
      expect(j.plan.steps[0]!.argv!.slice(0, 5)).toEqual(['ssh', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5']);
      expect(j.plan.steps[0]!.argv!.at(-1)).toMatch(/^nohup .* > \/tmp\/jarvis-remote\d+\.log 2>&1 < \/dev\/null &$/);
      expect(j.steps.map((s) => s.ok)).toEqual([true, true, true]);
      expect(j.outcome).toBe('recovered');
      expect(r.code).toBe(0);
      expect(simPid).toBeGreaterThan(0);
    } finally {
      if (simPid) {
        try {
          process.kill(simPid, 'SIGTERM');
        } catch {
          // gone already
        }
      }
      rmSync(remoteLog, { force: true });
    }
  });

  it('an ssh failure (wrong key) is reported, not hidden, and the node is not recovered', async () => {
    const port = await freePort();
    const cfg = path.join(tmp.dir, 'bad.yaml');
    writeFileSync(
      cfg,
      `nodes:\n  - { id: r2, kind: lmstudio, url: "http://127.0.0.1:${port}", timeoutMs: 500, process: false, ssh: { target: "nobody-here@127.0.0.1", port: ${sshPort}, options: [-o, StrictHostKeyChecking=no, -o, UserKnownHostsFile=/dev/null, -o, LogLevel=ERROR, -o, IdentitiesOnly=yes, -o, IdentityFile=/dev/null] } }\n`,
    );
    const r = await jarvis(['recover', 'r2', '--json', '--config', cfg, '--data-dir', path.join(tmp.dir, 'data')], { env: cleanEnv(tmp.dir), timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    const j = JSON.parse(r.stdout) as { outcome: string; steps: { ok: boolean; detail?: string; output?: string }[] };
    expect(j.outcome).toBe('not_recovered');
    expect(j.steps[0]).toMatchObject({ ok: false, detail: 'exit 255' });
    expect(j.steps[0]!.output).toMatch(/Permission denied/);
  });
});

describe.skipIf(Boolean(reason))('evidence over ssh', () => {
  it("diagnose reads the remote GPU, the remote log's error lines and process, and the server's loaded models, within its timeout", async () => {
    const sim = await startSim(['node', '--kind', 'ollama', '--id', 'gpu1', '--model', 'qwen3:8b', '--fault', 'http:500']);
    const log = path.join(tmp.dir, 'remote-ollama.log');
    writeFileSync(log, ['time=2026-12-02T03:00:01Z level=INFO msg="starting llama server"', 'ggml_backend_cuda_buffer_type_alloc_buffer: allocating 9216.00 MiB on device 0: cudaMalloc failed: out of memory', '[GIN] 2026/12/02 - 03:00:05 | 500 |  1.2s | 127.0.0.1 | POST "/api/chat"', ''].join('\n'));
    const cfg = path.join(tmp.dir, 'evidence.yaml');
    writeFileSync(
      cfg,
      [
        'nodes:',
        '  - id: gpu1',
        '    kind: ollama',
        `    url: ${sim.ready.nodes[0]!.url}`,
        '    timeoutMs: 1000',
        // pgrep -x sshd: certainly alive on the "remote" side.
        '    process: sshd',
        `    logFile: ${log}`,
        ...sshLines(),
        'evidence: { timeoutMs: 8000 }',
        '',
      ].join('\n'),
    );
    try {
      // This side has no nvidia-smi on its PATH: what comes back was read over ssh.
      const r = await jarvis(['diagnose', 'gpu1', '--json', '--config', cfg, '--data-dir', path.join(tmp.dir, 'data')], { env: cleanEnv(tmp.dir), timeoutMs: 60_000 });
      const j = JSON.parse(r.stdout) as { diagnosis: { rule: string; cause: string; evidence: string }; evidence: { gpu: { ok: boolean; source: string; gpus: { utilizationPct?: number; temperatureC?: number }[] }; logs: { ok: boolean; file: string; ageS: number; errors: { kind: string }[] }; process: { alive: boolean }; models: { ok: boolean; models: { name: string }[] } } };
      expect(j.evidence.gpu).toMatchObject({ ok: true, source: expect.stringMatching(/^nvidia-smi on 127\.0\.0\.1 \(ssh /) as string });
      expect(j.evidence.gpu.gpus.map((g) => g.utilizationPct)).toEqual([97, 3]);
      expect(j.evidence.gpu.gpus[1]!.temperatureC).toBeUndefined();
      expect(j.evidence.logs).toMatchObject({ ok: true, file: `${log} on 127.0.0.1 (ssh ${userInfo().username}@127.0.0.1)` });
      expect(j.evidence.logs.errors.map((e) => e.kind)).toEqual(['oom']);
      expect(j.evidence.logs.ageS).toBeLessThan(60);
      expect(j.evidence.process.alive).toBe(true);
      expect(j.evidence.models.ok).toBe(false); // the server answers 500 to everything
      expect(j.diagnosis).toMatchObject({ rule: 'out-of-vram-5xx', cause: 'out of VRAM' });
      expect(j.diagnosis.evidence).toMatch(/GPU 0 97 %.*cudaMalloc failed: out of memory/);
    } finally {
      await sim.stop();
    }
  });

  it("an LM Studio without the REST API: `lms ps --json` over ssh; a systemd unit's journal over ssh", async () => {
    // An OpenAI-style server stands for an older LM Studio: /v1/models answers, /api/v0/models is a 404.
    const sim = await startSim(['node', '--kind', 'openai', '--id', 'old', '--model', 'qwen3-30b-a3b']);
    writeFileSync(path.join(tmp.dir, 'remote-journal.txt'), `${new Date(Date.now() - 5000).toISOString().replace(/\.\d+Z$/, '+0000')} m1 lmstudio[77]: [ERROR] Failed to load model: ROCm error: out of memory\n`);
    const cfg = path.join(tmp.dir, 'evidence-lms.yaml');
    writeFileSync(
      cfg,
      [
        'nodes:',
        '  - id: m1',
        '    kind: lmstudio',
        `    url: ${sim.ready.nodes[0]!.url}`,
        '    systemdUnit: lmstudio',
        ...sshLines(),
        'evidence: { timeoutMs: 8000 }',
        '',
      ].join('\n'),
    );
    try {
      const r = await jarvis(['diagnose', 'm1', '--json', '--config', cfg, '--data-dir', path.join(tmp.dir, 'data')], { env: cleanEnv(tmp.dir), timeoutMs: 60_000 });
      const j = JSON.parse(r.stdout) as { evidence: { models: { ok: boolean; source: string; models: { name: string }[] }; logs: { ok: boolean; file: string; errors: { kind: string }[]; ageS: number } } };
      expect(j.evidence.models).toMatchObject({ ok: true, source: expect.stringMatching(/^lms ps --json on 127\.0\.0\.1 \(ssh /) as string, models: [{ name: 'qwen3-30b-a3b' }] });
      expect(j.evidence.logs).toMatchObject({ ok: true, file: 'journalctl -u lmstudio', errors: [{ kind: 'oom' }] });
      expect(j.evidence.logs.ageS).toBeLessThan(120);
    } finally {
      await sim.stop();
    }
  });
});

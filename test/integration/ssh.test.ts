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
import { BIN, cleanEnv, freePort, jarvis, tempDir } from '../helpers/cli.js';

const SSHD = ['/usr/sbin/sshd', '/usr/bin/sshd'].find((p) => existsSync(p));
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
        '    ssh:',
        `      target: ${userInfo().username}@127.0.0.1`,
        `      port: ${sshPort}`,
        `      identityFile: ${path.join(tmp.dir, 'client_key')}`,
        '      options: [-o, StrictHostKeyChecking=no, -o, UserKnownHostsFile=/dev/null, -o, LogLevel=ERROR]',
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

/**
 * Ctrl-C and SIGTERM are not node faults, and any terminal is a terminal: `status`, `check` and
 * `diagnose` cut by a signal while a node hangs record nothing about it (no history sample, no
 * state) and say "interrupted"; `status` in a 0-column pty (`script -qc`) prints a bounded answer
 * and ends, and SIGTERM ends it mid-probe.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, tempDir } from '../helpers/cli.js';

let tmp: ReturnType<typeof tempDir>;
let env: NodeJS.ProcessEnv;
let hung: Server;
const sockets = new Set<Socket>();
let config: string;
let dataDir: string;

beforeEach(async () => {
  tmp = tempDir();
  env = cleanEnv(tmp.dir);
  dataDir = path.join(tmp.dir, 'data');
  // A node that accepts connections and never answers.
  hung = createServer((s) => sockets.add(s));
  await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
  config = path.join(tmp.dir, 'jarvis.config.yaml');
  writeFileSync(config, `nodes:\n  - { id: h, kind: openai, url: "http://127.0.0.1:${(hung.address() as AddressInfo).port}", timeoutMs: 20000 }\ncheck: { confirmDelayMs: 0 }\n`);
});

afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await new Promise((r) => hung.close(r));
  tmp.cleanup();
});

/** Everything a run left in the data dir that says something about the node. */
function recorded(): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of existsSync(d) ? readdirSync(d, { withFileTypes: true }) : []) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else found.push(`${path.relative(dataDir, p)}: ${readFileSync(p, 'utf8').slice(0, 200)}`);
    }
  };
  walk(dataDir);
  return found;
}

/** The jarvis process among the descendants of `root` (through a pty: script, then a shell, then node). */
function jarvisUnder(root: number): number {
  const parent = new Map<number, number>();
  const argv = new Map<number, string[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      argv.set(Number(e), readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0'));
    } catch {
      // gone meanwhile
    }
  }
  const under = (pid: number): boolean => pid === root || (pid > 1 && parent.has(pid) && under(parent.get(pid)!));
  return [...argv].find(([pid, a]) => a[1] === BIN && pid !== root && under(pid))?.[0] ?? 0;
}

/** Runs jarvis with `args`, sends `signal` once the probe is waiting on the hung node, and collects. */
async function cut(args: string[], signal: NodeJS.Signals, wrapper: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // A wrapper carries the whole command line itself (script -qc "...").
  const argv = wrapper.length > 0 ? wrapper : [process.execPath, BIN, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'], detached: wrapper.length > 0 });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    while (sockets.size === 0 && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    // Through a pty, the signal goes to jarvis (the pty's child), as a terminal's Ctrl-C would.
    const target = wrapper.length > 0 ? jarvisUnder(child.pid!) : child.pid!;
    expect(target, `no jarvis under ${child.pid} (exit ${child.exitCode}): ${stdout} ${stderr}`).toBeGreaterThan(0);
    process.kill(target, signal);
    const code = await new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', (c) => r(c))));
    return { code, stdout, stderr };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

describe('a signal mid-probe records nothing about the node', () => {
  it.each([
    ['status', ['status']],
    ['status --json', ['status', '--json']],
    ['check', ['check']],
    ['check --recover', ['check', '--recover']],
    ['diagnose h', ['diagnose', 'h']],
  ])('%s, SIGINT and SIGTERM: exit 130, "interrupted", no history sample, no state', async (_what, args) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const r = await cut([...args, '--config', config, '--data-dir', dataDir], signal);
      expect(r.code).toBe(130);
      expect(r.stderr).toMatch(/interrupted/);
      // No verdict on the node: an aborted probe is not a timeout, a bad response or a diagnosis.
      expect(r.stdout).not.toMatch(/bad.response|timeout|cause|hung/);
      expect(r.stdout).toBe('');
      expect(recorded()).toEqual([]);
      for (const s of sockets) s.destroy();
      sockets.clear();
    }
  });
});

describe.skipIf(spawnSync('script', ['--version']).status !== 0)('a terminal of 0 columns (script -qc)', () => {
  it('status prints a bounded answer and ends; SIGTERM ends it mid-probe', async () => {
    writeFileSync(config, readFileSync(config, 'utf8').replace('timeoutMs: 20000', 'timeoutMs: 1500'));
    const cmd = `${process.execPath} ${BIN} status --config ${config} --data-dir ${dataDir}`;
    // Run asynchronously: the hung node (in this process) must see its connection while it happens.
    const done = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn('script', ['-qc', cmd, '/dev/null'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.once('close', (code) => resolve({ code, stdout }));
    });
    expect(done.stdout.length).toBeLessThan(2000);
    expect(done.stdout).toMatch(/h\s+openai\s+1\s+timeout/);
    writeFileSync(config, readFileSync(config, 'utf8').replace('timeoutMs: 1500', 'timeoutMs: 20000'));
    for (const s of sockets) s.destroy();
    sockets.clear();
    const r = await cut(['status', '--config', config, '--data-dir', dataDir], 'SIGTERM', ['script', '-qc', cmd, '/dev/null']);
    expect(r.stdout.length).toBeLessThan(2000);
    // It ended (the pty closed with it), having printed no endless redraw.
    expect(r.code).not.toBeNull();
  });
});

/** Runs the built CLI as a real process, and simulated clusters as real processes. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = path.join(ROOT, 'bin', 'jarvis.js');

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** A temp dir removed by the returned cleanup. */
export function tempDir(prefix = 'jarvis-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** An environment without the caller's jarvis settings or real home config. */
export function cleanEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('JARVIS_') && k !== 'FORCE_COLOR' && k !== 'NO_COLOR' && k !== 'XDG_CONFIG_HOME') env[k] = v;
  }
  return { ...env, HOME: home, NO_COLOR: '1', ...extra };
}

/** Runs `jarvis ...args` (optionally through a wrapper such as unshare) and collects its output. */
export function jarvis(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; wrapper?: string[]; timeoutMs?: number } = {}): Promise<RunResult> {
  const started = performance.now();
  const [cmd, ...pre] = options.wrapper ?? [];
  const file = cmd ?? process.execPath;
  const argv = cmd ? [...pre, process.execPath, BIN, ...args] : [BIN, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { env: options.env ?? process.env, cwd: options.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

export interface SimReady {
  event: 'ready';
  pid: number;
  control: string;
  config?: string;
  nodes: { id: string; kind: string; url: string; model?: string; fault: string }[];
}

export interface RunningSim {
  child: ChildProcess;
  ready: SimReady;
  stop: () => Promise<void>;
}

/** Starts `jarvis sim ...` as its own process and waits for its ready line. */
export async function startSim(args: string[]): Promise<RunningSim> {
  const child = spawn(process.execPath, [BIN, 'sim', ...args, '--exit-with-parent'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  const lines = createInterface({ input: child.stdout });
  const ready = await new Promise<SimReady>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sim did not start: ${stderr}`)), 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sim exited with ${code}: ${stderr}`));
    });
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line) as SimReady);
    });
  }).catch(async (error: unknown) => {
    await stop();
    throw error;
  });
  return { child, ready, stop };
}

/** A loopback port that was free a moment ago (nothing listens there: connections are refused). */
export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface ServeListening {
  event: 'listening';
  url: string;
  pid: number;
  v8Flags: string[];
}

export interface RunningServe {
  child: ChildProcess;
  url: string;
  listening: ServeListening;
  /** Everything it wrote on stderr so far. */
  log: () => string;
  /** Resolves when a line matching `pattern` appears on stderr (rejects after `timeoutMs`). */
  waitForLog: (pattern: RegExp, timeoutMs?: number) => Promise<void>;
  /** SIGTERM, then the exit code (SIGKILL after 10 s). */
  stop: () => Promise<number | null>;
}

/** `jarvis serve --json` on a free port, once it has said where it listens. */
export async function startServe(options: { config: string; dataDir: string; env: NodeJS.ProcessEnv; args?: string[] }): Promise<RunningServe> {
  const child = spawn(process.execPath, [BIN, 'serve', '--json', '--port', '0', '--config', options.config, '--data-dir', options.dataDir, ...(options.args ?? [])], { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const watchers = new Set<() => void>();
  child.stderr.on('data', (d: Buffer) => {
    log += d.toString();
    if (process.env.DEBUG_SERVE) process.stderr.write(d);
    for (const w of watchers) w();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  const waitForLog = (pattern: RegExp, timeoutMs = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!pattern.test(log)) return;
        watchers.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        watchers.delete(check);
        reject(new Error(`serve never logged ${pattern}; log:\n${log}`));
      }, timeoutMs);
      watchers.add(check);
      check();
    });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      void exited.then((code) => reject(new Error(`serve exited ${code}: ${log}`)));
      createInterface({ input: child.stdout }).once('line', resolve);
    });
    const listening = JSON.parse(line) as ServeListening;
    return { child, url: listening.url, listening, log: () => log, waitForLog, stop };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

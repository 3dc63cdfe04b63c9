/** Runs the built CLI as a real process, and simulated clusters as real processes. */
import { waitFor } from './wait.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach } from 'vitest';
import { load } from 'js-yaml';
import { startReady, stopChild } from '../../src/system/children.js';
import { freePort } from './ports.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = path.join(ROOT, 'bin', 'jarvis.js');
export { stopChild };

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
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

interface SimReady {
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

/**
 * Starts `jarvis sim ...` as its own process and waits for its ready line. Its nodes listen on
 * ports from helpers/ports.ts where the arguments name none: a node switched down, or killed
 * and restarted by a recovery, keeps its port free of other suites' servers.
 */
export async function startSim(args: string[]): Promise<RunningSim> {
  const child = spawn(process.execPath, [BIN, 'sim', ...(await withPorts(args)), '--exit-with-parent'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const ready = await startReady<SimReady>(child, { what: 'sim', event: 'ready', stderr: () => stderr });
  return { child, ready, stop: async () => void (await stopChild(child)) };
}

/** `sim node` with a `--port`; `sim cluster --spec F` with a spec whose nodes each have a port. */
async function withPorts(args: string[]): Promise<string[]> {
  if (args[0] === 'node') return args.includes('--port') ? args : [...args, '--port', String(await freePort())];
  const at = args.indexOf('--spec');
  if (args[0] !== 'cluster' || at < 0) return args;
  const file = args[at + 1]!;
  const spec = load(readFileSync(file, 'utf8')) as { nodes: { port?: number }[] };
  for (const node of spec.nodes) node.port ??= await freePort();
  const ported = `${file}.ports.json`;
  writeFileSync(ported, JSON.stringify(spec));
  return args.map((a, i) => (i === at + 1 ? ported : a));
}

/**
 * Waits for a running serve's first health round (a second after it starts, whatever its
 * interval): a test that wants no probe during its requests starts them after it.
 */
export function probedOnce(url: string, headers: Record<string, string> = {}): Promise<void> {
  return waitFor(async () => /^jarvis_probe_up\{/m.test(await (await fetch(`${url}/metrics`, { headers })).text()), { what: "serve's first health round", intervalMs: 50 });
}

/**
 * Switches a running sim's node to `fault` through its control server: at once, where
 * `jarvis sim fault` first starts a process (a second or more on a busy machine).
 */
export async function simFault(control: string, node: string, fault: string): Promise<void> {
  const res = await fetch(`${control}/nodes/${encodeURIComponent(node)}/fault`, { method: 'POST', body: fault });
  if (res.status !== 200) throw new Error(`sim fault ${node} ${fault}: ${res.status} ${await res.text()}`);
}

/** Requests a running sim's node has had so far (for `path`, or all), from its control server. */
async function simHits(control: string, node: string, path?: string): Promise<number> {
  const described = (await (await fetch(`${control}/nodes`)).json()) as { nodes: { id: string; hits?: Record<string, number> }[] };
  const hits = described.nodes.find((n) => n.id === node)?.hits ?? {};
  return path === undefined ? Object.values(hits).reduce((a, b) => a + b, 0) : (hits[path] ?? 0);
}

/**
 * The next request a sim node gets, awaited: call before the request is sent, await the result
 * once it is (instead of sleeping and hoping it has arrived on a busy machine).
 */
export async function nextHit(control: string, node: string, path?: string): Promise<() => Promise<void>> {
  const before = await simHits(control, node, path);
  return () => waitFor(async () => (await simHits(control, node, path)) > before, { what: `a request to sim node ${node}${path ? ` ${path}` : ''}`, intervalMs: 20 });
}

/**
 * A simulated cluster of `nodes` in `dir` (its spec file there) and a config pointing at every
 * node (`jarvis.config.yaml`, each with `timeoutMs`, then `extra` YAML lines).
 */
export async function startCluster(dir: string, nodes: { id: string; kind: string; models: string[]; fault?: string; tokenDelayMs?: number; closeAfterStream?: boolean }[], options: { timeoutMs: number; extra?: string }): Promise<{ sim: RunningSim; cfg: string }> {
  const spec = path.join(dir, 'spec.json');
  writeFileSync(spec, JSON.stringify({ nodes }));
  const sim = await startSim(['cluster', '--spec', spec]);
  const cfg = path.join(dir, 'jarvis.config.yaml');
  writeFileSync(cfg, `nodes:\n${sim.ready.nodes.map((n) => `  - { id: ${n.id}, kind: ${n.kind}, url: "${n.url}", timeoutMs: ${options.timeoutMs} }`).join('\n')}\n${options.extra ?? ''}`);
  return { sim, cfg };
}

/** A loopback port nothing listens on (connections are refused), given to no other test file running now. */
export { freePort };

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
export async function startServe(options: { config: string; dataDir: string; env: NodeJS.ProcessEnv; args?: string[]; wrapper?: string[] }): Promise<RunningServe> {
  const argv = [BIN, 'serve', '--json', '--port', '0', '--config', options.config, '--data-dir', options.dataDir, ...(options.args ?? [])];
  const [cmd, ...pre] = options.wrapper ?? [];
  const child = cmd ? spawn(cmd, [...pre, process.execPath, ...argv], { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(process.execPath, argv, { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const watchers = new Set<() => void>();
  child.stderr.on('data', (d: Buffer) => {
    log += d.toString();
    if (process.env.DEBUG_SERVE) process.stderr.write(d);
    for (const w of watchers) w();
  });
  const stop = () => stopChild(child, 10_000);
  const waitForLog = (pattern: RegExp, timeoutMs = 30_000) =>
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
  const listening = await startReady<ServeListening>(child, { what: 'serve', event: 'listening', stderr: () => log });
  return { child, url: listening.url, listening, log: () => log, waitForLog, stop };
}

/** What a test started: its temp dir, and the cluster and proxy it ran (stopped after it). */
export interface TestRun {
  dir: string;
  sim: RunningSim | undefined;
  serve: RunningServe | undefined;
}

/** A fresh temp dir for each test of the file; the sim and serve it sets are stopped and the dir removed after the test. */
export function perTest(): TestRun {
  const run: TestRun = { dir: '', sim: undefined, serve: undefined };
  let cleanup = () => undefined as void;
  beforeEach(() => {
    ({ dir: run.dir, cleanup } = tempDir());
  });
  afterEach(async () => {
    await run.serve?.stop();
    await run.sim?.stop();
    run.serve = run.sim = undefined;
    cleanup();
  });
  return run;
}

/** Stops every server the recoveries recorded in `dataDir`'s incident log started (their step pids). */
export function stopRestarted(dataDir: string): void {
  const file = path.join(dataDir, 'incidents.json');
  if (!existsSync(file)) return;
  const { incidents } = JSON.parse(readFileSync(file, 'utf8')) as { incidents: { steps?: { pid?: number }[] }[] };
  for (const pid of incidents.flatMap((i) => (i.steps ?? []).flatMap((st) => (st.pid ? [st.pid] : [])))) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
}

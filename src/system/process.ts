/**
 * The one door to child processes. Commands are argv arrays run without a shell, always with a
 * timeout; values from config never become shell text. execa is loaded on first use so that
 * commands which spawn nothing do not pay for it at start-up.
 */

export interface CommandResult {
  argv: string[];
  /** Exit code; undefined when the process did not exit by itself (killed, not found). */
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  canceled: boolean;
  /** The program was not found (ENOENT). */
  notFound: boolean;
  /** Spawn error or signal, when there was no exit code. */
  error?: string;
  durationMs: number;
}

interface RunOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Runs a command to completion. Never throws for a failing command: the result says how it ended. */
export type CommandRunner = (argv: readonly string[], options: RunOptions) => Promise<CommandResult>;

export const runCommand: CommandRunner = async (argv, options) => {
  const [file, ...args] = argv;
  if (!file) throw new Error('runCommand: empty argv');
  const { execa } = await import('execa');
  const started = performance.now();
  // Its own process group, killed whole at the timeout: a child that leaves a grandchild holding
  // stdout (`sh -c "sleep 30 & ..."`) would otherwise keep the command running past its timeout.
  const group = process.platform !== 'win32';
  if (options.signal?.aborted) return { argv: [...argv], exitCode: undefined, stdout: '', stderr: '', timedOut: false, canceled: true, notFound: false, error: 'canceled before it started', durationMs: 0 };
  const sub = execa(file, args, {
    reject: false,
    // Where jarvis kills the process group itself (below), execa is given no cancel signal: on a
    // child whose program was not found, execa's kill() reaches a process handle without a pid,
    // and libuv sends the signal to pid 0, jarvis's own process group (Ctrl-C during `diagnose`
    // on a machine without nvidia-smi sent SIGTERM to the shell's whole pipeline).
    ...(!group && { timeout: options.timeoutMs, forceKillAfterDelay: 1000 }),
    ...(!group && options.signal && { cancelSignal: options.signal }),
    ...(options.env && { env: options.env }),
    ...(options.cwd && { cwd: options.cwd }),
    detached: group,
    stdin: 'ignore',
    windowsHide: true,
    maxBuffer: 1 << 20,
    stripFinalNewline: true,
  });
  let timedOut = false;
  const killGroup = (signal: NodeJS.Signals) => {
    if (sub.pid === undefined) return;
    try {
      process.kill(-sub.pid, signal);
    } catch {
      // already gone
    }
  };
  let force: NodeJS.Timeout | undefined;
  const stop = () => {
    killGroup('SIGTERM');
    force = setTimeout(() => killGroup('SIGKILL'), 1000);
  };
  const timer = group
    ? setTimeout(() => {
        timedOut = true;
        stop();
      }, options.timeoutMs)
    : undefined;
  const onAbort = () => stop();
  if (group) options.signal?.addEventListener('abort', onAbort, { once: true });
  const r = await sub;
  clearTimeout(timer);
  clearTimeout(force);
  options.signal?.removeEventListener('abort', onAbort);
  const notFound = (r as { code?: string }).code === 'ENOENT';
  const exitCode = timedOut ? undefined : r.exitCode;
  return {
    argv: [...argv],
    exitCode,
    stdout: typeof r.stdout === 'string' ? r.stdout : '',
    stderr: typeof r.stderr === 'string' ? r.stderr : '',
    timedOut: timedOut || r.timedOut,
    canceled: r.isCanceled || Boolean(options.signal?.aborted),
    notFound,
    ...(exitCode === undefined && { error: notFound ? `${file}: command not found` : timedOut ? `timed out after ${options.timeoutMs} ms` : r.signal ? `killed by ${r.signal}` : r.shortMessage }),
    durationMs: Math.round(performance.now() - started),
  };
};

/** Quotes one argument for POSIX sh (the one quoting rule: ssh's remote command line, display, completion scripts). */
export function shQuote(arg: string): string {
  if (/^[\w@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Quotes argv for display only (never executed through a shell). */
export function displayArgv(argv: readonly string[]): string {
  return argv.map(shQuote).join(' ');
}

export interface SpawnedProcess {
  pid: number | undefined;
  /** Resolves when it exits (it may never, for a server). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts a long-running server detached from jarvis (it outlives this process), its stdout and
 * stderr appended to `logFile`. No shell.
 */
export async function spawnDetached(argv: readonly string[], options: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string }): Promise<SpawnedProcess> {
  const [{ spawn }, { openSync, closeSync }, path, { ensureDir, ioError }] = await Promise.all([import('node:child_process'), import('node:fs'), import('node:path'), import('./files.js')]);
  const [file, ...args] = argv;
  if (!file) throw new Error('spawnDetached: empty argv');
  await ensureDir(path.dirname(options.logFile));
  let fd: number;
  try {
    fd = openSync(options.logFile, 'a');
  } catch (error) {
    throw ioError(error, options.logFile, 'open the log');
  }
  try {
    const child = spawn(file, args, { detached: true, stdio: ['ignore', fd, fd], env: options.env ?? process.env, ...(options.cwd && { cwd: options.cwd }), windowsHide: true });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('error', () => resolve({ code: 127, signal: null }));
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    child.unref();
    return { pid: child.pid, exited };
  } finally {
    closeSync(fd);
  }
}

/**
 * Which local processes listen on a TCP port, what they are (pid, command line, every port they
 * listen on), and stopping exactly those a recovery showed to be the node's own server. Linux
 * reads the socket tables and the process table in /proc; elsewhere `lsof` and `ps` answer.
 * Deciding whether a process is the node's server is not done here (runbook/ownership.ts).
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { CommandRunner } from './process.js';

/** A process that listens on a port. */
export interface PortHolder {
  pid: number;
  /** Its command line; empty when it cannot be read. */
  argv: string[];
  /** Its executable (Linux: /proc/PID/exe), when readable. */
  exe?: string;
  /** Every TCP port it listens on, sorted. */
  ports: number[];
}

/** Listening sockets' inodes and their ports, from /proc/net/tcp or tcp6 (state 0A is LISTEN). */
export function listeningSockets(table: string): Map<string, number> {
  const sockets = new Map<string, number>();
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== '0A') continue;
    const local = f[1]!;
    sockets.set(f[9]!, Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16));
  }
  return sockets;
}

/** A /proc/PID/cmdline: NUL-separated arguments. */
export function parseCmdline(raw: string): string[] {
  return raw.split('\0').filter((a, i, all) => a !== '' || i < all.length - 1);
}

async function linuxHolders(port: number): Promise<PortHolder[]> {
  const tables = await Promise.all(['/proc/net/tcp', '/proc/net/tcp6'].map((f) => readFile(f, 'utf8').catch(() => '')));
  const sockets = new Map<string, number>();
  for (const t of tables) for (const [inode, p] of listeningSockets(t)) sockets.set(`socket:[${inode}]`, p);
  if (![...sockets.values()].includes(port)) return [];
  const holders: PortHolder[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fds = await readdir(`/proc/${entry}/fd`).catch(() => [] as string[]);
    const ports = new Set<number>();
    for (const fd of fds) {
      const p = sockets.get(await readlink(`/proc/${entry}/fd/${fd}`).catch(() => ''));
      if (p !== undefined) ports.add(p);
    }
    if (!ports.has(port)) continue;
    const [cmdline, exe] = await Promise.all([readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => ''), readlink(`/proc/${entry}/exe`).catch(() => undefined)]);
    holders.push({ pid: Number(entry), argv: parseCmdline(cmdline), ...(exe && { exe }), ports: [...ports].sort((a, b) => a - b) });
  }
  return holders;
}

/** `lsof -F pn` output: `p<pid>` lines, each followed by `n<address>:<port>` lines. */
export function parseLsof(stdout: string): Map<number, Set<number>> {
  const byPid = new Map<number, Set<number>>();
  let pid: number | undefined;
  for (const line of stdout.split('\n')) {
    if (line.startsWith('p')) {
      pid = Number(line.slice(1));
      if (!byPid.has(pid)) byPid.set(pid, new Set());
    } else if (line.startsWith('n') && pid !== undefined) {
      const p = Number(line.slice(line.lastIndexOf(':') + 1));
      if (Number.isInteger(p)) byPid.get(pid)!.add(p);
    }
  }
  return byPid;
}

async function lsofHolders(port: number, run: CommandRunner): Promise<PortHolder[] | undefined> {
  const r = await run(['lsof', '-nP', '-iTCP', '-sTCP:LISTEN', '-F', 'pn'], { timeoutMs: 5000 });
  if (r.notFound) return undefined;
  const holders: PortHolder[] = [];
  for (const [pid, ports] of parseLsof(r.stdout)) {
    if (!ports.has(port)) continue;
    // ps joins the arguments with spaces: an argument with a space cannot be told apart here.
    const ps = await run(['ps', '-o', 'command=', '-p', String(pid)], { timeoutMs: 5000 });
    holders.push({ pid, argv: ps.exitCode === 0 ? ps.stdout.trim().split(/\s+/).filter(Boolean) : [], ports: [...ports].sort((a, b) => a - b) });
  }
  return holders;
}

/** The processes listening on `port` on this machine; undefined when it cannot tell. */
export async function portHolders(port: number, run: CommandRunner, platform: NodeJS.Platform = process.platform): Promise<PortHolder[] | undefined> {
  if (platform === 'linux') return linuxHolders(port);
  return lsofHolders(port, run);
}

/** The program a holder runs: the executable's name, else its argv[0]'s. */
export function programOf(holder: Pick<PortHolder, 'argv' | 'exe'>): string {
  return path.basename(holder.exe ?? holder.argv[0] ?? '');
}

/** Is `holder` still the same process (its pid not reused by another program)? */
export function sameProcess(now: PortHolder, then: Pick<PortHolder, 'pid' | 'argv'>): boolean {
  return now.pid === then.pid && now.argv.length === then.argv.length && now.argv.every((a, i) => a === then.argv[i]);
}

function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

export interface PortStop {
  /** The processes signalled. */
  pids: number[];
  /** Those that needed SIGKILL after the grace period. */
  killed: number[];
  /** Something still listens (a process we may not signal, or one that came back). */
  stillListening: boolean;
  /** Listeners of the port that were not the ones the plan named (a new one since): left alone. */
  strangers: PortHolder[];
}

/**
 * Stops exactly the processes `expected` (the plan's, shown to be the node's server) that still
 * listen on `port` with the same command line: SIGTERM, up to `graceMs` for the port to be free,
 * then SIGKILL for those left. A process on the port that the plan did not name is never
 * signalled. Undefined when the listeners cannot be found on this machine.
 */
export async function stopHolders(port: number, expected: readonly Pick<PortHolder, 'pid' | 'argv'>[], graceMs: number, deps: { run: CommandRunner; sleep: (ms: number) => Promise<void> }): Promise<PortStop | undefined> {
  const now = await portHolders(port, deps.run);
  if (!now) return undefined;
  const ours = now.filter((h) => expected.some((e) => sameProcess(h, e)));
  const strangers = now.filter((h) => !ours.includes(h));
  const stillOurs = async () => ((await portHolders(port, deps.run)) ?? []).filter((h) => ours.some((o) => sameProcess(h, o)));
  for (const h of ours) signal(h.pid, 'SIGTERM');
  let waited = 0;
  while (ours.length > 0 && waited < graceMs && (await stillOurs()).length > 0) {
    await deps.sleep(100);
    waited += 100;
  }
  const killed = (await stillOurs()).filter((h) => signal(h.pid, 'SIGKILL')).map((h) => h.pid);
  for (let i = 0; i < 20 && killed.length > 0 && (await stillOurs()).length > 0; i++) await deps.sleep(100);
  const listening = ((await portHolders(port, deps.run)) ?? []).length > 0;
  return { pids: ours.map((h) => h.pid), killed, stillListening: listening, strangers };
}

/**
 * Which local processes listen on a TCP port, and stopping them: the stop step of a restart when
 * a node has no `stop` command of its own (a custom `restart` argv starts a server; something
 * must end the old one, or the new one fails with EADDRINUSE). Linux reads the socket table in
 * /proc; elsewhere `lsof` answers.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import type { CommandRunner } from './process.js';

/** Listening sockets' inodes for `port`, from /proc/net/tcp and tcp6 (state 0A is LISTEN). */
export function listeningInodes(table: string, port: number): string[] {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes: string[] = [];
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const local = f[1]!;
    if (local.slice(local.lastIndexOf(':') + 1) === hex && f[3] === '0A') inodes.push(f[9]!);
  }
  return inodes;
}

async function linuxListeners(port: number): Promise<number[]> {
  const tables = await Promise.all(['/proc/net/tcp', '/proc/net/tcp6'].map((f) => readFile(f, 'utf8').catch(() => '')));
  const inodes = new Set(tables.flatMap((t) => listeningInodes(t, port)).map((i) => `socket:[${i}]`));
  if (inodes.size === 0) return [];
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fds = await readdir(`/proc/${entry}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const link = await readlink(`/proc/${entry}/fd/${fd}`).catch(() => '');
      if (inodes.has(link)) {
        pids.push(Number(entry));
        break;
      }
    }
  }
  return pids;
}

/** PIDs of the processes listening on `port` on this machine; undefined when it cannot tell. */
export async function listenersOf(port: number, run: CommandRunner, platform: NodeJS.Platform = process.platform): Promise<number[] | undefined> {
  if (platform === 'linux') return linuxListeners(port);
  const r = await run(['lsof', '-nP', `-iTCP:${port}`, '-sTCP:LISTEN', '-t'], { timeoutMs: 5000 });
  if (r.notFound) return undefined;
  return r.stdout
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
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
  /** Who listened on the port. */
  pids: number[];
  /** Those that needed SIGKILL after the grace period. */
  killed: number[];
  /** Something still listens (a process we may not signal, or one that came back). */
  stillListening: boolean;
}

/**
 * Stops whatever listens on `port`: SIGTERM, then up to `graceMs` for the port to be free, then
 * SIGKILL. Done when nothing listens any more (a process that exited but is not reaped yet holds
 * no socket). Undefined when the listeners cannot be found on this machine.
 */
export async function stopListeners(port: number, graceMs: number, deps: { run: CommandRunner; sleep: (ms: number) => Promise<void> }): Promise<PortStop | undefined> {
  const pids = await listenersOf(port, deps.run);
  if (!pids) return undefined;
  const listening = async () => ((await listenersOf(port, deps.run)) ?? []).length > 0;
  for (const pid of pids) signal(pid, 'SIGTERM');
  let waited = 0;
  while (waited < graceMs && (await listening())) {
    await deps.sleep(100);
    waited += 100;
  }
  const left = (await listenersOf(port, deps.run)) ?? [];
  const killed = left.filter((pid) => signal(pid, 'SIGKILL'));
  for (let i = 0; i < 20 && killed.length > 0 && (await listening()); i++) await deps.sleep(100);
  return { pids, killed, stillListening: await listening() };
}

/**
 * Where a recovery command runs: on this machine, or on the node's machine over ssh. Commands stay
 * argv arrays; over ssh they must become one command line for the remote shell, so each argument
 * is quoted for POSIX sh here, in one tested place, and config values are never pasted raw.
 */
import type { NodeConfig } from '../config/schema.js';
import { isLoopbackHost } from '../probe/endpoints.js';
import { shQuote } from '../system/process.js';

export type Target = { kind: 'local' } | { kind: 'ssh'; target: string; port?: number; identityFile?: string; connectTimeoutS: number; options: string[] };

/** Is the node on this machine? */
function isLocalNode(node: NodeConfig): boolean {
  return node.host === undefined || isLoopbackHost(node.host);
}

/** The machine a node runs on, as a key (every loopback name is this machine); undefined when unknown. */
export function machineOf(node: NodeConfig): string | undefined {
  if (node.host === undefined) return undefined;
  return isLoopbackHost(node.host) ? 'localhost' : node.host.toLowerCase();
}

/** Where this node's commands run: ssh when configured, this machine when local, else nowhere. */
export function targetFor(node: NodeConfig): Target | undefined {
  if (node.ssh) {
    return {
      kind: 'ssh',
      target: node.ssh.target,
      ...(node.ssh.port !== undefined && { port: node.ssh.port }),
      ...(node.ssh.identityFile !== undefined && { identityFile: node.ssh.identityFile }),
      connectTimeoutS: node.ssh.connectTimeoutS ?? 5,
      options: node.ssh.options ?? [],
    };
  }
  return isLocalNode(node) ? { kind: 'local' } : undefined;
}

export interface RemoteOptions {
  env?: Record<string, string>;
  /** Start it in the background with nohup, output to this remote file (a long-running server). */
  background?: { logFile: string };
}

/**
 * The local argv that runs `argv` on the target. ssh runs non-interactively (BatchMode: never a
 * password prompt at 3 a.m. from cron) with a connect timeout.
 */
export function commandOn(target: Target, argv: readonly string[], options: RemoteOptions = {}): string[] {
  if (target.kind === 'local') return [...argv];
  const envPrefix = options.env && Object.keys(options.env).length > 0 ? ['env', ...Object.entries(options.env).map(([k, v]) => `${k}=${v}`)] : [];
  let remote = [...envPrefix, ...argv].map(shQuote).join(' ');
  if (options.background) remote = `nohup ${remote} > ${shQuote(options.background.logFile)} 2>&1 < /dev/null &`;
  return [
    'ssh',
    '-o',
    'BatchMode=yes',
    '-o',
    `ConnectTimeout=${target.connectTimeoutS}`,
    ...(target.port !== undefined ? ['-p', String(target.port)] : []),
    ...(target.identityFile !== undefined ? ['-i', target.identityFile] : []),
    ...target.options,
    target.target,
    '--',
    remote,
  ];
}

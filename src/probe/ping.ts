/**
 * The runbook's host check: ping the machine to tell "service down, machine up" from "machine
 * down". Flags and output differ per platform (docs/protocols.md); argument building and output
 * reading are pure so they can be tested for every platform on any platform.
 */
import type { CommandResult, CommandRunner } from '../system/process.js';

export interface HostCheck {
  host: string;
  /** true: the machine answered; false: it did not; null: we could not tell (no ping binary, error). */
  reachable: boolean | null;
  detail: string;
  /** Round trip reported by ping, when it answered. */
  rttMs?: number;
  command: string[];
}

/** argv for one echo request with a timeout, per platform. */
export function pingArgv(platform: NodeJS.Platform, host: string, timeoutMs: number): string[] {
  const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
  const v6 = host.includes(':');
  switch (platform) {
    case 'win32':
      // -w is in milliseconds; the exit code is 0 even for "Destination host unreachable".
      return ['ping', '-n', '1', '-w', String(Math.max(1, Math.round(timeoutMs))), ...(v6 ? ['-6'] : []), host];
    case 'darwin':
    case 'freebsd':
    case 'openbsd':
      // -t is the overall timeout in seconds; IPv6 needs ping6 on older macOS.
      return v6 ? ['ping6', '-c', '1', host] : ['ping', '-c', '1', '-t', seconds, host];
    default:
      // iputils: -W is the reply timeout in seconds.
      return ['ping', ...(v6 ? ['-6'] : []), '-c', '1', '-W', seconds, host];
  }
}

/** Reads ping's result. Windows needs the output (`TTL=`); elsewhere the exit code says it. */
export function parsePing(platform: NodeJS.Platform, host: string, result: CommandResult): HostCheck {
  const base = { host, command: result.argv };
  const out = `${result.stdout}\n${result.stderr}`;
  if (result.notFound) return { ...base, reachable: null, detail: 'no ping command on this machine: host check unknown' };
  if (result.timedOut) return { ...base, reachable: false, detail: 'ping got no reply before its timeout' };
  const rtt = /time[=<]\s*([\d.]+)\s*ms/i.exec(out);
  const rttMs = rtt ? Number(rtt[1]) : undefined;
  if (platform === 'win32') {
    if (/TTL=/i.test(out)) return { ...base, reachable: true, detail: 'the machine answers ping', ...(rttMs !== undefined && { rttMs }) };
    if (/could not find host/i.test(out)) return { ...base, reachable: null, detail: 'ping could not resolve the host name' };
    const why = /unreachable/i.test(out) ? 'destination host unreachable' : /timed out/i.test(out) ? 'request timed out' : 'no reply';
    return { ...base, reachable: false, detail: `the machine does not answer ping (${why})` };
  }
  if (result.exitCode === 0) return { ...base, reachable: true, detail: 'the machine answers ping', ...(rttMs !== undefined && { rttMs }) };
  if (/unknown host|cannot resolve|Name or service not known|Temporary failure in name resolution|nodename nor servname/i.test(out)) {
    return { ...base, reachable: null, detail: 'ping could not resolve the host name' };
  }
  if (/Operation not permitted|permission denied|socket: /i.test(out) && !/unreachable/i.test(out)) {
    return { ...base, reachable: null, detail: `ping is not allowed here: ${firstLine(out)}` };
  }
  if (/Network is unreachable|No route to host|Destination Host Unreachable/i.test(out)) {
    return { ...base, reachable: false, detail: `the machine does not answer ping (${firstLine(out)})` };
  }
  // iputils: 1 = no reply, 2 = other error; BSD/macOS: 2 = no reply.
  if (result.exitCode === 1 || (result.exitCode === 2 && platform !== 'linux')) {
    return { ...base, reachable: false, detail: 'the machine does not answer ping' };
  }
  return { ...base, reachable: null, detail: `ping failed: ${firstLine(out) || result.error || `exit ${result.exitCode}`}` };
}

/** Pings `host` once. Never throws: a missing binary or an odd failure is `reachable: null`. */
export async function checkHost(
  host: string,
  options: { timeoutMs: number; signal?: AbortSignal; run: CommandRunner; platform?: NodeJS.Platform },
): Promise<HostCheck> {
  const platform = options.platform ?? process.platform;
  const argv = pingArgv(platform, host, options.timeoutMs);
  try {
    const result = await options.run(argv, { timeoutMs: options.timeoutMs + 1500, ...(options.signal && { signal: options.signal }) });
    return parsePing(platform, host, result);
  } catch (error) {
    return { host, command: argv, reachable: null, detail: `ping could not run: ${(error as Error).message}` };
  }
}

function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? ''
  );
}

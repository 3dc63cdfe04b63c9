/**
 * What a collector found, or why it could not tell: every collector returns one of these and
 * never throws or hangs (bounded() enforces both), so evidence only ever adds to a diagnosis.
 */
import type { CommandResult } from '../../system/process.js';

export type UnknownReason = 'missing' | 'permission' | 'timeout' | 'unsupported' | 'failed';

export interface Unknown {
  ok: false;
  reason: UnknownReason;
  /** In words: which tool, where, what it said. */
  detail: string;
}

export type Finding<T> = ({ ok: true; source: string } & T) | Unknown;

export const unknown = (reason: UnknownReason, detail: string): Unknown => ({ ok: false, reason, detail });

/** Why a command gave nothing usable: not installed (here or on the remote side), not allowed, too slow, or its own words. */
export function commandUnknown(r: CommandResult, tool: string, where: string): Unknown {
  const said = firstLine(r.stderr) || firstLine(r.stdout);
  if (r.notFound || r.exitCode === 127) return unknown('missing', `${tool} is not installed on ${where}`);
  if (r.timedOut) return unknown('timeout', `${tool} on ${where} did not answer in time`);
  if (r.exitCode === 126 || /permission denied|not permitted|insufficient permissions/i.test(said)) return unknown('permission', `${tool} on ${where}: permission denied${said ? ` (${said})` : ''}`);
  if (r.exitCode === 255 && r.argv[0] === 'ssh') return unknown('failed', `ssh to ${where} failed${said ? `: ${said}` : ''}`);
  return unknown('failed', `${tool} on ${where} failed (${r.exitCode !== undefined ? `exit ${r.exitCode}` : (r.error ?? 'no exit code')})${said ? `: ${said}` : ''}`);
}

export function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim()) ?? '';
  return line.trim().slice(0, 200);
}

/**
 * A collector's promise held to `ms`: past it, a timeout finding, and the work is cancelled
 * through `abort`; an exception becomes a failed finding.
 */
export async function bounded<T>(what: string, ms: number, work: (signal: AbortSignal) => Promise<Finding<T>>, parent?: AbortSignal): Promise<Finding<T>> {
  const controller = new AbortController();
  const onParent = () => controller.abort();
  parent?.addEventListener('abort', onParent, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Unknown>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve(unknown('timeout', `${what}: nothing within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([work(controller.signal).catch((error: unknown) => unknown('failed', `${what}: ${(error as Error).message}`)), late]);
  } finally {
    clearTimeout(timer);
    parent?.removeEventListener('abort', onParent);
  }
}

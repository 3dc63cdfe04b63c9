/**
 * What changed since the last check: cron should hear about a node going down or coming back,
 * not the same news every five minutes. Pure.
 */
import type { ProbeStatus } from '../probe/classify.js';
import type { NodeCheckState } from '../store/state-file.js';

export type Transition = 'down' | 'resolved' | 'changed' | 'unchanged';

/** Compares a node's previous recorded state with its status now. */
export function transitionOf(previous: NodeCheckState | undefined, now: ProbeStatus): Transition {
  const wasOk = previous === undefined || previous.status === 'ok';
  const isOk = now === 'ok';
  if (wasOk && !isOk) return 'down';
  if (!wasOk && isOk) return 'resolved';
  if (!isOk && previous && previous.status !== now) return 'changed';
  return 'unchanged';
}

/** The state to record for a node after this check. */
export function nextState(previous: NodeCheckState | undefined, status: ProbeStatus, at: string, detail?: string): NodeCheckState {
  const sameHealth = previous !== undefined && (previous.status === 'ok') === (status === 'ok');
  return { status, since: sameHealth ? previous.since : at, lastCheck: at, ...(detail && { detail }) };
}

/** Nagios plugin exit codes. */
export const NagiosCode = { ok: 0, warning: 1, critical: 2, unknown: 3 } as const;
export type NagiosLevel = keyof typeof NagiosCode;

export const NAGIOS_LABEL: Record<NagiosLevel, string> = { ok: 'OK', warning: 'WARNING', critical: 'CRITICAL', unknown: 'UNKNOWN' };

export function worst(levels: NagiosLevel[]): NagiosLevel {
  return levels.reduce<NagiosLevel>((a, b) => (NagiosCode[b] > NagiosCode[a] ? b : a), 'ok');
}

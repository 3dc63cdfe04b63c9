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

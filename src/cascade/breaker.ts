/**
 * Per-node circuit breaker: CLOSED; OPEN after `failureThreshold` consecutive
 * failures; HALF_OPEN once the open time has passed (one trial request: success closes, failure
 * re-opens with a longer open time, capped). Pure: time comes in as arguments.
 */

import type { BreakerPhase, BreakerState } from '../store/health-record.js';

export type { BreakerPhase, BreakerState };

export interface BreakerSettings {
  failureThreshold: number;
  /** First open time. */
  recoveryMs: number;
  /** Cap on the growing open time. */
  maxRecoveryMs: number;
}

/** Frozen: shared by every closed breaker (a success on a busy proxy allocates none). */
export const CLOSED: BreakerState = Object.freeze({ phase: 'closed', consecutiveFailures: 0, opens: 0 });

/** The phase at `now`: an open breaker whose time has passed is half-open. */
export function phaseAt(b: BreakerState, now: number): BreakerPhase {
  if (b.phase === 'open' && b.openUntil !== undefined && now >= b.openUntil) return 'half_open';
  return b.phase;
}

export function allows(b: BreakerState, now: number): boolean {
  return phaseAt(b, now) !== 'open';
}

export function onSuccess(_b: BreakerState): BreakerState {
  return CLOSED;
}

export function onFailure(b: BreakerState, now: number, s: BreakerSettings): BreakerState {
  const phase = phaseAt(b, now);
  const failures = b.consecutiveFailures + 1;
  if (phase === 'half_open' || (phase === 'closed' && failures >= s.failureThreshold)) {
    const opens = phase === 'half_open' ? b.opens + 1 : 1;
    const openMs = Math.min(s.recoveryMs * 2 ** (opens - 1), s.maxRecoveryMs);
    return { phase: 'open', consecutiveFailures: failures, openUntil: now + openMs, opens };
  }
  return { ...b, consecutiveFailures: failures };
}

/**
 * A quota (429 with Retry-After): the node is skipped until then, without a failure counted or
 * the open time growing; a trial follows as after any opening.
 */
export function onQuota(b: BreakerState, until: number, now: number): BreakerState {
  if (phaseAt(b, now) === 'open' && (b.openUntil ?? 0) >= until) return b;
  return { phase: 'open', consecutiveFailures: b.consecutiveFailures, openUntil: until, opens: b.opens, quota: true };
}

/**
 * What the cascade remembers per node between runs (state.json, section `cascade`): its breaker and
 * its counts. A run records outcomes as events; they are replayed onto the stored state under the
 * lock, so two processes asking at once both count (the store replays them with `healthFold`). Pure.
 */
import { onQuota, CLOSED, onFailure, onSuccess, phaseAt, type BreakerSettings } from './breaker.js';
import type { HealthEvent, HealthFold, NodeHealth } from '../store/health-record.js';

export type { HealthEvent, NodeHealth } from '../store/health-record.js';

const FRESH: NodeHealth = { breaker: CLOSED, successes: 0, failures: 0, consecutiveFailures: 0, totalRequests: 0 };

export function applyEvent(h: NodeHealth | undefined, e: HealthEvent, s: BreakerSettings): NodeHealth {
  const base = h ?? FRESH;
  if (e.halfOpen) {
    const b = base.breaker;
    return b.phase === 'open' && (b.openUntil ?? Infinity) > e.at ? { ...base, breaker: { ...b, openUntil: e.at } } : base;
  }
  if (e.ok) return countSuccesses({ ...base }, e.times ?? 1);
  const next: NodeHealth = { ...base, totalRequests: base.totalRequests + 1, lastError: e.error ?? 'failed', lastErrorAt: new Date(e.at).toISOString() };
  if (!e.counts) return e.quotaUntil !== undefined ? opened(base, { ...next, breaker: onQuota(base.breaker, e.quotaUntil, e.at) }, e.at) : next;
  return opened(base, { ...next, breaker: onFailure(base.breaker, e.at, s), failures: base.failures + 1, consecutiveFailures: base.consecutiveFailures + 1 }, e.at);
}

/** `next`, stamped with the time when its breaker opened at `at` (it was not open before). */
function opened(base: NodeHealth, next: NodeHealth, at: number): NodeHealth {
  if (next.breaker.phase === 'open' && phaseAt(base.breaker, at) !== 'open') next.openedAt = at;
  return next;
}

/** `n` successes counted on `h` itself (a proxy's own copy: no new objects per request). */
export function countSuccesses(h: NodeHealth, n: number): NodeHealth {
  h.breaker = onSuccess(h.breaker);
  h.successes += n;
  h.totalRequests += n;
  h.consecutiveFailures = 0;
  return h;
}

export function successRate(h: NodeHealth | undefined): number {
  if (!h || h.successes + h.failures === 0) return 1;
  return h.successes / (h.successes + h.failures);
}

/**
 * Seed 001's health shape for one node. `success_rate` is the share of all its requests that
 * were answered: a request that failed without counting against the node (a model it does not
 * serve, a quota) is not a success either, so four `model_missing` are 0 %, not 100 %. The state
 * weighs only what counts against the node (as the breaker and the balancer do).
 */
export function healthView(h: NodeHealth | undefined, now: number): { state: 'healthy' | 'degraded' | 'circuit_open' | 'half_open'; success_rate: number; consecutive_failures: number; total_requests: number; failed_requests: number } {
  const phase = h ? phaseAt(h.breaker, now) : 'closed';
  const state = phase === 'open' ? 'circuit_open' : phase === 'half_open' ? 'half_open' : (h?.consecutiveFailures ?? 0) > 0 || successRate(h) < 0.9 ? 'degraded' : 'healthy';
  const total = h?.totalRequests ?? 0;
  const answered = total === 0 ? 1 : Math.min(1, (h?.successes ?? 0) / total);
  return { state, success_rate: Math.round(answered * 1000) / 1000, consecutive_failures: h?.consecutiveFailures ?? 0, total_requests: total, failed_requests: Math.max(0, total - (h?.successes ?? 0)) };
}

/** Adds an event to a queue waiting to be saved, folding a success into the success before it. */
export function queueEvent(queue: HealthEvent[], e: HealthEvent): void {
  const last = queue[queue.length - 1];
  if (e.ok && last?.ok && last.node === e.node && last.counts === e.counts) {
    last.times = (last.times ?? 1) + (e.times ?? 1);
    last.at = e.at;
  } else queue.push({ ...e });
}

/** The fold the store replays events with, for these breaker settings. */
export function healthFold(s: BreakerSettings): HealthFold {
  return (h, e) => applyEvent(h, e, s);
}

/**
 * One run's view of the breakers (a one-shot command's cascade): the stored state with the run's
 * failures laid over it, not a copy of every node's entry per request. Made at the run's first
 * failure; a success ends the run, so it is only queued.
 */
export class RunView {
  readonly #changed = new Map<string, NodeHealth>();

  constructor(
    private readonly stored: Readonly<Record<string, NodeHealth>>,
    private readonly breaker: BreakerSettings,
  ) {}

  get(id: string): NodeHealth | undefined {
    return this.#changed.get(id) ?? this.stored[id];
  }

  fail(e: HealthEvent): void {
    this.#changed.set(e.node, applyEvent(this.get(e.node), e, this.breaker));
  }
}

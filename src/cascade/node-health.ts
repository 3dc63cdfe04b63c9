/**
 * What the cascade remembers per node between runs (state.json, section `cascade`): its breaker and
 * its counts. A run records outcomes as events; they are replayed onto the stored state under the
 * lock, so two processes asking at once both count. Pure, apart from the store helpers at the end.
 */
import { onQuota, CLOSED, onFailure, onSuccess, phaseAt, type BreakerSettings, type BreakerState } from './breaker.js';
import type { JsonStore } from '../store/json-store.js';
import type { StateFile } from '../store/state-file.js';

export interface NodeHealth {
  breaker: BreakerState;
  successes: number;
  failures: number;
  consecutiveFailures: number;
  totalRequests: number;
  lastError?: string;
  lastErrorAt?: string;
}

export interface CascadeSection {
  nodes: Record<string, NodeHealth>;
  /** When `jarvis reset` cleared a node (ms): outcomes from before it, still queued by a proxy, are dropped. */
  resets?: Record<string, number>;
  /** The model ids each node listed last (see catalog.ts). */
  served?: Record<string, string[]>;
}

export interface HealthEvent {
  node: string;
  at: number;
  ok: boolean;
  /** Counted against the node's health (a 401 or a 404 model is not). */
  counts: boolean;
  error?: string;
  /** Successes in a row folded into one event (a busy proxy saves thousands a second). */
  times?: number;
  /** Not an outcome: the node answered a health probe, so its open breaker lets a trial through now. */
  halfOpen?: boolean;
  /** A quota's end (Retry-After): the node is skipped until then. */
  quotaUntil?: number;
}

const FRESH: NodeHealth = { breaker: CLOSED, successes: 0, failures: 0, consecutiveFailures: 0, totalRequests: 0 };

export function applyEvent(h: NodeHealth | undefined, e: HealthEvent, s: BreakerSettings): NodeHealth {
  const base = h ?? FRESH;
  if (e.halfOpen) {
    const b = base.breaker;
    return b.phase === 'open' && (b.openUntil ?? Infinity) > e.at ? { ...base, breaker: { ...b, openUntil: e.at } } : base;
  }
  if (e.ok) return countSuccesses({ ...base }, e.times ?? 1);
  const next: NodeHealth = { ...base, totalRequests: base.totalRequests + 1, lastError: e.error ?? 'failed', lastErrorAt: new Date(e.at).toISOString() };
  if (!e.counts) return e.quotaUntil !== undefined ? { ...next, breaker: onQuota(base.breaker, e.quotaUntil, e.at) } : next;
  return { ...next, breaker: onFailure(base.breaker, e.at, s), failures: base.failures + 1, consecutiveFailures: base.consecutiveFailures + 1 };
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

/** Seed 001's health shape for one node. */
export function healthView(h: NodeHealth | undefined, now: number): { state: 'healthy' | 'degraded' | 'circuit_open' | 'half_open'; success_rate: number; consecutive_failures: number; total_requests: number } {
  const phase = h ? phaseAt(h.breaker, now) : 'closed';
  const rate = successRate(h);
  const state = phase === 'open' ? 'circuit_open' : phase === 'half_open' ? 'half_open' : (h?.consecutiveFailures ?? 0) > 0 || rate < 0.9 ? 'degraded' : 'healthy';
  return { state, success_rate: Math.round(rate * 1000) / 1000, consecutive_failures: h?.consecutiveFailures ?? 0, total_requests: h?.totalRequests ?? 0 };
}

export function cascadeSection(s: StateFile): CascadeSection {
  const c = s.cascade as CascadeSection | undefined;
  return c && typeof c === 'object' && c.nodes && typeof c.nodes === 'object' ? c : { nodes: {} };
}

/** Adds an event to a queue waiting to be saved, folding a success into the success before it. */
export function queueEvent(queue: HealthEvent[], e: HealthEvent): void {
  const last = queue[queue.length - 1];
  if (e.ok && last?.ok && last.node === e.node && last.counts === e.counts) {
    last.times = (last.times ?? 1) + (e.times ?? 1);
    last.at = e.at;
  } else queue.push({ ...e });
}

/**
 * Replays a run's events onto the stored state, with the model lists it learnt, under the lock;
 * returns the section as written. Events from before a node's reset are dropped.
 */
export async function recordEvents(store: JsonStore<StateFile>, events: HealthEvent[], served: Record<string, string[]>, s: BreakerSettings): Promise<CascadeSection | undefined> {
  if (events.length === 0 && Object.keys(served).length === 0) return undefined;
  return store.update((state) => {
    const section = cascadeSection(state);
    for (const e of events) {
      if (e.at < (section.resets?.[e.node] ?? -Infinity)) continue;
      section.nodes[e.node] = applyEvent(section.nodes[e.node], e, s);
    }
    if (Object.keys(served).length > 0) section.served = { ...section.served, ...served };
    // Written by jarvis before model lists replaced it.
    delete (section as { models?: unknown }).models;
    state.cascade = section;
    return section;
  });
}

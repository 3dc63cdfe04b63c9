/**
 * A node's breaker and counts as they are saved (state.json's `cascade` section, or one Redis value
 * per node), and the events that change them. The store keeps and replays these records; the
 * arithmetic that folds an event into a record is the cascade's (cascade/node-health.ts), handed
 * to the store as a `HealthFold`.
 */

export type BreakerPhase = 'closed' | 'open' | 'half_open';

export interface BreakerState {
  phase: BreakerPhase;
  consecutiveFailures: number;
  /** When an open breaker lets a trial through (ms since epoch). */
  openUntil?: number;
  /** How many times in a row it opened: the open time doubles with each. */
  opens: number;
  /** Opened for a quota's Retry-After, not for failures: a probe that answers says nothing about it. */
  quota?: boolean;
}

export interface NodeHealth {
  breaker: BreakerState;
  successes: number;
  failures: number;
  consecutiveFailures: number;
  totalRequests: number;
  lastError?: string;
  lastErrorAt?: string;
  /** When its breaker last opened (wall ms): what was learnt of the node before it (affinity's pins) no longer holds. */
  openedAt?: number;
}

export interface CascadeSection {
  nodes: Record<string, NodeHealth>;
  /** When `jarvis reset` cleared a node (ms): outcomes from before it, still queued by a proxy, are dropped. */
  resets?: Record<string, number>;
  /** The model ids each node listed last (see cascade/catalog.ts). */
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

/** How an event changes a node's record (the breaker's settings bound in). */
export type HealthFold = (h: NodeHealth | undefined, e: HealthEvent) => NodeHealth;

/** Replays `events` onto `section` in place, dropping those from before a node's reset. */
export function replay(section: CascadeSection, events: readonly HealthEvent[], fold: HealthFold): void {
  for (const e of events) {
    if (e.at < (section.resets?.[e.node] ?? -Infinity)) continue;
    section.nodes[e.node] = fold(section.nodes[e.node], e);
  }
}

const PHASES = new Set(['closed', 'open', 'half_open']);
const count = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const time = (v: unknown) => v === undefined || (typeof v === 'number' && Number.isFinite(v));

/** A record the cascade can use as it is. */
export function validHealth(h: unknown): boolean {
  const x = h as { breaker?: { phase?: unknown; consecutiveFailures?: unknown; openUntil?: unknown; opens?: unknown }; successes?: unknown; failures?: unknown; consecutiveFailures?: unknown; totalRequests?: unknown } | null;
  const b = x?.breaker;
  return Boolean(b && PHASES.has(b.phase as string) && count(b.consecutiveFailures) && count(b.opens) && time(b.openUntil) && count(x.successes) && count(x.failures) && count(x.consecutiveFailures) && count(x.totalRequests));
}

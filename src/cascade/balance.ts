/**
 * Balancing within a model group: which of the nodes that serve the same model goes first.
 * `priority` keeps the configured order; `round-robin` takes turns; `least-busy` picks the node
 * with the fewest requests in flight; `latency` the lowest recent time to first token, sharing
 * the traffic among the nodes within a margin of the fastest (LiteLLM's lowest-latency routing);
 * `success-rate` the best recent record. Whatever the strategy, a node whose last
 * probe failed goes last (open breakers are skipped by the engine itself).
 */
import type { Strategy } from '../config/schema.js';
import { successRate, type NodeHealth } from './node-health.js';

/** Weight of the newest sample in the latency average. */
const EWMA_WEIGHT = 0.3;

/** What a running process sees of each node's load: requests in flight, recent latency, last probe. */
export class NodeLoad {
  readonly #inFlight = new Map<string, number>();
  /** Requests other instances have in flight, per node (shared state in Redis; empty otherwise). */
  #elsewhere: Record<string, number> = {};
  readonly #latency = new Map<string, number>();
  readonly #turns = new Map<string, number>();
  readonly #probeFailed = new Set<string>();

  begin(id: string): void {
    this.#inFlight.set(id, (this.#inFlight.get(id) ?? 0) + 1);
  }

  end(id: string): void {
    this.#inFlight.set(id, Math.max(0, (this.#inFlight.get(id) ?? 0) - 1));
  }

  /** Requests in flight to a node: this process's, and those other instances reported. */
  inFlight(id: string): number {
    return (this.#inFlight.get(id) ?? 0) + (this.#elsewhere[id] ?? 0);
  }

  /** This process's own requests in flight, per node (what it reports to the others). */
  own(): Record<string, number> {
    return Object.fromEntries(this.#inFlight);
  }

  /** What the other instances have in flight, as last read from the shared state. */
  setElsewhere(counts: Record<string, number>): void {
    this.#elsewhere = counts;
  }

  /** A successful request's time to first token (streams) or to its answer, in ms. A node that answers is no longer held back by a failed probe. */
  observe(id: string, ms: number): void {
    this.#probeFailed.delete(id);
    const before = this.#latency.get(id);
    this.#latency.set(id, before === undefined ? ms : before + EWMA_WEIGHT * (ms - before));
  }

  latency(id: string): number | undefined {
    return this.#latency.get(id);
  }

  /** The background probe's verdict on a node. */
  probed(id: string, ok: boolean): void {
    if (ok) this.#probeFailed.delete(id);
    else this.#probeFailed.add(id);
  }

  probeFailed(id: string): boolean {
    return this.#probeFailed.has(id);
  }

  /** The next turn for a round-robin key. */
  turn(key: string): number {
    const t = this.#turns.get(key) ?? 0;
    this.#turns.set(key, t + 1);
    return t;
  }
}

export interface BalanceContext {
  load: NodeLoad;
  health: (id: string) => NodeHealth | undefined;
  /** `latency`: nodes within this fraction of the fastest share the first place. */
  latencyMargin: number;
  random: () => number;
}

/** Orders items (each standing for a node id) by the strategy; round-robin turns are counted per `key`. Returns `items` itself when nothing moves. */
export function balance<T>(items: readonly T[], idOf: (item: T) => string, strategy: Strategy, ctx: BalanceContext, key: string): readonly T[] {
  if (items.length < 2) return items;
  let ordered: readonly T[] = items;
  switch (strategy) {
    case 'priority':
      break;
    case 'round-robin': {
      const start = ctx.load.turn(key) % items.length;
      ordered = [...items.slice(start), ...items.slice(0, start)];
      break;
    }
    case 'least-busy':
      ordered = stableSort(items, (x) => ctx.load.inFlight(idOf(x)));
      break;
    case 'success-rate':
      ordered = stableSort(items, (x) => -successRate(ctx.health(idOf(x))));
      break;
    case 'latency': {
      // A node with no sample yet counts as fastest, so it gets measured (as LiteLLM does).
      const ms = (x: T) => ctx.load.latency(idOf(x)) ?? 0;
      const byLatency = stableSort(items, ms);
      const fastest = ms(byLatency[0]!);
      const near = byLatency.filter((x) => ms(x) <= fastest * (1 + ctx.latencyMargin));
      const pick = near[Math.min(near.length - 1, Math.floor(ctx.random() * near.length))]!;
      ordered = [pick, ...byLatency.filter((x) => x !== pick)];
      break;
    }
  }
  if (ordered.some((x) => ctx.load.probeFailed(idOf(x)))) ordered = stableSort(ordered, (x) => (ctx.load.probeFailed(idOf(x)) ? 1 : 0));
  return ordered;
}

function stableSort<T>(items: readonly T[], key: (item: T) => number): T[] {
  return items
    .map((item, i) => ({ item, i, k: key(item) }))
    .sort((a, b) => a.k - b.k || a.i - b.i)
    .map((x) => x.item);
}

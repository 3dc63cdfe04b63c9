/**
 * Prometheus metrics for `jarvis serve` (prom-client, its own registry): requests by node and
 * outcome, failovers, breaker state, latencies, probe status.
 */
import client from 'prom-client';
import { phaseAt } from '../cascade/breaker.js';
import type { NodeHealth } from '../cascade/node-health.js';

export interface ServeMetrics {
  registry: client.Registry;
  failovers: client.Counter<'from' | 'to'>;
  probeUp: client.Gauge<'node'>;
  probeLatency: client.Gauge<'node'>;
  recoveries: client.Counter<'node' | 'outcome'>;
  /** The per-request counts: plain numbers here, folded into their prom-client metrics when scraped. */
  attempt(node: string, outcome: string): void;
  observeLatency(node: string, seconds: number): void;
  answer(outcome: 'answered' | 'failed', stream: boolean): void;
}

/**
 * Counts by two labels, kept as plain numbers on the hot path. prom-client hashes the label
 * values on every `inc`, even on a label child; measured in `jarvis serve`, the three per-request
 * metric calls cost about 3 µs of CPU per request. Each scrape writes the totals into the counter
 * (reset, then the totals: the same monotonic values prom-client would hold).
 */
class Tally {
  readonly #counts = new Map<string, Map<string, number>>();

  add(a: string, b: string): void {
    let inner = this.#counts.get(a);
    if (!inner) this.#counts.set(a, (inner = new Map<string, number>()));
    inner.set(b, (inner.get(b) ?? 0) + 1);
  }

  /** Writes the totals into `counter`, labelled `[first, second]`. */
  fold(counter: client.Counter<string>, [first, second]: readonly [string, string]): void {
    counter.reset();
    for (const [a, inner] of this.#counts) for (const [b, n] of inner) counter.inc({ [first]: a, [second]: b }, n);
  }
}

/**
 * Latencies waiting to be observed, per node: observed into the histogram when scraped, or once
 * a node has this many waiting (so that memory stays bounded without a scraper).
 */
const LATENCY_BATCH = 4096;

const PHASE_VALUE = { closed: 0, half_open: 1, open: 2 } as const;

export function createMetrics(nodes: () => string[], health: (id: string) => NodeHealth | undefined, now: () => number, sharedUp: () => boolean = () => true): ServeMetrics {
  const registry = new client.Registry();
  processGauges(registry, sharedUp);
  const attemptCounts = new Tally();
  const answerCounts = new Tally();
  const waiting = new Map<string, number[]>();
  const labels = { attempts: ['node', 'outcome'], answers: ['outcome', 'stream'] } as const;
  new client.Counter({
    name: 'jarvis_upstream_attempts_total',
    help: 'Requests sent to nodes, by node and outcome (ok or the error class).',
    labelNames: labels.attempts,
    registers: [registry],
    collect() {
      attemptCounts.fold(this, labels.attempts);
    },
  });
  new client.Counter({
    name: 'jarvis_requests_total',
    help: 'Client requests, by outcome (answered, failed) and streaming.',
    labelNames: labels.answers,
    registers: [registry],
    collect() {
      answerCounts.fold(this, labels.answers);
    },
  });
  const latency = new client.Histogram({
    name: 'jarvis_upstream_latency_seconds',
    help: 'Latency of successful upstream requests, by node.',
    labelNames: ['node'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
    collect() {
      for (const [node, list] of waiting) observeAll(node, list);
    },
  });
  const observeAll = (node: string, list: number[]) => {
    const child = latency.labels(node);
    for (const v of list) child.observe(v);
    list.length = 0;
  };
  const m: ServeMetrics = {
    registry,
    attempt: (node, outcome) => attemptCounts.add(node, outcome),
    observeLatency: (node, seconds) => {
      let list = waiting.get(node);
      if (!list) waiting.set(node, (list = []));
      if (list.push(seconds) >= LATENCY_BATCH) observeAll(node, list);
    },
    answer: (outcome, stream) => answerCounts.add(outcome, stream ? 'true' : 'false'),
    failovers: new client.Counter({ name: 'jarvis_failovers_total', help: 'Failovers from one node to the next.', labelNames: ['from', 'to'], registers: [registry] }),
    probeUp: new client.Gauge({ name: 'jarvis_probe_up', help: 'Last background probe: 1 ok, 0 not.', labelNames: ['node'], registers: [registry] }),
    probeLatency: new client.Gauge({ name: 'jarvis_probe_latency_seconds', help: 'Last background probe latency.', labelNames: ['node'], registers: [registry] }),
    recoveries: new client.Counter({ name: 'jarvis_recoveries_total', help: 'Background or requested recoveries, by node and outcome.', labelNames: ['node', 'outcome'], registers: [registry] }),
  };
  breakerGauge(registry, nodes, health, now);
  return m;
}

/** KV-cache affinity's outcomes (a counter) and live pins per node (a gauge), read when scraped. */
export function affinityMetrics(registry: client.Registry, view: { counts(): Readonly<Record<string, number>>; pins(): Record<string, number> }, nodes: () => string[]): void {
  new client.Counter({
    name: 'jarvis_affinity_total',
    help: 'Chat requests by what KV-cache affinity did: hit (the pinned node answered), miss (no pin), repin (another node answered and holds the conversation now), off.',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [outcome, n] of Object.entries(view.counts())) this.inc({ outcome }, n);
    },
  });
  new client.Gauge({
    name: 'jarvis_affinity_pins',
    help: 'Conversations pinned to each node (live entries of this instance).',
    labelNames: ['node'],
    registers: [registry],
    collect() {
      const pins = view.pins();
      for (const node of nodes()) this.set({ node }, pins[node] ?? 0);
    },
  });
}

/** A gauge read when scraped. */
function collected(registry: client.Registry, name: string, help: string, value: () => number): void {
  new client.Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(value());
    },
  });
}

/**
 * The process's own figures and the shared state's reach. prom-client's default process metrics
 * include gauges named *_total, which promtool rejects; the few that matter for a proxy are here.
 */
function processGauges(registry: client.Registry, sharedUp: () => boolean): void {
  collected(registry, 'jarvis_shared_state_up', "The shared state (state.json, or Redis) was reached at the last sync: 1, else 0 (serving on this instance's own view).", () => (sharedUp() ? 1 : 0));
  collected(registry, 'jarvis_process_resident_memory_bytes', 'Resident memory of the jarvis serve process.', () => process.memoryUsage().rss);
  collected(registry, 'jarvis_process_heap_used_bytes', 'V8 heap in use.', () => process.memoryUsage().heapUsed);
  collected(registry, 'jarvis_process_uptime_seconds', 'Seconds since jarvis serve started.', () => process.uptime());
}

/** Each node's breaker phase, read from live health when scraped. */
function breakerGauge(registry: client.Registry, nodes: () => string[], health: (id: string) => NodeHealth | undefined, now: () => number): void {
  new client.Gauge({
    name: 'jarvis_breaker_state',
    help: 'Circuit breaker per node: 0 closed, 1 half-open, 2 open.',
    labelNames: ['node'],
    registers: [registry],
    collect() {
      const t = now();
      for (const node of nodes()) {
        const h = health(node);
        this.set({ node }, PHASE_VALUE[h ? phaseAt(h.breaker, t) : 'closed']);
      }
    },
  });
}

/**
 * Prometheus metrics for `jarvis serve` (prom-client, its own registry): requests by node and
 * outcome, failovers, breaker state, latencies, probe status.
 */
import client from 'prom-client';
import { phaseAt } from '../cascade/breaker.js';
import type { NodeHealth } from '../cascade/node-health.js';

export interface ServeMetrics {
  registry: client.Registry;
  attempts: client.Counter<'node' | 'outcome'>;
  answers: client.Counter<'outcome' | 'stream'>;
  failovers: client.Counter<'from' | 'to'>;
  latency: client.Histogram<'node'>;
  probeUp: client.Gauge<'node'>;
  probeLatency: client.Gauge<'node'>;
  recoveries: client.Counter<'node' | 'outcome'>;
  /** Hot-path shorthands: each label child is made once (prom-client still hashes labels per inc). */
  attempt(node: string, outcome: string): void;
  observeLatency(node: string, seconds: number): void;
  answer(outcome: 'answered' | 'failed', stream: boolean): void;
}

/** A metric's child per label values, made once. */
function children<T>(make: (...values: string[]) => T): (...values: string[]) => T {
  const made = new Map<string, T>();
  return (...values) => {
    const key = values.join('\0');
    let c = made.get(key);
    if (!c) made.set(key, (c = make(...values)));
    return c;
  };
}

const PHASE_VALUE = { closed: 0, half_open: 1, open: 2 } as const;

export function createMetrics(nodes: () => string[], health: (id: string) => NodeHealth | undefined, now: () => number): ServeMetrics {
  const registry = new client.Registry();
  // prom-client's default process metrics include gauges named *_total, which promtool rejects;
  // the few that matter for a proxy are collected here instead.
  new client.Gauge({
    name: 'jarvis_process_resident_memory_bytes',
    help: 'Resident memory of the jarvis serve process.',
    registers: [registry],
    collect() {
      this.set(process.memoryUsage().rss);
    },
  });
  new client.Gauge({
    name: 'jarvis_process_heap_used_bytes',
    help: 'V8 heap in use.',
    registers: [registry],
    collect() {
      this.set(process.memoryUsage().heapUsed);
    },
  });
  new client.Gauge({
    name: 'jarvis_process_uptime_seconds',
    help: 'Seconds since jarvis serve started.',
    registers: [registry],
    collect() {
      this.set(process.uptime());
    },
  });
  const attempts = new client.Counter({ name: 'jarvis_upstream_attempts_total', help: 'Requests sent to nodes, by node and outcome (ok or the error class).', labelNames: ['node', 'outcome'] as const, registers: [registry] });
  const answers = new client.Counter({ name: 'jarvis_requests_total', help: 'Client requests, by outcome (answered, failed) and streaming.', labelNames: ['outcome', 'stream'] as const, registers: [registry] });
  const latency = new client.Histogram({
    name: 'jarvis_upstream_latency_seconds',
    help: 'Latency of successful upstream requests, by node.',
    labelNames: ['node'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const attemptChild = children((node, outcome) => attempts.labels(node, outcome));
  const latencyChild = children((node) => latency.labels(node));
  const answerChild = children((outcome, stream) => answers.labels(outcome, stream));
  const m: ServeMetrics = {
    registry,
    attempts,
    answers,
    latency,
    attempt: (node, outcome) => attemptChild(node, outcome).inc(),
    observeLatency: (node, seconds) => latencyChild(node).observe(seconds),
    answer: (outcome, stream) => answerChild(outcome, stream ? 'true' : 'false').inc(),
    failovers: new client.Counter({ name: 'jarvis_failovers_total', help: 'Failovers from one node to the next.', labelNames: ['from', 'to'], registers: [registry] }),
    probeUp: new client.Gauge({ name: 'jarvis_probe_up', help: 'Last background probe: 1 ok, 0 not.', labelNames: ['node'], registers: [registry] }),
    probeLatency: new client.Gauge({ name: 'jarvis_probe_latency_seconds', help: 'Last background probe latency.', labelNames: ['node'], registers: [registry] }),
    recoveries: new client.Counter({ name: 'jarvis_recoveries_total', help: 'Background or requested recoveries, by node and outcome.', labelNames: ['node', 'outcome'], registers: [registry] }),
  };
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
  return m;
}

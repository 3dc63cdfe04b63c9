/**
 * The probe history's arithmetic, pure: latency histograms, hourly buckets, and the state each
 * node is in (up only after `upAfter` answers in a row, down only after the failures `check`
 * confirms), replayed sample by sample.
 */

/** Upper bounds (ms) of the latency histogram's bins; the last is open. */
const LATENCY_BINS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, Infinity] as const;

export function emptyHistogram(): number[] {
  return LATENCY_BINS_MS.map(() => 0);
}

export function binOf(ms: number): number {
  return LATENCY_BINS_MS.findIndex((b) => ms <= b);
}

export function addHistogram(into: number[], from: readonly number[]): void {
  for (let i = 0; i < into.length; i++) into[i]! += from[i] ?? 0;
}

/** The p-th percentile (0-100) from a histogram, interpolated within its bin; undefined when empty. */
export function percentileOf(h: readonly number[], p: number): number | undefined {
  const total = h.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const rank = (p / 100) * total;
  let seen = 0;
  for (let i = 0; i < h.length; i++) {
    const n = h[i]!;
    if (n === 0) continue;
    if (seen + n >= rank) {
      const lo = i === 0 ? 0 : LATENCY_BINS_MS[i - 1]!;
      const hi = LATENCY_BINS_MS[i] === Infinity ? lo * 2 : LATENCY_BINS_MS[i]!;
      return Math.round(lo + ((rank - seen) / n) * (hi - lo));
    }
    seen += n;
  }
  return undefined;
}

/** One sample as it is appended: a probe, or serve's requests to a node over a minute. */
export type Sample =
  | { t: number; n: string; k: 'p'; s: string; l: number }
  | { t: number; n: string; k: 'r'; ok: number; f?: Record<string, number>; h: number[]; ft?: number[] };

interface Counts {
  ok: number;
  /** By status (probes) or error class (requests). */
  failed: Record<string, number>;
  lat: number[];
}

/** Failed probes of a bucket: over quota (`throttled`) is a state the node is in, not a failure. */
export function failedOf(c: Counts): number {
  let n = 0;
  for (const [status, count] of Object.entries(c.failed)) if (status !== 'throttled') n += count;
  return n;
}

export interface HourBucket {
  probes: Counts;
  requests?: Counts & { ttft: number[] };
}

export type NodeStateName = 'up' | 'down' | 'unknown';

/** Where a node's state machine stands (kept at the end of each compacted hour). */
export interface NodeState {
  state: NodeStateName;
  okRun: number;
  failRun: number;
  /** The first failure of the current run of failures (a down period starts there). */
  failSince?: number;
  failCause?: string;
}

export interface Transition {
  at: number;
  to: 'up' | 'down';
  cause?: string;
}

export interface Hysteresis {
  /** Answers in a row before a node counts as up (`check.upAfter`). */
  upAfter: number;
  /** Failures in a row before it counts as down (`check.confirmProbes` + 1). */
  downAfter: number;
}

export const FRESH_STATE: NodeState = Object.freeze({ state: 'unknown', okRun: 0, failRun: 0 });

/** Adds one sample to its hour's bucket. */
export function addToBucket(bucket: HourBucket, s: Sample): void {
  if (s.k === 'p') {
    if (s.s === 'ok') {
      bucket.probes.ok++;
      bucket.probes.lat[binOf(s.l)]!++;
    } else bucket.probes.failed[s.s] = (bucket.probes.failed[s.s] ?? 0) + 1;
    return;
  }
  const r = (bucket.requests ??= { ok: 0, failed: {}, lat: emptyHistogram(), ttft: emptyHistogram() });
  r.ok += s.ok;
  for (const [k, v] of Object.entries(s.f ?? {})) r.failed[k] = (r.failed[k] ?? 0) + v;
  addHistogram(r.lat, s.h);
  if (s.ft) addHistogram(r.ttft, s.ft);
}

/** Adds `from` into `into` (an hour folded in two parts: late samples after the fold). */
export function mergeBucket(into: HourBucket, from: HourBucket): void {
  const counts = (a: Counts, b: Counts) => {
    a.ok += b.ok;
    for (const [k, v] of Object.entries(b.failed)) a.failed[k] = (a.failed[k] ?? 0) + v;
    addHistogram(a.lat, b.lat);
  };
  counts(into.probes, from.probes);
  if (from.requests) {
    const r = (into.requests ??= { ok: 0, failed: {}, lat: emptyHistogram(), ttft: emptyHistogram() });
    counts(r, from.requests);
    addHistogram(r.ttft, from.requests.ttft);
  }
}

export function emptyBucket(): HourBucket {
  return { probes: { ok: 0, failed: {}, lat: emptyHistogram() } };
}

/**
 * One probe through a node's state machine: the new state, and a transition when it changed. A
 * down period starts at the first of the failures that made it down; an up one at the answer
 * that completed the run.
 */
export function step(state: NodeState, s: Extract<Sample, { k: 'p' }>, rule: Hysteresis): { state: NodeState; transition?: Transition } {
  // Over quota is a state the node is in, not down (as check says): it answered.
  if (s.s === 'ok' || s.s === 'throttled') {
    const okRun = state.okRun + 1;
    if (state.state !== 'up' && okRun >= rule.upAfter) return { state: { state: 'up', okRun, failRun: 0 }, transition: { at: s.t, to: 'up' } };
    return { state: { state: state.state, okRun, failRun: 0 } };
  }
  const failRun = state.failRun + 1;
  const failSince = state.failRun === 0 ? s.t : (state.failSince ?? s.t);
  const failCause = state.failRun === 0 ? s.s : (state.failCause ?? s.s);
  if (state.state !== 'down' && failRun >= rule.downAfter) return { state: { state: 'down', okRun: 0, failRun, failSince, failCause }, transition: { at: failSince, to: 'down', cause: failCause } };
  return { state: { state: state.state, okRun: 0, failRun, failSince, failCause } };
}

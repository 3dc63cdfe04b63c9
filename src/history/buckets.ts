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

/**
 * Where a node stood: `up`, `down`, `throttled` (it answers 429: neither up nor down), or
 * `unknown` (before its first verdict, and whenever nobody has probed it for `coverMs`).
 */
export type NodeStateName = 'up' | 'down' | 'throttled' | 'unknown';

/** Where a node's state machine stands (kept at the end of each compacted hour). */
export interface NodeState {
  state: NodeStateName;
  okRun: number;
  failRun: number;
  /** The first failure of the current run of failures (a down period starts there). */
  failSince?: number;
  failCause?: string;
  /** The last probe's time: the state holds until `coverMs` after it, then nobody watched. */
  last?: number;
}

export interface Transition {
  at: number;
  to: NodeStateName;
  cause?: string;
}

export interface Hysteresis {
  /** Answers in a row before a node counts as up (`check.upAfter`). */
  upAfter: number;
  /** Failures in a row before it counts as down (`check.confirmProbes` + 1). */
  downAfter: number;
  /** How long one probe vouches for the node's state (`history.coverMinutes`). */
  coverMs: number;
}

/** The history's rule from the config: check's hysteresis and how long a probe vouches. */
export function historyRule(config: { check: { upAfter: number; confirmProbes: number }; history: { coverMinutes: number } }): Hysteresis {
  return { upAfter: config.check.upAfter, downAfter: config.check.confirmProbes + 1, coverMs: config.history.coverMinutes * 60_000 };
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
 * One probe through a node's state machine: the new state, and the transitions it made. A down
 * period starts at the first of the failures that made it down; an up one at the answer that
 * completed the run. A probe after more than `coverMs` of silence first closes what the last
 * one vouched for (`unknown` from then); the runs go on, so a node that was up and answers
 * again is up at once, but a down period never starts before the silence ended.
 */
export function step(state: NodeState, s: Extract<Sample, { k: 'p' }>, rule: Hysteresis): { state: NodeState; transitions: Transition[] } {
  const transitions: Transition[] = [];
  let st = state;
  if (st.last !== undefined && s.t - st.last > rule.coverMs) {
    if (st.state !== 'unknown') transitions.push({ at: st.last + rule.coverMs, to: 'unknown' });
    st = { ...st, state: 'unknown', ...(st.failRun > 0 && { failSince: s.t }) };
  }
  const next = advance(st, s, rule);
  if (next.state !== st.state) transitions.push({ at: next.state === 'down' ? (next.failSince ?? s.t) : s.t, to: next.state, ...(next.state === 'down' && next.failCause && { cause: next.failCause }) });
  return { state: { ...next, last: s.t }, transitions };
}

function advance(st: NodeState, s: Extract<Sample, { k: 'p' }>, rule: Hysteresis): NodeState {
  // Over quota is a state of its own, as check says: it answered, so it is not down, and it
  // could not serve, so it is not up.
  if (s.s === 'throttled') return { state: 'throttled', okRun: 0, failRun: 0 };
  if (s.s === 'ok') {
    const okRun = st.okRun + 1;
    // A throttled node answered all along: its first full answer makes it up.
    const up = st.state === 'up' || st.state === 'throttled' || okRun >= rule.upAfter;
    return { state: up ? 'up' : st.state, okRun, failRun: 0 };
  }
  const failRun = st.failRun + 1;
  const failSince = st.failRun === 0 ? s.t : (st.failSince ?? s.t);
  const failCause = st.failRun === 0 ? s.s : (st.failCause ?? s.s);
  return { state: st.state === 'down' || failRun >= rule.downAfter ? 'down' : st.state, okRun: 0, failRun, failSince, failCause };
}

/**
 * `jarvis report`'s figures, pure: from a node's history over a window, its uptime (time up over
 * time observed, with the hysteresis the states were recorded with), its down periods and mean
 * time to recovery, latency percentiles, and its worst hour.
 */
import type { Incident } from '../incidents/incident.js';
import type { NodeHistory } from '../store/history-days.js';
import { addHistogram, emptyHistogram, failedOf, percentileOf, type NodeStateName } from './buckets.js';

interface DownPeriod {
  from: string;
  /** Absent while it lasts. */
  to?: string;
  ms: number;
  cause?: string;
}

export interface NodeReport {
  node: string;
  /** Up time over observed time (up + down), in percent with two decimals; null when never observed. */
  uptimePct: number | null;
  upMs: number;
  downMs: number;
  downPeriods: DownPeriod[];
  /** Mean length of the down periods that ended in the window. */
  mttrMs: number | null;
  incidents: number;
  probes: { ok: number; failed: number };
  /** Probe latency (answers only), from the hourly histograms. */
  p50Ms: number | null;
  p95Ms: number | null;
  requests?: { ok: number; failed: number; p50Ms: number | null; p95Ms: number | null; ttftP50Ms: number | null };
  /** The hour with the largest share of failed probes. */
  worstHour?: { at: string; failedPct: number; failed: number; probes: number };
}

export function nodeReport(id: string, h: NodeHistory | undefined, fromMs: number, toMs: number, incidents: readonly Incident[]): NodeReport {
  const inWindow = incidents.filter((i) => i.node === id && Date.parse(i.at) >= fromMs && Date.parse(i.at) <= toMs).length;
  const base: NodeReport = { node: id, uptimePct: null, upMs: 0, downMs: 0, downPeriods: [], mttrMs: null, incidents: inWindow, probes: { ok: 0, failed: 0 }, p50Ms: null, p95Ms: null };
  if (!h) return base;
  // The timeline: the state at the start, then each transition, to the window's end.
  let state: NodeStateName = h.startState;
  let since = fromMs;
  let downFrom: number | undefined = state === 'down' ? fromMs : undefined;
  let downCause: string | undefined;
  const spend = (until: number) => {
    if (state === 'up') base.upMs += until - since;
    else if (state === 'down') base.downMs += until - since;
  };
  for (const t of h.transitions) {
    if (t.to === state) continue;
    spend(t.at);
    if (t.to === 'down') {
      downFrom = t.at;
      downCause = t.cause;
    } else if (downFrom !== undefined) {
      base.downPeriods.push({ from: new Date(downFrom).toISOString(), to: new Date(t.at).toISOString(), ms: t.at - downFrom, ...(downCause && { cause: downCause }) });
      downFrom = undefined;
    }
    state = t.to;
    since = t.at;
  }
  spend(toMs);
  if (state === 'down' && downFrom !== undefined) base.downPeriods.push({ from: new Date(downFrom).toISOString(), ms: toMs - downFrom, ...(downCause && { cause: downCause }) });
  const observed = base.upMs + base.downMs;
  if (observed > 0) base.uptimePct = Math.round((base.upMs / observed) * 10_000) / 100;
  const ended = base.downPeriods.filter((p) => p.to);
  if (ended.length > 0) base.mttrMs = Math.round(ended.reduce((a, p) => a + p.ms, 0) / ended.length);

  const lat = emptyHistogram();
  const req = { ok: 0, failed: 0, lat: emptyHistogram(), ttft: emptyHistogram() };
  let hasRequests = false;
  for (const [at, b] of [...h.hours].sort(([a], [c]) => a - c)) {
    const failed = failedOf(b.probes);
    const throttled = b.probes.failed.throttled ?? 0;
    base.probes.ok += b.probes.ok + throttled;
    base.probes.failed += failed;
    addHistogram(lat, b.probes.lat);
    const total = b.probes.ok + throttled + failed;
    if (failed > 0) {
      const pct = Math.round((failed / total) * 1000) / 10;
      const w = base.worstHour;
      if (!w || pct > w.failedPct || (pct === w.failedPct && failed > w.failed)) base.worstHour = { at: new Date(at).toISOString(), failedPct: pct, failed, probes: total };
    }
    if (b.requests) {
      hasRequests = true;
      req.ok += b.requests.ok;
      req.failed += Object.values(b.requests.failed).reduce((a, n) => a + n, 0);
      addHistogram(req.lat, b.requests.lat);
      addHistogram(req.ttft, b.requests.ttft);
    }
  }
  base.p50Ms = percentileOf(lat, 50) ?? null;
  base.p95Ms = percentileOf(lat, 95) ?? null;
  if (hasRequests) base.requests = { ok: req.ok, failed: req.failed, p50Ms: percentileOf(req.lat, 50) ?? null, p95Ms: percentileOf(req.lat, 95) ?? null, ttftP50Ms: percentileOf(req.ttft, 50) ?? null };
  return base;
}

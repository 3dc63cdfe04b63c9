/**
 * `jarvis report`'s figures, pure: from a node's history over a window, its uptime and where its
 * time went (timeline.ts: up, down, throttled, watched), its down periods and mean time to
 * recovery, latency percentiles, and its worst hour.
 */
import type { Incident } from '../incidents/incident.js';
import type { NodeHistory } from '../store/history-days.js';
import { addHistogram, emptyHistogram, failedOf, percentileOf } from './buckets.js';
import { stretches, timesOf, uptimePct, watchedMs } from './timeline.js';

interface DownPeriod {
  from: string;
  /** Absent while it lasts. */
  to?: string;
  ms: number;
  cause?: string;
  /** Nobody probed the node after it: when it ended is not known. */
  unwatchedAfter?: boolean;
}

export interface NodeReport {
  node: string;
  /** Up time over up and down time, in percent with two decimals; null when neither was seen (see timeline.ts). */
  uptimePct: number | null;
  upMs: number;
  downMs: number;
  /** Time it answered 429: neither up nor down. */
  throttledMs: number;
  /** Time anybody watched (up, down or throttled), of `windowMs`. */
  watchedMs: number;
  windowMs: number;
  downPeriods: DownPeriod[];
  /** Mean length of the down periods that ended with an answer in the window. */
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

export function nodeReport(id: string, h: NodeHistory | undefined, fromMs: number, toMs: number, incidents: readonly Incident[], coverMs: number): NodeReport {
  const inWindow = incidents.filter((i) => i.node === id && Date.parse(i.at) >= fromMs && Date.parse(i.at) <= toMs).length;
  const timeline = stretches(h, fromMs, toMs, coverMs);
  const times = timesOf(timeline);
  // Down periods: a stretch of down (with its cause), ended by the next stretch; one that ends in
  // silence ended unseen, and says so.
  const downPeriods: DownPeriod[] = [];
  timeline.forEach((st, i) => {
    if (st.state !== 'down') return;
    const next = timeline[i + 1];
    downPeriods.push({ from: new Date(st.from).toISOString(), ...(next && { to: new Date(st.to).toISOString() }), ms: st.to - st.from, ...(st.cause && { cause: st.cause }), ...(next?.state === 'unknown' && { unwatchedAfter: true }) });
  });
  const base: NodeReport = { node: id, uptimePct: uptimePct(times), ...times, watchedMs: watchedMs(times), windowMs: toMs - fromMs, downPeriods, mttrMs: null, incidents: inWindow, probes: { ok: 0, failed: 0 }, p50Ms: null, p95Ms: null };
  const ended = base.downPeriods.filter((p) => p.to && !p.unwatchedAfter);
  if (ended.length > 0) base.mttrMs = Math.round(ended.reduce((a, p) => a + p.ms, 0) / ended.length);
  if (!h) return base;

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

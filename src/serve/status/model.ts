/**
 * What the status page shows, built from the proxy's live view (the health check's last probes,
 * breakers, in-flight requests) and the probe history (uptime bars, latency). Nothing secret:
 * no URL (it may carry credentials), no command line, no key.
 */
import type { Incident } from '../../incidents/incident.js';
import { phaseAt } from '../../cascade/breaker.js';
import { historyRule } from '../../history/buckets.js';
import { emptyTimes, segmentTimes, uptimePct, watchedMs, type StateTimes } from '../../history/timeline.js';
import { statusWord } from '../../probe/classify.js';
import { clusterState, type ClusterState } from '../cluster-state.js';
import type { NodeHistory } from '../../store/history-days.js';
import type { ServeContext } from '../context.js';
import type { Segments } from './svg.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const WINDOWS = { '24h': DAY, '7d': 7 * DAY, '30d': 30 * DAY } as const;
export type WindowName = keyof typeof WINDOWS;

export interface LiveNode {
  id: string;
  kind: string;
  role?: string;
  model?: string;
  /** The status word of the health check's last probe (statusWord: `ok`, `refused`, `throttled`, ...), or `unknown` before the first. */
  status: string;
  detail?: string;
  /** When that probe was sent (ISO), absent before the first. */
  probedAt?: string;
  breaker: 'closed' | 'open' | 'half_open';
  inFlight: number;
  /** Conversations pinned to it by KV-cache affinity (live entries of this instance). */
  pins: number;
  latencyMs: number | null;
  /** The last probes' latency, oldest first (null: a failure): the sparkline. */
  recent: (number | null)[];
}

/** One window's figures: the uptime and each segment's times, from the same walk (history/timeline.ts). */
interface WindowFigures {
  /** Where the window's time went: the sum of its segments. */
  times: StateTimes;
  uptimePct: number | null;
  watchedMs: number;
  throttledMs: number;
  windowMs: number;
  bars: Segments;
}

interface PageNode extends LiveNode {
  windows: Record<WindowName, WindowFigures>;
}

/** The live part: what the page polls, and the banner's verdict (the same rule as /health). */
export interface LiveModel {
  generatedAt: string;
  /** How often the health check probes, and how often the page polls. */
  probeIntervalMs: number;
  pollMs: number;
  cluster: ClusterState;
  nodes: LiveNode[];
}

export interface StatusModel extends LiveModel {
  nodes: PageNode[];
  incidents: { at: string; node: string; diagnosis: string; outcome: string; escalated: boolean }[];
}

export function liveModel(ctx: ServeContext): LiveModel {
  const now = ctx.wallNow();
  const probes = new Map(ctx.healer.lastProbes().map((p) => [p.id, p]));
  const pins = ctx.affinity.pins();
  const nodes = ctx.config.nodes.map((n): LiveNode => {
    const p = probes.get(n.id);
    const h = ctx.health.get(n.id);
    const latency = ctx.load.latency(n.id) ?? (p?.status === 'ok' ? p.latencyMs : undefined);
    return {
      id: n.id,
      kind: n.kind,
      ...(n.role && { role: n.role }),
      ...(n.model && { model: n.model }),
      status: p ? statusWord(p) : 'unknown',
      ...(p?.detail && { detail: p.detail }),
      ...(p && { probedAt: new Date(p.probedAt).toISOString() }),
      breaker: h ? phaseAt(h.breaker, now) : 'closed',
      inFlight: ctx.load.inFlight(n.id),
      pins: pins[n.id] ?? 0,
      latencyMs: latency === undefined ? null : Math.round(latency),
      recent: ctx.healer.recent(n.id),
    };
  });
  return { generatedAt: new Date(now).toISOString(), probeIntervalMs: ctx.healthIntervalMs, pollMs: ctx.statusIntervalMs, cluster: clusterState(ctx), nodes };
}

/** A window's figures: each hour of the last 24, or each day of the last 7 or 30, ending now. */
function windowFigures(h: NodeHistory | undefined, now: number, windowMs: number, coverMs: number): WindowFigures {
  const size = windowMs <= DAY ? HOUR : DAY;
  const count = Math.round(windowMs / size);
  const start = Math.floor(now / size) * size - (count - 1) * size;
  const times = segmentTimes(h, start, size, count, now, coverMs);
  const total = times.reduce((a, t) => ({ upMs: a.upMs + t.upMs, downMs: a.downMs + t.downMs, throttledMs: a.throttledMs + t.throttledMs }), emptyTimes());
  return { times: total, uptimePct: uptimePct(total), watchedMs: watchedMs(total), throttledMs: total.throttledMs, windowMs: now - start, bars: { start, size, times } };
}

/**
 * The history is read at most every 10 s, however many people look, and never while one waits:
 * past 10 s the page gets what was read last while a fresh read runs behind it (a month of 50
 * nodes takes a few hundred milliseconds to read, more than the page may take to paint).
 */
let cached: { at: number; key: string; data: Map<string, NodeHistory> } | undefined;
let refreshing: Promise<Map<string, NodeHistory>> | undefined;

async function history(ctx: ServeContext, now: number): Promise<Map<string, NodeHistory>> {
  const key = ctx.records.dataDir;
  const read = () =>
    (refreshing ??= ctx.records.history
      .read(now - WINDOWS['30d'], now)
      .then((data) => ((cached = { at: now, key, data }), data))
      .finally(() => (refreshing = undefined)));
  if (!cached || cached.key !== key) return read();
  if (now - cached.at >= 10_000) void read().catch((error: unknown) => ctx.log(`status page: could not read the history: ${(error as Error).message}`));
  return cached.data;
}

/** One window's figures for one node (the badge). */
export async function nodeWindow(ctx: ServeContext, id: string, w: WindowName): Promise<WindowFigures> {
  const now = ctx.wallNow();
  return windowFigures((await history(ctx, now)).get(id), now, WINDOWS[w], historyRule(ctx.config).coverMs);
}

export async function statusModel(ctx: ServeContext): Promise<StatusModel> {
  const live = liveModel(ctx);
  const now = Date.parse(live.generatedAt);
  const [h, incidents] = await Promise.all([history(ctx, now), ctx.records.incidents.list().catch((): Incident[] => [])]);
  const { coverMs } = historyRule(ctx.config);
  const nodes = live.nodes.map((n): PageNode => {
    const windows = Object.fromEntries(Object.entries(WINDOWS).map(([w, ms]) => [w, windowFigures(h.get(n.id), now, ms, coverMs)])) as Record<WindowName, WindowFigures>;
    return { ...n, windows };
  });
  return {
    ...live,
    nodes,
    incidents: incidents.slice(-10).reverse().map((i) => ({ at: i.at, node: i.node, diagnosis: i.diagnosis, outcome: i.outcome, escalated: i.escalated })),
  };
}

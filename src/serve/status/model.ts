/**
 * What the status page shows, built from the proxy's live view (the health check's last probes,
 * breakers, in-flight requests) and the probe history (uptime bars, latency). Nothing secret:
 * no URL (it may carry credentials), no command line, no key.
 */
import type { Incident } from '../../incidents/incident.js';
import { phaseAt } from '../../cascade/breaker.js';
import { failedOf, percentileOf } from '../../history/buckets.js';
import { nodeReport } from '../../history/report.js';
import type { NodeHistory } from '../../store/history-days.js';
import type { ServeContext } from '../context.js';
import type { Segment } from './svg.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
export const WINDOWS = { '24h': DAY, '7d': 7 * DAY, '30d': 30 * DAY } as const;
export type WindowName = keyof typeof WINDOWS;

export interface LiveNode {
  id: string;
  kind: string;
  role?: string;
  model?: string;
  /** The health check's last probe: `ok`, `refused`, ... or `unknown` before the first. */
  status: string;
  detail?: string;
  breaker: 'closed' | 'open' | 'half_open';
  inFlight: number;
  latencyMs: number | null;
}

interface PageNode extends LiveNode {
  uptime: Record<WindowName, number | null>;
  bars: Record<WindowName, Segment[]>;
  /** Hourly p50 over the last 24 h, oldest first. */
  latency24h: (number | null)[];
}

export interface StatusModel {
  generatedAt: string;
  intervalMs: number;
  nodes: PageNode[];
  incidents: { at: string; node: string; diagnosis: string; outcome: string; escalated: boolean }[];
}

export function liveNodes(ctx: ServeContext): LiveNode[] {
  const now = ctx.wallNow();
  const probes = new Map(ctx.healer.lastProbes().map((p) => [p.id, p]));
  return ctx.config.nodes.map((n) => {
    const p = probes.get(n.id);
    const h = ctx.health.get(n.id);
    const latency = ctx.load.latency(n.id) ?? (p?.status === 'ok' ? p.latencyMs : undefined);
    return {
      id: n.id,
      kind: n.kind,
      ...(n.role && { role: n.role }),
      ...(n.model && { model: n.model }),
      status: p ? (p.throttled ? 'throttled' : p.status) : 'unknown',
      ...(p?.detail && { detail: p.detail }),
      breaker: h ? phaseAt(h.breaker, now) : 'closed',
      inFlight: ctx.load.inFlight(n.id),
      latencyMs: latency === undefined ? null : Math.round(latency),
    };
  });
}

const hourLabel = (ms: number) => `${new Date(ms).toISOString().slice(0, 13).replace('T', ' ')}h UTC`;
const dayLabel = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Probes answered per segment: each hour of the last 24, or each day of the last 7 or 30. */
function segments(h: NodeHistory | undefined, now: number, windowMs: number): Segment[] {
  const size = windowMs <= DAY ? HOUR : DAY;
  const count = Math.round(windowMs / size);
  const start = Math.floor(now / size) * size - (count - 1) * size;
  const out: Segment[] = Array.from({ length: count }, (_, i) => ({ label: size === HOUR ? hourLabel(start + i * size) : dayLabel(start + i * size), ok: 0, total: 0 }));
  for (const [at, b] of h?.hours ?? []) {
    const i = Math.floor((at - start) / size);
    if (i < 0 || i >= count) continue;
    const answered = b.probes.ok + (b.probes.failed.throttled ?? 0);
    out[i]!.ok += answered;
    out[i]!.total += answered + failedOf(b.probes);
  }
  return out;
}

/** The history is read at most every 10 s, however many people look. */
let cached: { at: number; key: string; data: Map<string, NodeHistory> } | undefined;

async function history(ctx: ServeContext, now: number): Promise<Map<string, NodeHistory>> {
  const key = ctx.records.dataDir;
  if (cached && cached.key === key && now - cached.at < 10_000) return cached.data;
  const data = await ctx.records.history.read(now - WINDOWS['30d'], now);
  cached = { at: now, key, data };
  return data;
}

export async function statusModel(ctx: ServeContext, intervalMs: number): Promise<StatusModel> {
  const now = ctx.wallNow();
  const [h, incidents] = await Promise.all([history(ctx, now), ctx.records.incidents.list().catch((): Incident[] => [])]);
  const nodes = liveNodes(ctx).map((n): PageNode => {
    const nh = h.get(n.id);
    const uptime = Object.fromEntries(Object.entries(WINDOWS).map(([w, ms]) => [w, nodeReport(n.id, nh, now - ms, now, []).uptimePct])) as Record<WindowName, number | null>;
    const bars = Object.fromEntries(Object.entries(WINDOWS).map(([w, ms]) => [w, segments(nh, now, ms)])) as Record<WindowName, Segment[]>;
    const start = Math.floor(now / HOUR) * HOUR - 23 * HOUR;
    const latency24h = Array.from({ length: 24 }, (_, i) => {
      const b = nh?.hours.get(start + i * HOUR);
      return b ? (percentileOf(b.probes.lat, 50) ?? null) : null;
    });
    return { ...n, uptime, bars, latency24h };
  });
  return {
    generatedAt: new Date(now).toISOString(),
    intervalMs,
    nodes,
    incidents: incidents.slice(-10).reverse().map((i) => ({ at: i.at, node: i.node, diagnosis: i.diagnosis, outcome: i.outcome, escalated: i.escalated })),
  };
}

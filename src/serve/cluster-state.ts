/**
 * The proxy's one verdict on the cluster, from its live view (breakers, the health check's last
 * probes, the shared state): what `/health` answers a load balancer and what the status page's
 * banner says to a person, so the two cannot disagree.
 */
import type { ServeContext } from './context.js';

/** What the page's banner says, in the words Gatus and Uptime Kuma lead with. */
export type Overall = 'operational' | 'degraded' | 'partial_outage' | 'major_outage';

export interface ClusterState {
  overall: Overall;
  /** `/health`'s contract: `ok`, `degraded` (200) or `down` (503). */
  status: 'ok' | 'degraded' | 'down';
  nodes: number;
  /** Nodes that can answer now: breaker not open, last probe not failed nor throttled. */
  routable: number;
  /** Down: breaker open or last probe failed. */
  down: string[];
  /** Answering 429: neither up nor down, and not routable. */
  throttled: string[];
  reason?: string;
}

export function clusterState(ctx: ServeContext): ClusterState {
  const now = ctx.deps.now();
  const probes = new Map(ctx.healer.lastProbes().map((p) => [p.id, p]));
  const down: string[] = [];
  const throttled: string[] = [];
  for (const n of ctx.config.nodes) {
    const probe = probes.get(n.id);
    // A probe this machine could not send says nothing of the node.
    const seen = probe !== undefined && !probe.local ? probe : undefined;
    if (ctx.health.view(n.id, now).state === 'circuit_open' || (seen && seen.status !== 'ok' && !seen.throttled)) down.push(n.id);
    else if (seen?.throttled) throttled.push(n.id);
  }
  const nodes = ctx.config.nodes.length;
  const routable = nodes - down.length - throttled.length;
  const away = ctx.health.unavailable;
  const base = { nodes, routable, down, throttled };
  if (routable === 0) return { ...base, overall: 'major_outage', status: 'down', reason: 'no node can answer' };
  const overall = down.length > 0 ? 'partial_outage' : 'degraded';
  // Serving on its own view: alive, and said first, since it is the proxy's own trouble.
  if (away !== undefined) return { ...base, overall, status: 'degraded', reason: `shared state unavailable: ${away}` };
  if (down.length > 0 || throttled.length > 0) return { ...base, overall, status: 'degraded', reason: `${routable} of ${nodes} nodes can answer (${[down.length > 0 ? `${down.join(', ')} down` : '', throttled.length > 0 ? `${throttled.join(', ')} throttled` : ''].filter(Boolean).join('; ')})` };
  return { ...base, overall: 'operational', status: 'ok' };
}

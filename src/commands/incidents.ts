/** `jarvis incidents`: the incident log, newest first, with filters and the per-node 24 h counts. */
import type { Config } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { countInWindow, parseSince, type Incident } from '../incidents/incident.js';
import { IncidentStore } from '../incidents/store.js';

export interface IncidentsOptions {
  config: Config;
  dataDir: string;
  wallNow: () => number;
  node?: string;
  since?: string;
  escalated?: boolean;
  limit?: number;
  prune?: boolean;
}

export interface NodeWindow {
  node: string;
  /** Incidents in the escalation window (24 h by default). */
  count: number;
  escalated: boolean;
}

export interface IncidentsResult {
  file: string;
  total: number;
  /** Matching the filters, newest first (cut to `limit`). */
  incidents: Incident[];
  matched: number;
  window: { hours: number; escalateAfter: number; nodes: NodeWindow[] };
  /** Older than the retention period (pruned at the next recovery, or now with --prune). */
  expired: number;
  pruned?: number;
}

export async function runIncidents(options: IncidentsOptions): Promise<IncidentsResult> {
  const { config, wallNow } = options;
  const store = new IncidentStore(options.dataDir, { now: wallNow, retentionDays: config.incidents.retentionDays });
  const pruned = options.prune ? await store.pruneNow() : undefined;
  const all = await store.list();
  const now = wallNow();
  let since: number | undefined;
  if (options.since) {
    try {
      since = parseSince(options.since, now);
    } catch (error) {
      throw new UsageError(`--since: ${(error as Error).message}`);
    }
  }
  const node = options.node?.toLowerCase();
  const matching = all.filter((i) => (!node || i.node === node) && (since === undefined || Date.parse(i.at) >= since) && (!options.escalated || i.escalated));
  matching.sort((a, b) => Date.parse(b.at) - Date.parse(a.at));

  const windowMs = config.incidents.windowHours * 3600_000;
  const nodes = [...new Set(all.map((i) => i.node))]
    .map((n) => {
      const count = countInWindow(all, n, now, { count: config.incidents.escalateAfter, windowMs });
      return { node: n, count, escalated: count >= config.incidents.escalateAfter };
    })
    .filter((w) => w.count > 0)
    .sort((a, b) => b.count - a.count || a.node.localeCompare(b.node));
  const cutoff = now - config.incidents.retentionDays * 86_400_000;
  return {
    file: store.file,
    total: all.length,
    incidents: options.limit !== undefined ? matching.slice(0, options.limit) : matching,
    matched: matching.length,
    window: { hours: config.incidents.windowHours, escalateAfter: config.incidents.escalateAfter, nodes },
    expired: all.filter((i) => Date.parse(i.at) < cutoff).length,
    ...(pruned !== undefined && { pruned }),
  };
}

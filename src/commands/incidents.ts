/** `jarvis incidents`: the incident log, newest first, with filters and the per-node 24 h counts. */
import { UsageError } from '../errors.js';
import { escalationRule, escalationWindow, parseSince, type Incident } from '../incidents/incident.js';
import { findNode } from '../config/nodes.js';
import type { CommandContext } from './context.js';

export interface IncidentsOptions {
  node?: string;
  since?: string;
  escalated?: boolean;
  limit?: number;
  prune?: boolean;
}

interface NodeWindow {
  node: string;
  /** Incidents that count toward escalation in the window (24 h by default), after the node's acknowledgement. */
  count: number;
  /** Every incident on the node in the window, counting or not. */
  recorded: number;
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

export async function runIncidents(options: IncidentsOptions, ctx: CommandContext): Promise<IncidentsResult> {
  const [config, records] = await Promise.all([ctx.config(), ctx.records()]);
  const wallNow = () => ctx.clock.now();
  if (options.node && !config.nodes.some((n) => n.id === options.node!.toLowerCase())) {
    // Incidents may name nodes since removed from the config: allow them, but say so.
    ctx.out.err(`note: ${options.node} is not in the config (${config.nodes.map((n) => n.id).join(', ')})`);
  }
  const store = records.incidents;
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
  // Each date is parsed once: with 10,000 incidents, parsing inside sort and per-node counts
  // costs more than reading the file.
  const timed = all.map((incident) => ({ incident, t: Date.parse(incident.at) }));
  const matching = timed.filter(({ incident: i, t }) => (!node || i.node === node) && (since === undefined || t >= since) && (!options.escalated || i.escalated));
  matching.sort((a, b) => b.t - a.t);

  // The same count recover and check print: what counts toward escalation, after the node's ack.
  const acks = await store.acks();
  const nodes = escalationWindow(all, acks, now, escalationRule(config));
  const cutoff = now - config.incidents.retentionDays * 86_400_000;
  return {
    file: store.file,
    total: all.length,
    incidents: (options.limit !== undefined ? matching.slice(0, options.limit) : matching).map((m) => m.incident),
    matched: matching.length,
    window: { hours: config.incidents.windowHours, escalateAfter: config.incidents.escalateAfter, nodes },
    expired: timed.filter((m) => m.t < cutoff).length,
    ...(pruned !== undefined && { pruned }),
  };
}

/** `jarvis incidents ack <node>`: incidents before now stop blocking automatic restarts. */
export async function runAck(options: { nodeId: string }, ctx: CommandContext): Promise<{ node: string; at: string }> {
  const node = findNode(await ctx.config(), options.nodeId);
  const at = new Date(ctx.clock.now()).toISOString();
  await (await ctx.records()).incidents.acknowledge(node.id, at);
  return { node: node.id, at };
}

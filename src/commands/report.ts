/** `jarvis report`: per node uptime, incidents, time to recovery, latency and worst hour over a window, from the probe history. */
import { UsageError } from '../errors.js';
import { parseSince } from '../incidents/incident.js';
import { nodeReport, type NodeReport } from '../history/report.js';
import type { CommandContext } from './context.js';
import { historyRule, type Hysteresis } from '../history/buckets.js';

export interface ReportResult {
  from: string;
  to: string;
  /** The hysteresis the states were judged with. */
  rule: Hysteresis;
  nodes: NodeReport[];
}

export async function runReport(options: { since: string }, ctx: CommandContext): Promise<ReportResult> {
  const [config, records] = await Promise.all([ctx.config(), ctx.records()]);
  const now = ctx.clock.now();
  let from: number;
  try {
    from = parseSince(options.since, now);
  } catch (error) {
    throw new UsageError(`--since: ${(error as Error).message}`);
  }
  if (from >= now) throw new UsageError(`--since: ${options.since} is not in the past`);
  // The fold step first: a month reads as day files, not hours of raw lines.
  await records.maintain().catch((error: unknown) => process.stderr.write(`jarvis: history: could not fold finished hours: ${(error as Error).message}\n`));
  const rule = historyRule(config);
  const [history, incidents] = await Promise.all([records.history.read(from, now), records.incidents.list()]);
  return {
    from: new Date(from).toISOString(),
    to: new Date(now).toISOString(),
    rule,
    nodes: config.nodes.map((n) => nodeReport(n.id, history.get(n.id), from, now, incidents, rule.coverMs)),
  };
}

/** `jarvis report`: per node uptime, incidents, time to recovery, latency and worst hour over a window, from the probe history. */
import { UsageError } from '../errors.js';
import { parseSince } from '../incidents/incident.js';
import { IncidentStore } from '../incidents/store.js';
import { nodeReport, type NodeReport } from '../history/report.js';
import { historyStore } from '../store/history.js';
import type { CommandContext } from './context.js';

export interface ReportResult {
  from: string;
  to: string;
  /** The hysteresis the states were judged with. */
  rule: { upAfter: number; downAfter: number };
  nodes: NodeReport[];
}

export async function runReport(options: { since: string }, ctx: CommandContext): Promise<ReportResult> {
  const config = await ctx.config();
  const now = ctx.clock.now();
  let from: number;
  try {
    from = parseSince(options.since, now);
  } catch (error) {
    throw new UsageError(`--since: ${(error as Error).message}`);
  }
  if (from >= now) throw new UsageError(`--since: ${options.since} is not in the past`);
  const warn = (m: string) => process.stderr.write(`jarvis: ${m}\n`);
  const [history, incidents] = await Promise.all([historyStore(config, ctx.dataDir, () => ctx.clock.now(), warn, ctx.env).read(from, now), new IncidentStore(ctx.dataDir, { now: () => now }).list()]);
  return {
    from: new Date(from).toISOString(),
    to: new Date(now).toISOString(),
    rule: { upAfter: config.check.upAfter, downAfter: config.check.confirmProbes + 1 },
    nodes: config.nodes.map((n) => nodeReport(n.id, history.get(n.id), from, now, incidents)),
  };
}

/** `jarvis status`: probe every node at once and report (runbook step 1). */
import { probeAll, type ProbeResult } from '../probe/probe.js';
import type { CommandContext } from './context.js';

export interface StatusResult {
  checkedAt: string;
  durationMs: number;
  nodes: ProbeResult[];
  summary: { total: number; ok: number; failing: number };
}

export async function runStatus(ctx: CommandContext): Promise<StatusResult> {
  const [config, deps] = await Promise.all([ctx.config(), ctx.probeDeps()]);
  const checkedAt = new Date(ctx.clock.now()).toISOString();
  const started = deps.now();
  const nodes = await ctx.busy(`probing ${config.nodes.length} node${config.nodes.length === 1 ? '' : 's'}…`, () => probeAll(config.nodes, deps));
  const ok = nodes.filter((n) => n.status === 'ok').length;
  return {
    checkedAt,
    durationMs: Math.round(deps.now() - started),
    nodes,
    summary: { total: nodes.length, ok, failing: nodes.length - ok },
  };
}

/** `jarvis status`: probe every node at once and report (runbook step 1). */
import type { Config } from '../config/schema.js';
import { probeAll, type ProbeDeps, type ProbeResult } from '../probe/probe.js';

export interface StatusResult {
  checkedAt: string;
  durationMs: number;
  nodes: ProbeResult[];
  summary: { total: number; ok: number; failing: number };
}

export interface StatusOptions {
  config: Config;
  deps: ProbeDeps;
  /** Wall clock for `checkedAt`. */
  wallNow: () => number;
}

export async function runStatus({ config, deps, wallNow }: StatusOptions): Promise<StatusResult> {
  const checkedAt = new Date(wallNow()).toISOString();
  const started = deps.now();
  const nodes = await probeAll(config.nodes, deps);
  const ok = nodes.filter((n) => n.status === 'ok').length;
  return {
    checkedAt,
    durationMs: Math.round(deps.now() - started),
    nodes,
    summary: { total: nodes.length, ok, failing: nodes.length - ok },
  };
}

/** `jarvis status`: probe every node at once and report (runbook step 1). */
import { probeAll, type ProbeResult } from '../probe/probe.js';
import { collectEvidence, evidenceOptions, type Evidence } from '../runbook/evidence/evidence.js';
import type { CommandContext } from './context.js';
import { stopIfInterrupted } from '../errors.js';
import { probeSamples } from '../history/samples.js';
import { readServe } from './serve-status.js';

export interface StatusResult {
  checkedAt: string;
  durationMs: number;
  /** With --evidence: each node's GPU, loaded models, logs and process beside its probe; `pins` when a serve runs on the data dir. */
  nodes: (ProbeResult & { evidence?: Evidence; pins?: number })[];
  /** A `jarvis serve` running on this data dir: where, and the conversations KV-cache affinity has pinned. */
  serve?: { url: string; affinity: boolean; pins: number };
  /** `failing` counts every node not ok; `throttled` those of them answering 429 (neither up nor down). */
  summary: { total: number; ok: number; failing: number; throttled: number };
}

export async function runStatus(ctx: CommandContext, options: { evidence?: boolean } = {}): Promise<StatusResult> {
  const [config, deps, records] = await Promise.all([ctx.config(), ctx.probeDeps(), ctx.records()]);
  const checkedAt = new Date(ctx.clock.now()).toISOString();
  const started = deps.now();
  const probing = `probing ${config.nodes.length} node${config.nodes.length === 1 ? '' : 's'}…`;
  // A serve on this data dir knows what probes cannot: the conversations pinned to each node.
  const serving = readServe(undefined, records.paths.serve, deps, ctx.env);
  // Without the flag nothing but the probes runs (and the runbook is not even loaded).
  const nodes = options.evidence
    ? await ctx.busy(probing, async () => {
        const runbook = await ctx.runbook();
        const opts = evidenceOptions(config, runbook, records.paths, process.platform, ctx.env);
        const evidenceDeps = { http: deps.http, run: deps.run, now: () => ctx.clock.now(), ...(deps.signal && { signal: deps.signal }) };
        const [probes, evidence] = await Promise.all([probeAll(config.nodes, deps), Promise.all(config.nodes.map((n) => collectEvidence(n, evidenceDeps, opts)))]);
        return probes.map((p, i) => ({ ...p, evidence: evidence[i]! }));
      })
    : await ctx.busy(probing, () => probeAll(config.nodes, deps));
  stopIfInterrupted(deps.signal);
  // Every probe goes into the history; a history that cannot be written costs the status nothing.
  await records.history
    .append(probeSamples(nodes, Date.parse(checkedAt)))
    .catch((error: unknown) => process.stderr.write(`jarvis: history: ${(error as Error).message}\n`));
  const ok = nodes.filter((n) => n.status === 'ok').length;
  const serve = await serving;
  // What the serve said is read as numbers only (the page's JSON is anyone's on the port).
  const pinsOf = (id: string) => {
    const n = serve?.status.nodes?.[id]?.pins;
    return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : 0;
  };
  return {
    checkedAt,
    durationMs: Math.round(deps.now() - started),
    nodes: serve ? nodes.map((n) => ({ ...n, pins: pinsOf(n.id) })) : nodes,
    summary: { total: nodes.length, ok, failing: nodes.length - ok, throttled: nodes.filter((n) => n.throttled).length },
    ...(serve && { serve: { url: serve.url, affinity: serve.status.affinity?.enabled !== false, pins: nodes.reduce((a, n) => a + pinsOf(n.id), 0) } }),
  };
}

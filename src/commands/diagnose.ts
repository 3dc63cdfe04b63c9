/** `jarvis diagnose <node>`: probe, host check and the runbook's diagnosis for one node. */
import type { Config, NodeConfig } from '../config/schema.js';
import { findNode } from '../config/nodes.js';
import { checkHost, type HostCheck } from '../probe/ping.js';
import { probeNode, type ProbeDeps, type ProbeResult } from '../probe/probe.js';
import { diagnoseNode, fallbacksFor, fallbackStatuses, type Diagnosis, type FallbackStatus } from '../runbook/diagnosis.js';
import type { Runbook } from '../runbook/runbook.js';
import { collectEvidence, evidenceOptions, type Evidence } from '../runbook/evidence/evidence.js';
import type { CommandContext } from './context.js';
import { stopIfInterrupted } from '../errors.js';

export interface DiagnoseResult {
  checkedAt: string;
  node: ProbeResult & { role?: string; impact: NodeConfig['impact'] };
  host: HostCheck | null;
  diagnosis: Diagnosis;
  /** GPU, loaded models, logs and the process, collected beside the probe. */
  evidence: Evidence;
  /** Who takes over this node's work meanwhile, with their live status. */
  fallbacks: FallbackStatus[];
}

export interface DiagnoseOptions {
  nodeId: string;
  platform?: NodeJS.Platform;
  /** Ping timeout. */
  pingTimeoutMs?: number;
}

export async function runDiagnose(options: DiagnoseOptions, ctx: CommandContext): Promise<DiagnoseResult> {
  const [config, runbook, deps, records] = await Promise.all([ctx.config(), ctx.runbook(), ctx.probeDeps(), ctx.records()]);
  const node = findNode(config, options.nodeId);
  const platform = options.platform ?? process.platform;
  const evidence = () => collectEvidence(node, { http: deps.http, run: deps.run, now: () => ctx.clock.now(), ...(deps.signal && { signal: deps.signal }) }, evidenceOptions(config, runbook, records.paths, platform, ctx.env));
  return ctx.busy(`diagnosing ${node.id}…`, () => diagnose(config, runbook, node, deps, ctx.clock.now(), { ...options, platform }, evidence));
}

async function diagnose(config: Config, runbook: Runbook, node: NodeConfig, deps: ProbeDeps, now: number, options: DiagnoseOptions & { platform: NodeJS.Platform }, collect: () => Promise<Evidence>): Promise<DiagnoseResult> {
  const platform = options.platform;
  const checkedAt = new Date(now).toISOString();
  const advice = fallbacksFor(config, node.id);
  const fallbackNodes = advice.map((a) => config.nodes.find((n) => n.id === a.node)!);

  // Everything at once: the node, its machine, the evidence on it, and the nodes that would take over.
  const [probe, host, evidence, fallbackProbes] = await Promise.all([
    probeNode(node, deps),
    node.host
      ? checkHost(node.host, { timeoutMs: options.pingTimeoutMs ?? 1000, run: deps.run, platform, ...(deps.signal && { signal: deps.signal }) })
      : Promise.resolve(null),
    collect(),
    Promise.all(fallbackNodes.map((n) => probeNode(n, deps))),
  ]);

  // Cut by Ctrl-C: the probe did not fail, it was stopped; there is nothing to diagnose.
  stopIfInterrupted(deps.signal);
  const diagnosis = diagnoseNode(runbook, node, probe, host ?? undefined, { platform }, evidence);
  return {
    checkedAt,
    node: { ...probe, ...(node.role !== undefined && { role: node.role }), impact: node.impact },
    host,
    diagnosis,
    evidence,
    fallbacks: fallbackStatuses(advice, fallbackProbes),
  };
}

/**
 * `jarvis check`'s step 3 and its log: each node's result, its transition against what the last
 * check recorded, and its level (the Nagios rule); and what check.log keeps of a run.
 */
import { openWindow } from '../alerts/maintenance.js';
import type { Config } from '../config/schema.js';
import { isProbeStatus } from '../probe/classify.js';
import type { ProbeResult } from '../probe/probe.js';
import { fallbacksFor } from '../runbook/diagnosis.js';
import type { StateFile } from '../store/state-file.js';
import type { NagiosLevel } from './nagios.js';
import type { CheckNodeResult, CheckResult } from './run.js';
import { transitionOf } from './transitions.js';

/** What this run saw and did per node, for its results. */
interface RunFacts {
  first: readonly ProbeResult[];
  final: ReadonlyMap<string, ProbeResult>;
  flapped: ReadonlySet<string>;
  recoveries: ReadonlyMap<string, CheckNodeResult['recovery']>;
  escalatedNow: ReadonlySet<string>;
  evidence: ReadonlyMap<string, string>;
}

/** Step 3: each node's result, its transition against what the last check recorded, and its level. */
export function nodeResults(config: Config, run: RunFacts, before: StateFile, nowMs: number): CheckNodeResult[] {
  const nodes: CheckNodeResult[] = config.nodes.map((node) => {
    const p = run.final.get(node.id)!;
    const prev = before.check?.nodes[node.id];
    const recovery = run.recoveries.get(node.id);
    return {
      id: node.id,
      kind: node.kind,
      status: p.status,
      firstStatus: run.first.find((f) => f.id === node.id)!.status,
      latencyMs: p.latencyMs,
      ...(p.detail && { detail: p.detail }),
      ...(run.flapped.has(node.id) && { flapped: true }),
      // A node recovered in this run went down (if it was up before) and is back.
      transition: recovery?.action === 'recovered' ? (prev && prev.status !== 'ok' ? 'resolved' : 'down') : transitionOf(prev, p.status),
      ...(prev && isProbeStatus(prev.status) && { previous: prev.status }),
      ...(recovery && { recovery }),
      escalated: run.escalatedNow.has(node.id),
      ...(p.status !== 'ok' && p.throttled && { throttled: true, ...(p.retryAfterS !== undefined && { retryAfterS: p.retryAfterS }) }),
      ...(openWindow(config, node.id, nowMs) && { silenced: true }),
      ...(run.evidence.has(node.id) && { evidence: run.evidence.get(node.id)! }),
      level: 'ok',
    };
  });
  const okNow = new Set(nodes.filter((n) => n.status === 'ok').map((n) => n.id));
  for (const n of nodes) n.level = levelOf(n, config, okNow);
  return nodes;
}

function levelOf(n: CheckNodeResult, config: Config, okNow: Set<string>): NagiosLevel {
  if (n.status === 'ok') return n.recovery?.action === 'recovered' ? 'warning' : 'ok';
  if (n.silenced) return 'ok';
  const node = config.nodes.find((x) => x.id === n.id)!;
  if (n.escalated) return 'critical';
  if (node.impact === 'low' || n.throttled) return 'warning';
  if (fallbacksFor(config, n.id).some((f) => okNow.has(f.node))) return 'warning';
  return 'critical';
}

/** What check.log keeps of a run. */
export function logEntry(result: CheckResult, host: string): Record<string, unknown> {
  return {
    at: result.checkedAt,
    host,
    level: result.level,
    durationMs: result.durationMs,
    nodes: Object.fromEntries(result.nodes.map((n) => [n.id, n.status])),
    transitions: result.nodes.filter((n) => n.transition !== 'unchanged').map((n) => `${n.id}: ${n.previous ?? 'new'} -> ${n.status}`),
    recoveries: result.nodes.filter((n) => n.recovery).map((n) => ({ node: n.id, ...n.recovery })),
    alerts: result.alerts.length,
    deliveries: result.deliveries.filter((d) => !d.ok),
  };
}

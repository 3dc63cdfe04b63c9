/**
 * jarvis's commands as MCP tools: each the same run function the CLI calls, with an input schema,
 * an output schema its `structuredContent` follows (what `--json` prints, scrubbed), annotations,
 * and a short text for clients that read text only. What changes state (recover, reset,
 * acknowledge) runs only when the server was started allowing it; otherwise it says how to allow
 * it (recover gives its plan as a dry run).
 */
import { z } from 'zod';
import type { CommandContext } from '../commands/context.js';
import type { StepEvent } from '../runbook/executor.js';
import { jsonSafe } from '../system/text.js';

/** What a tool call gets besides its arguments: its context (cancelled with the call), and a progress reporter. */
export interface ToolCall {
  ctx: CommandContext;
  /** May state-changing tools act (`jarvis mcp --allow-recover`, `mcp.allowRecover`)? */
  allowed: boolean;
  progress: (message: string, done: number, total?: number) => void;
}

interface ToolResult {
  structured: Record<string, unknown>;
  text: string;
}

export interface JarvisTool {
  name: string;
  title: string;
  description: string;
  input: z.ZodRawShape;
  output: z.ZodType<Record<string, unknown>>;
  annotations: { readOnlyHint: boolean; destructiveHint?: boolean; idempotentHint?: boolean; openWorldHint?: boolean };
  run: (args: Record<string, unknown>, call: ToolCall) => Promise<ToolResult>;
}

/** A result as `--json` prints it: secrets scrubbed, plain JSON. */
export function asJson(value: unknown): Record<string, unknown> {
  return JSON.parse(jsonSafe(JSON.stringify(value))) as Record<string, unknown>;
}

const ALLOW = 'Start the server with `jarvis mcp --allow-recover` (or set `mcp: { allowRecover: true }` in the config) to allow it; ask the person first.';

/** A state-changing tool the server may not run: the node checked (an unknown one is still an error), and how to allow it. */
async function refused(ctx: CommandContext, nodeId: unknown, what: string, extra: Record<string, unknown> = {}): Promise<ToolResult> {
  const { findNode } = await import('../config/nodes.js');
  const node = findNode(await ctx.config(), String(nodeId)).id;
  const note = `Not done: this server may not ${what}. ${ALLOW}`;
  return { structured: { allowed: false, node, ...extra, note }, text: note };
}

const NODE = z.string().min(1).max(100).describe('node id from the config, e.g. m2 (case-insensitive)');
const loose = <T extends z.ZodRawShape>(shape: T) => z.looseObject(shape);
const probeShape = { id: z.string(), kind: z.string(), status: z.string(), latencyMs: z.number(), throttled: z.boolean().optional(), detail: z.string().optional() };

const clusterStatus: JarvisTool = {
  name: 'cluster_status',
  title: 'Cluster status',
  description: "Probes every node of the cluster at once (runbook step 1) and says which answer: the same facts as `jarvis status --json` (each node's status word: ok, refused, timeout, http_error, throttled, ...), plus a one-line summary.",
  input: {},
  output: loose({ checkedAt: z.string(), durationMs: z.number(), nodes: z.array(loose(probeShape)), summary: loose({ total: z.number(), ok: z.number(), failing: z.number(), throttled: z.number() }), line: z.string() }),
  annotations: { readOnlyHint: true, openWorldHint: true },
  run: async (_args, { ctx }) => {
    const { runStatus } = await import('../commands/status.js');
    const { statusWord } = await import('../probe/classify.js');
    const r = await runStatus(ctx);
    const bad = r.nodes.filter((n) => n.status !== 'ok').map((n) => `${n.id} ${statusWord(n)}`);
    const line = `${r.summary.ok}/${r.summary.total} nodes ok${bad.length > 0 ? `; ${bad.join(', ')}` : ''}`;
    return { structured: { ...asJson(r), line }, text: line };
  },
};

const diagnoseNode: JarvisTool = {
  name: 'diagnose_node',
  title: 'Diagnose a node',
  description: "Probes one node, pings its machine, reads its evidence (GPU, loaded models, logs, process) and applies the runbook's diagnosis (steps 2-3): cause, meaning, actions, who takes its work meanwhile. As `jarvis diagnose NODE --json`.",
  input: { node: NODE },
  output: loose({ checkedAt: z.string(), node: loose(probeShape), diagnosis: loose({ cause: z.string(), meaning: z.string(), actions: z.array(z.string()), recovery: z.string() }), fallbacks: z.array(loose({ node: z.string(), status: z.string() })), evidence: loose({ summary: z.string() }) }),
  annotations: { readOnlyHint: true, openWorldHint: true },
  run: async (args, { ctx }) => {
    const { runDiagnose } = await import('../commands/diagnose.js');
    const r = await runDiagnose({ nodeId: String(args.node) }, ctx);
    const d = r.diagnosis;
    const takers = r.fallbacks.filter((f) => f.status === 'ok').map((f) => f.node);
    const text = [`${r.node.id}: ${r.node.status}${r.node.detail ? ` (${r.node.detail})` : ''}`, `cause: ${d.cause}: ${d.meaning}`, ...d.actions.map((a, i) => `${i + 1}. ${a}`), `evidence: ${r.evidence.summary}`, `meanwhile: ${takers.length > 0 ? `${takers.join(', ')} can take its work` : 'no other node answers'}`].join('\n');
    return { structured: asJson(r), text };
  },
};

const recoverNode: JarvisTool = {
  name: 'recover_node',
  title: 'Recover a node',
  description: "Runs the runbook's recovery on one node (steps 4-5): assess, restart per its kind (locally or over ssh), wait until healthy, verify with a ping completion, record the incident (escalation: 3 in 24 h). Restarts a service: ask the person first. Only when the server allows it; otherwise, and with dryRun, returns the plan without running anything. force restarts where the runbook would hold (a low-impact node, a busy one whose process is alive). Progress is reported per step; cancelling the call stops the step under way (the incident says interrupted).",
  input: { node: NODE, dryRun: z.boolean().optional().describe('only assess and return the plan'), force: z.boolean().optional().describe('restart even where the runbook would hold') },
  output: loose({ allowed: z.boolean(), node: z.string(), dryRun: z.boolean(), outcome: z.string(), plan: loose({ action: z.string(), reason: z.string() }), steps: z.array(loose({ label: z.string(), ok: z.boolean() })), note: z.string().optional() }),
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
  run: async (args, { ctx, allowed, progress }) => {
    const { runRecover } = await import('../commands/recover.js');
    const dryRun = Boolean(args.dryRun) || !allowed;
    // Progress rises at each step's start (half a step) and end, out of the plan's steps.
    let done = 0;
    let total: number | undefined;
    const onEvent = (e: StepEvent) => {
      if (e.type === 'start') progress(`${e.step.label}…`, done + 0.5, total);
      else if (e.type === 'end') progress(`${e.record.ok ? 'done' : 'failed'}: ${e.record.label}${e.record.detail ? ` - ${e.record.detail}` : ''}`, ++done, total);
    };
    const onPlan = (planned: { plan: { steps: unknown[] } }) => void (total = planned.plan.steps.length);
    const r = await runRecover({ nodeId: String(args.node), force: Boolean(args.force), wait: true, dryRun, onEvent, onPlan }, ctx);
    const note = !allowed ? `Not run: this server may not recover nodes. ${ALLOW}` : undefined;
    const steps = r.dryRun ? r.plan.steps.map((s, i) => `${i + 1}. ${s.label}`) : r.steps.map((s) => `${s.ok ? 'ok' : 'FAILED'}: ${s.label}${s.detail ? ` - ${s.detail}` : ''}`);
    const head = r.dryRun ? `${r.node}: would ${r.plan.action} (${r.plan.reason})` : `${r.node}: ${r.outcome}${r.incident ? ` (incident ${r.incident.id}${r.incident.escalated ? ', ESCALATED: investigate, do not restart again' : ''})` : ''}`;
    const text = [head, ...steps, ...(note ? [note] : [])].join('\n');
    return { structured: { ...asJson(r), allowed, ...(note && { note }) }, text };
  },
};

const listIncidents: JarvisTool = {
  name: 'list_incidents',
  title: 'List incidents',
  description: "The incident log, newest first, with each node's count over the escalation window (3 or more that count within 24 h escalate: investigate rather than restart). As `jarvis incidents --json`.",
  input: { node: NODE.optional(), since: z.string().max(40).optional().describe('24h, 7d, or an ISO date'), escalated: z.boolean().optional().describe('only escalated ones'), limit: z.number().int().min(1).max(1000).optional() },
  output: loose({ file: z.string(), total: z.number(), matched: z.number(), incidents: z.array(loose({ id: z.string(), node: z.string(), at: z.string(), outcome: z.string() })), window: loose({ hours: z.number(), escalateAfter: z.number(), nodes: z.array(loose({ node: z.string(), count: z.number(), recorded: z.number(), escalated: z.boolean() })) }) }),
  annotations: { readOnlyHint: true },
  run: async (args, { ctx }) => {
    const { runIncidents } = await import('../commands/incidents.js');
    const r = await runIncidents({ ...(typeof args.node === 'string' && { node: args.node }), ...(typeof args.since === 'string' && { since: args.since }), ...(args.escalated === true && { escalated: true }), limit: typeof args.limit === 'number' ? args.limit : 20 }, ctx);
    const lines = r.incidents.map((i) => `${i.at} ${i.node} ${i.status} ${i.diagnosis} ${i.outcome}${i.escalated ? ' ESCALATED' : ''}`);
    const window = r.window.nodes.map((n) => `${n.node} ${n.recorded}, ${n.count} counting${n.escalated ? ' (escalated)' : ''}`).join('; ');
    return { structured: asJson(r), text: [`${r.matched} of ${r.total} incidents`, ...lines, `last ${r.window.hours} h: ${window || 'none'}`].join('\n') };
  },
};

const acknowledge: JarvisTool = {
  name: 'acknowledge_incidents',
  title: 'Acknowledge a node’s incidents',
  description: 'Marks the incidents of a node as seen: before now they stop counting toward escalation, so automatic restarts resume. Only after a person has investigated; only when the server allows it. As `jarvis incidents ack NODE`.',
  input: { node: NODE },
  output: loose({ allowed: z.boolean(), node: z.string(), at: z.string().optional(), note: z.string().optional() }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
  run: async (args, { ctx, allowed }) => {
    if (!allowed) return refused(ctx, args.node, 'acknowledge incidents');
    const { runAck } = await import('../commands/incidents.js');
    const r = await runAck({ nodeId: String(args.node) }, ctx);
    return { structured: { allowed, ...r }, text: `Acknowledged ${r.node} at ${r.at}: its earlier incidents no longer block automatic restarts.` };
  },
};

const nodeHealth: JarvisTool = {
  name: 'node_health',
  title: 'Breakers and counts',
  description: "Each node's circuit breaker (closed, open, half-open) and counts as the cascade remembers them (shared by the CLI and every jarvis serve). As `jarvis health --json`.",
  input: {},
  output: loose({ nodes: z.record(z.string(), loose({ state: z.string(), success_rate: z.number(), consecutive_failures: z.number(), total_requests: z.number() })) }),
  annotations: { readOnlyHint: true },
  run: async (_args, { ctx }) => {
    const { runHealth } = await import('../commands/health.js');
    const r = await runHealth(ctx);
    const text = Object.entries(r)
      .map(([id, h]) => `${id}: ${h.state}, ${h.total_requests === 0 ? 'no requests' : `${Math.round(h.success_rate * 100)} % answered of ${h.total_requests}`}${h.consecutive_failures > 0 ? `, ${h.consecutive_failures} failures in a row` : ''}`)
      .join('\n');
    return { structured: { nodes: asJson(r) }, text: text || 'no node has recorded state' };
  },
};

const resetBreaker: JarvisTool = {
  name: 'reset_breaker',
  title: 'Reset a breaker',
  description: "Closes a node's circuit breaker and clears its counts (a running jarvis serve follows within a second). Only when the node is known to answer again; only when the server allows it. As `jarvis reset NODE`.",
  input: { node: NODE },
  output: loose({ allowed: z.boolean(), node: z.string().nullable(), nodes: z.array(z.string()), note: z.string().optional() }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true },
  run: async (args, { ctx, allowed }) => {
    if (!allowed) return refused(ctx, args.node, 'reset breakers', { nodes: [] });
    const { runReset } = await import('../commands/reset.js');
    const r = await runReset({ nodeId: String(args.node) }, ctx);
    return { structured: { allowed, ...asJson(r) }, text: r.nodes.length > 0 ? `Reset ${r.node}: breaker closed, counts cleared.` : `${r.node} had no recorded state; nothing to reset.` };
  },
};

const uptimeReport: JarvisTool = {
  name: 'uptime_report',
  title: 'Uptime report',
  description: 'Per node over a window: uptime (up over up and down time; throttled time apart; how much of the window was watched), outages, incidents, time to recovery, latency, worst hour. As `jarvis report --json`.',
  input: { since: z.string().max(40).optional().describe('24h, 7d (default), 30d, or an ISO date') },
  output: loose({ from: z.string(), to: z.string(), nodes: z.array(loose({ node: z.string(), uptimePct: z.number().nullable(), watchedMs: z.number(), windowMs: z.number() })) }),
  annotations: { readOnlyHint: true },
  run: async (args, { ctx }) => {
    const { runReport } = await import('../commands/report.js');
    const { coverageText } = await import('../history/timeline.js');
    const r = await runReport({ since: typeof args.since === 'string' ? args.since : '7d' }, ctx);
    const text = r.nodes.map((n) => `${n.node}: ${n.uptimePct === null ? 'no uptime' : `${n.uptimePct.toFixed(2)} % up`}, watched ${coverageText(n.watchedMs, n.windowMs).text}, ${n.downPeriods.length} outage(s), ${n.incidents} incident(s)`).join('\n');
    return { structured: asJson(r), text };
  },
};

export const TOOLS: readonly JarvisTool[] = [clusterStatus, diagnoseNode, recoverNode, listIncidents, acknowledge, nodeHealth, resetBreaker, uptimeReport];

/**
 * Runbook step 2 and 3 for one node: from what the probe and the host check saw, the cause, what
 * it means, and the actions to take on this node. Pure: the runbook rules are data.
 */
import { describeCredentials } from '../config/credentials.js';
import type { Config, NodeConfig } from '../config/schema.js';
import type { ProbeResult } from '../probe/probe.js';
import { pingArgv, type HostCheck } from '../probe/ping.js';
import { displayArgv } from '../system/process.js';
import type { Runbook, RunbookRule } from './runbook.js';
import { targetFor } from './target.js';
import { aliveCheck, fillArgv, loadModelArgv, processCheck, serviceArgv, startStep } from './commands.js';
import { formatAge, gpuLines, offloadText, queueText, unloadHint, type Evidence, type EvidenceFacts } from './evidence/evidence.js';

type HostState = 'up' | 'down' | 'unknown';

export interface Diagnosis {
  node: string;
  status: ProbeResult['status'];
  /** The runbook rule that matched. */
  rule: string;
  cause: string;
  meaning: string;
  severity: RunbookRule['severity'];
  recovery: RunbookRule['recovery'];
  actions: string[];
  /** What the host check adds (e.g. "the machine answers ping"). */
  hostNote?: string;
  /** The evidence in one line, when any was collected. */
  evidence?: string;
}

export interface DiagnoseContext {
  platform: NodeJS.Platform;
}

function hostState(host: HostCheck | undefined): HostState {
  if (!host || host.reachable === null) return 'unknown';
  return host.reachable ? 'up' : 'down';
}

/** Nothing collected: every evidence condition sees `unknown` (the rules of old then decide). */
const NO_FACTS: EvidenceFacts = { gpu: 'unknown', queue: 'unknown', offload: 'unknown', loaded: 'unknown', progress: 'unknown', process: 'unknown', log: [] };

/** The first runbook rule whose conditions all hold. */
function matchRule(rules: readonly RunbookRule[], node: NodeConfig, probe: ProbeResult, host: HostState, facts: EvidenceFacts): RunbookRule | undefined {
  return rules.find(({ when }) => {
    for (const key of ['gpu', 'queue', 'offload', 'loaded', 'progress', 'process'] as const) {
      const allowed = when[key] as readonly string[] | undefined;
      if (allowed && !allowed.includes(facts[key])) return false;
    }
    if (when.log && !when.log.some((k) => facts.log.includes(k))) return false;
    if (when.status && !when.status.includes(probe.status)) return false;
    if (when.host && when.host !== host) return false;
    if (when.throttled !== undefined && Boolean(probe.throttled) !== when.throttled) return false;
    if (when.impact && when.impact !== node.impact) return false;
    if (when.kind && !when.kind.includes(node.kind)) return false;
    if (when.httpStatus) {
      const code = probe.httpStatus;
      if (code === undefined) return false;
      const hit = when.httpStatus.some((c) => (typeof c === 'number' ? c === code : Math.floor(code / 100) === Number(c[0])));
      if (!hit) return false;
    }
    return true;
  });
}

/** Diagnoses one node. */
export function diagnoseNode(runbook: Runbook, node: NodeConfig, probe: ProbeResult, host: HostCheck | undefined, ctx: DiagnoseContext, evidence?: Evidence): Diagnosis {
  const state = hostState(host);
  const rule = matchRule(runbook.rules, node, probe, state, evidence?.facts ?? NO_FACTS);
  if (!rule) {
    // The shipped runbook ends with catch-alls; an edited one might not.
    return {
      node: node.id,
      status: probe.status,
      rule: '(none)',
      cause: probe.status,
      meaning: 'No runbook rule matches this case.',
      severity: probe.status === 'ok' ? 'ok' : 'critical',
      recovery: 'investigate',
      actions: [],
      ...(evidence && { evidence: evidence.summary }),
    };
  }
  const list = Array.isArray(rule.actions) ? rule.actions : (rule.actions[node.kind] ?? rule.actions.default ?? []);
  const vars = placeholders(runbook, node, probe, ctx, evidence);
  const hostNote = describeHost(host, probe);
  return {
    node: node.id,
    status: probe.status,
    rule: rule.name,
    cause: rule.cause,
    meaning: rule.meaning,
    severity: rule.severity,
    recovery: rule.recovery,
    actions: list.map((a) => fill(a, vars)),
    ...(hostNote && { hostNote }),
    ...(evidence && { evidence: evidence.summary }),
  };
}

/**
 * The diagnosis a recovery plans from. Forcing a low-impact node means "treat it as any other",
 * so the rule underneath the low-impact one decides what to do.
 */
export function diagnosisForPlan(runbook: Runbook, node: NodeConfig, probe: ProbeResult, host: HostCheck | undefined, ctx: DiagnoseContext, force: boolean, evidence?: Evidence): Diagnosis {
  const asIs = node.impact === 'low' && force ? { ...node, impact: 'normal' as const } : node;
  return diagnoseNode(runbook, asIs, probe, host, ctx, evidence);
}

function describeHost(host: HostCheck | undefined, probe: ProbeResult): string | undefined {
  if (!host) return undefined;
  if (probe.status === 'refused' && host.reachable === false) {
    return `${host.detail}, yet its TCP stack refused the connection: the machine is up and ICMP is probably filtered`;
  }
  return host.detail;
}


function placeholders(runbook: Runbook, node: NodeConfig, probe: ProbeResult, ctx: DiagnoseContext, evidence: Evidence | undefined): Record<string, string> {
  const facts = runbook.kinds[node.kind] ?? {};
  // The commands shown are the ones a recovery runs (plan.ts builds both); a node with neither
  // ssh nor a local address gets the bare command, to run on its machine.
  const target = targetFor(node);
  const elsewhere = (argv: readonly string[]) => `on ${node.host}: ${displayArgv(argv)} (add \`ssh\` to the node's config to run it from here)`;
  const start = startStep(node, runbook, '<data>/logs');
  const bareStart = node.restart ?? serviceArgv(node, facts);
  const processName = node.process === false ? undefined : (node.process ?? (ctx.platform === 'win32' ? facts.processWindows : facts.process));
  const running = processCheck(node, runbook, ctx.platform);
  const load = loadModelArgv(node, runbook);
  const check = node.check?.command ? displayArgv(node.check.command) : node.check?.url ? `GET ${node.check.url}` : `jarvis diagnose ${node.id}`;
  return {
    id: node.id,
    url: node.url ?? '(no url)',
    host: node.host ?? '(no host)',
    model: node.model ?? '(no model configured)',
    ping: node.host ? displayArgv(pingArgv(ctx.platform, node.host, 1000)) : '(no host to ping)',
    processCheck: running ? displayArgv(running.argv) : processName ? (target ? displayArgv(aliveCheck(target, processName, ctx.platform).argv) : elsewhere(['pgrep', '-x', processName])) : `look for the server's process on ${node.host ?? 'its machine'}`,
    restart: typeof start !== 'string' ? displayArgv(start.argv) : !target && bareStart ? elsewhere(bareStart) : 'no restart command known: set `restart` (an argv) on this node in the config',
    check,
    retryAfter: String(probe.retryAfterS ?? 60),
    logs: facts.logs ?? "the server's logs",
    loadModel: load ? displayArgv(load) : !target && facts.loadModel ? elsewhere(fillArgv(facts.loadModel, node)) : `load ${node.model ?? 'the model'} on the server`,
    credentials: describeCredentials(node) ?? 'none configured: set `apiKeyEnv` on the node to the name of the environment variable holding its key',
    gpu: evidence ? gpuLines(evidence.gpu).join(', ') || (evidence.gpu.ok ? 'no GPU' : evidence.gpu.detail) : '(GPU not checked)',
    offload: (evidence && offloadText(evidence.models)) ?? '(no model on the CPU)',
    queue: (evidence && queueText(evidence.models)) ?? '(queue unknown)',
    logErrors: evidence?.logs.ok && evidence.logs.errors.length > 0 ? `${evidence.logs.errors.map((l) => `"${l.text}"`).join(', ')} (${evidence.logs.file})` : '(no error lines read)',
    logAge: evidence?.logs.ok && evidence.logs.ageS !== undefined ? formatAge(evidence.logs.ageS) : '(unknown)',
    unload: (evidence && unloadHint(node, evidence.models)) ?? (node.kind === 'ollama' ? 'ollama ps, then ollama stop <model> for the others' : node.kind === 'lmstudio' ? 'lms ps, then lms unload <model> for the others' : 'unload the other models on the server'),
  };
}

function fill(template: string, vars: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => vars[name] ?? whole);
}

/** Placeholder names the diagnosis fills in (for checking the runbook). */
export const PLACEHOLDERS = ['id', 'url', 'host', 'model', 'ping', 'processCheck', 'restart', 'check', 'retryAfter', 'logs', 'loadModel', 'credentials', 'gpu', 'offload', 'queue', 'logErrors', 'logAge', 'unload'] as const;

export interface FallbackAdvice {
  node: string;
  for?: string;
}

/**
 * Who takes over a node's work (runbook step 3), in the order a request for it goes on: its own
 * fallbacks from config, then the rest of the cascade (`for: 'cascade'`); none for a strict node.
 */
export function fallbacksFor(config: Config, nodeId: string): FallbackAdvice[] {
  const node = config.nodes.find((n) => n.id === nodeId);
  // A strict node's requests never leave it (routing.ts): nobody takes over.
  if (node?.strict) return [];
  const own = (node?.fallbacks ?? []).map((f) => ({ ...f }));
  // Then the rest of the cascade, as a request for the node goes on (routing.ts): by priority,
  // low-impact nodes last.
  const listed = new Set([nodeId, ...own.map((f) => f.node)]);
  const rest = config.nodes
    .filter((n) => !listed.has(n.id))
    .sort((a, b) => Number(a.impact === 'low') - Number(b.impact === 'low'))
    .map((n) => ({ node: n.id, for: 'cascade' }));
  return [...own, ...rest];
}

export interface FallbackStatus {
  node: string;
  for?: string;
  status: ProbeResult['status'];
  latencyMs: number;
  detail?: string;
  throttled?: boolean;
}

/** Who takes over, with what their probe saw just now. */
export function fallbackStatuses(advice: FallbackAdvice[], probes: ProbeResult[]): FallbackStatus[] {
  return advice.map((a, i) => {
    const p = probes[i]!;
    return {
      node: a.node,
      ...(a.for !== undefined && { for: a.for }),
      status: p.status,
      latencyMs: p.latencyMs,
      ...(p.detail !== undefined && { detail: p.detail }),
      ...(p.throttled && { throttled: true }),
    };
  });
}

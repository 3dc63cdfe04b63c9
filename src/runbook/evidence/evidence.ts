/**
 * The evidence behind a diagnosis: GPU, loaded models, logs and the process, collected in
 * parallel, each within the same timeout, where the node's commands run (its ssh target, or this
 * machine). The facts the runbook's rules read (`when: { gpu: [busy] }`) and a one-line summary
 * for people and alerts are derived here, from the findings alone.
 */
import type { Config, NodeConfig } from '../../config/schema.js';
import type { HttpOptions, HttpReply } from '../../probe/http.js';
import type { CommandRunner } from '../../system/process.js';
import { processCheck } from '../commands.js';
import type { Runbook } from '../runbook.js';
import { targetFor, type Target } from '../target.js';
import { bounded, unknown } from './finding.js';
import { collectGpu, driverGone, type GpuFinding } from './gpu.js';
import { collectLogs, type LogKind, type LogsFinding } from './logs.js';
import { collectModels, type ModelsFinding } from './models.js';
import { checkProcess, type ProcessState } from './process.js';

export interface Evidence {
  collectedAt: string;
  /** How long collecting took (at most about the timeout). */
  ms: number;
  gpu: GpuFinding;
  models: ModelsFinding;
  logs: LogsFinding;
  process: ProcessState;
  facts: EvidenceFacts;
  /** One line: what a person or an alert needs first. */
  summary: string;
}

/** What the rules can ask about (runbooks/failover.yaml, `when`); `unknown` where nothing could be told. */
export interface EvidenceFacts {
  gpu: 'busy' | 'active' | 'idle' | 'error' | 'unknown';
  queue: 'busy' | 'idle' | 'unknown';
  offload: 'cpu' | 'gpu' | 'unknown';
  loaded: 'none' | 'some' | 'unknown';
  progress: 'some' | 'none' | 'unknown';
  process: 'alive' | 'dead' | 'unknown';
  /** The kinds of trouble the log's last lines report. */
  log: LogKind[];
}

export const FACT_VALUES = {
  gpu: ['busy', 'active', 'idle', 'error', 'unknown'],
  queue: ['busy', 'idle', 'unknown'],
  offload: ['cpu', 'gpu', 'unknown'],
  loaded: ['none', 'some', 'unknown'],
  progress: ['some', 'none', 'unknown'],
  process: ['alive', 'dead', 'unknown'],
} as const;

/** A GPU at or above this utilization is busy; every GPU at or below the idle line is idle. */
const GPU_BUSY_PCT = 80;
const GPU_IDLE_PCT = 10;
/** A model with at least this share in system memory runs partly on the CPU. */
const CPU_SHARE = 0.05;

export interface EvidenceDeps {
  http: (url: string, options: HttpOptions) => Promise<HttpReply>;
  run: CommandRunner;
  /** Wall-clock ms. */
  now: () => number;
  signal?: AbortSignal;
}

export interface EvidenceOptions {
  runbook: Runbook;
  platform: NodeJS.Platform;
  /** Where the servers jarvis started write their logs (`<data>/logs`). */
  logDir: string;
  timeoutMs: number;
  /** A log untouched this long counts as no progress. */
  hungAfterS: number;
  env?: NodeJS.ProcessEnv;
  /** The process check's own limit, when it must be surer than the other collectors (a recovery decides by it). */
  processTimeoutMs?: number;
}

function where(node: NodeConfig, target: Target | undefined): string {
  if (!target) return node.host ?? 'its machine';
  return target.kind === 'ssh' ? `${node.host ?? target.target} (ssh ${target.target})` : 'this machine';
}

/** Collects every kind of evidence for `node` at once; never throws, never takes much more than `timeoutMs`. */
export async function collectEvidence(node: NodeConfig, deps: EvidenceDeps, options: EvidenceOptions): Promise<Evidence> {
  const started = deps.now();
  const target = targetFor(node);
  const at = where(node, target);
  const ms = options.timeoutMs;
  const base = { run: deps.run, where: at, timeoutMs: ms };
  const none = (what: string) => unknown('unsupported', `${node.id} is on ${node.host ?? 'another machine'}: set \`ssh\` on the node to read its ${what}`);
  const [gpu, models, logs, proc] = await Promise.all([
    node.kind === 'anthropic' || node.kind === 'proxy'
      ? Promise.resolve(unknown('unsupported', `a ${node.kind} node has no GPU of ours`))
      : target
        ? bounded('GPU', ms, (signal) => collectGpu({ ...base, target, platform: options.platform, signal }), deps.signal)
        : Promise.resolve(none('GPU')),
    bounded('loaded models', ms, (signal) => collectModels(node, { ...base, http: deps.http, target, signal, ...(options.env && { env: options.env }) }), deps.signal),
    bounded('logs', ms, (signal) => collectLogs(node, { ...base, target, platform: options.platform, logDir: options.logDir, now: deps.now, signal, ...(options.env && { env: options.env }) }), deps.signal),
    bounded('process check', options.processTimeoutMs ?? ms, async (signal) => ({ ok: true as const, source: 'process', state: await checkProcess(processCheck(node, options.runbook, options.platform), deps.run, { timeoutMs: options.processTimeoutMs ?? ms, signal }) }), deps.signal).then(
      (f): ProcessState => (f.ok ? f.state : { alive: null, detail: f.detail }),
    ),
  ]);
  const partial = { gpu, models, logs, process: proc };
  const facts = evidenceFacts(partial, options.hungAfterS);
  return { collectedAt: new Date(started).toISOString(), ms: Math.round(deps.now() - started), ...partial, facts, summary: evidenceSummary(partial, facts) };
}

type Findings = Pick<Evidence, 'gpu' | 'models' | 'logs' | 'process'>;

export function evidenceFacts(e: Findings, hungAfterS: number): EvidenceFacts {
  let gpu: EvidenceFacts['gpu'] = 'unknown';
  if (driverGone(e.gpu)) gpu = 'error';
  else if (e.gpu.ok) {
    const utils = e.gpu.gpus.map((g) => g.utilizationPct).filter((u): u is number => u !== undefined);
    if (utils.length > 0) gpu = utils.some((u) => u >= GPU_BUSY_PCT) ? 'busy' : utils.every((u) => u <= GPU_IDLE_PCT) ? 'idle' : 'active';
  }
  let queue: EvidenceFacts['queue'] = 'unknown';
  let offload: EvidenceFacts['offload'] = 'unknown';
  let loaded: EvidenceFacts['loaded'] = 'unknown';
  if (e.models.ok) {
    const load = e.models.load;
    if (load && ((load.deferred ?? 0) > 0 || (load.slots && load.slots.total > 0 && load.slots.busy >= load.slots.total))) queue = 'busy';
    else if (load && (load.processing !== undefined || load.slots)) queue = 'idle';
    loaded = e.models.models.length === 0 ? 'none' : 'some';
    const shares = e.models.models.map((m) => m.cpuShare).filter((s): s is number => s !== undefined);
    if (shares.length > 0) offload = shares.some((s) => s >= CPU_SHARE) ? 'cpu' : 'gpu';
  }
  const progress: EvidenceFacts['progress'] = e.logs.ok && e.logs.ageS !== undefined ? (e.logs.ageS >= hungAfterS ? 'none' : 'some') : 'unknown';
  const process: EvidenceFacts['process'] = e.process.alive === true ? 'alive' : e.process.alive === false ? 'dead' : 'unknown';
  const log = e.logs.ok ? [...new Set(e.logs.errors.map((l) => l.kind))] : [];
  return { gpu, queue, offload, loaded, progress, process, log };
}

const gb = (mib: number) => (mib / 1024).toFixed(1);

/**
 * `GPU 0 100 % 23.4/24.0 GB 71 °C`, one per device; `withName` puts the device's name after its
 * index (the evidence block people read: two different GPUs never look alike there).
 */
export function gpuLines(f: GpuFinding, withName = false): string[] {
  if (!f.ok) return [];
  return f.gpus.map((g) => {
    const parts = [`GPU ${g.index}${withName && g.name ? ` ${g.name}` : ''}`];
    if (g.utilizationPct !== undefined) parts.push(`${g.utilizationPct} %`);
    if (g.memoryUsedMiB !== undefined && g.memoryTotalMiB !== undefined) parts.push(`${gb(g.memoryUsedMiB)}/${gb(g.memoryTotalMiB)} GB`);
    if (g.temperatureC !== undefined) parts.push(`${g.temperatureC} °C`);
    if (g.powerW !== undefined) parts.push(`${Math.round(g.powerW)} W`);
    return parts.join(' ');
  });
}

/** `deepseek 40 % on CPU` for each model partly in system memory. */
export function offloadText(f: ModelsFinding): string | undefined {
  if (!f.ok) return undefined;
  const on = f.models.filter((m) => (m.cpuShare ?? 0) >= CPU_SHARE).map((m) => `${m.name} ${Math.round((m.cpuShare ?? 0) * 100)} % on CPU`);
  return on.length > 0 ? on.join(', ') : undefined;
}

/** `3 waiting, 4/4 slots busy`. */
export function queueText(f: ModelsFinding): string | undefined {
  if (!f.ok || !f.load) return undefined;
  const l = f.load;
  const parts: string[] = [];
  if (l.deferred !== undefined && l.deferred > 0) parts.push(`${l.deferred} waiting`);
  if (l.slots) parts.push(`${l.slots.busy}/${l.slots.total} slots busy`);
  else if (l.processing !== undefined) parts.push(`${l.processing} in progress`);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

export function evidenceSummary(e: Findings, facts: EvidenceFacts): string {
  const parts: string[] = [];
  const gpus = gpuLines(e.gpu);
  if (gpus.length > 0) parts.push(gpus.length <= 2 ? gpus.join(', ') : `${gpus.slice(0, 2).join(', ')} (+${gpus.length - 2} GPUs)`);
  else if (facts.gpu === 'error' && !e.gpu.ok) parts.push(e.gpu.detail);
  if (e.models.ok) {
    const offload = offloadText(e.models);
    if (facts.loaded === 'none') parts.push('no model loaded');
    else if (offload) parts.push(offload);
    else parts.push(`loaded: ${e.models.models.map((m) => m.name).join(', ')}`);
    const queue = queueText(e.models);
    if (queue) parts.push(queue);
  }
  if (facts.process !== 'unknown') parts.push(e.process.detail);
  if (e.logs.ok) {
    const worst = e.logs.errors.find((l) => l.kind !== 'error') ?? e.logs.errors.at(-1);
    if (worst) parts.push(`log: ${worst.text.length > 120 ? `${worst.text.slice(0, 119)}…` : worst.text}`);
    if (facts.progress === 'none' && e.logs.ageS !== undefined) parts.push(`log silent for ${formatAge(e.logs.ageS)}`);
  }
  return parts.length > 0 ? parts.join('; ') : 'no evidence could be collected';
}

export function formatAge(s: number): string {
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

/** The unload commands for the models other than the node's own (out of VRAM). */
export function unloadHint(node: NodeConfig, f: ModelsFinding): string | undefined {
  if (!f.ok) return undefined;
  const others = f.models.filter((m) => !node.model || !m.name.toLowerCase().startsWith(node.model.toLowerCase()));
  if (others.length === 0) return undefined;
  if (f.server === 'ollama') return others.map((m) => `ollama stop ${m.name}`).join('; ');
  if (f.server === 'lmstudio') return others.map((m) => `lms unload ${m.name}`).join('; ');
  return undefined;
}


/** The evidence options a command's config gives (`evidence.timeoutMs`, `evidence.hungAfterS`). */
export function evidenceOptions(config: Config, runbook: Runbook, paths: { logs: string }, platform: NodeJS.Platform, env?: NodeJS.ProcessEnv): EvidenceOptions {
  return { runbook, platform, logDir: paths.logs, timeoutMs: config.evidence.timeoutMs, hungAfterS: config.evidence.hungAfterS, ...(env && { env }) };
}

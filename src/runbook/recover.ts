/**
 * `jarvis recover <node>`: the runbook's steps 2 to 5 for one node. Assess (probe, host ping,
 * process check), diagnose, plan, run the plan, verify, record the incident, escalate.
 */
import type { Config, NodeConfig } from '../config/schema.js';
import type { Clock } from '../system/clock.js';
import { DataError, ExitCode, JarvisError, isJarvisError } from '../errors.js';
import type { Incident, IncidentOutcome, StepRecord, Verification } from '../incidents/incident.js';
import { checkHost, type HostCheck } from '../probe/ping.js';
import { probeNode, type ProbeResult } from '../probe/probe.js';
import { diagnoseNode, diagnosisForPlan, fallbacksFor, fallbackStatuses, type Diagnosis, type FallbackStatus } from './diagnosis.js';
import { executePlan, type ExecutorDeps, type StepEvent } from './executor.js';
import { planRecovery, type RecoveryPlan } from './plan.js';
import { collectEvidence, evidenceOptions, type Evidence } from './evidence/evidence.js';
import type { ProcessState } from './evidence/process.js';
import type { Runbook } from './runbook.js';
import { isLockBusy } from '../store/lock.js';
import type { Records } from '../store/records.js';
import { findNode } from '../config/nodes.js';
import { readPidFile, type PidRecord } from '../store/pid-files.js';
import type { PortHolder } from '../system/ports.js';
import { portOf } from './ownership.js';
import { machineOf, targetFor } from './target.js';
import type { SharedState } from '../store/shared-state.js';

export interface RecoverOptions {
  config: Config;
  runbook: Runbook;
  nodeId: string;
  /** The saved data: the incident log, the lock, the pid files, the shared lease. */
  records: Records;
  deps: ExecutorDeps;
  /** Wall time for the record and the lock; durations come from deps.now (monotonic). */
  clock: Clock;
  platform?: NodeJS.Platform;
  force: boolean;
  wait: boolean;
  dryRun: boolean;
  /** For the shared lease's owner: what the holder ran. */
  commandLine: string;
  onEvent?: (e: StepEvent) => void;
  /** Called once the plan is made, before anything runs (to show it first). */
  onPlan?: (result: RecoverResult) => void;
}

export interface RecoverResult {
  node: string;
  dryRun: boolean;
  startedAt: string;
  /** `holders`: who listened on the node's port here when a restart might have to stop it. */
  assessment: { probe: ProbeResult; host: HostCheck | null; process: ProcessState; holders?: PortHolder[] };
  diagnosis: Diagnosis;
  /** GPU, loaded models, logs and the process before the recovery, and after it when anything ran. */
  evidence: { before: Evidence; after?: Evidence };
  plan: RecoveryPlan;
  steps: StepRecord[];
  verification?: Verification;
  /** `healthy`: it was fine and verified; no incident. */
  outcome: IncidentOutcome | 'healthy' | 'planned';
  recovered: boolean;
  incident?: Incident;
  /** Incidents removed by retention while recording this one. */
  pruned?: number;
  /** Other nodes on the same machine that answered before the steps ran and do not after them. */
  sameMachineDown?: { node: string; status: string }[];
  /** Forced (--force) although the incident log could not be written: why it was not recorded. */
  unrecorded?: string;
  fallbacks: FallbackStatus[];
  /** The escalation rule the incident's tally is counted against. */
  window: { hours: number; escalateAfter: number };
  exitCode: number;
}

export async function recoverNode(options: RecoverOptions): Promise<RecoverResult> {
  const { config, runbook, deps } = options;
  const node = findNode(config, options.nodeId);
  const platform = options.platform ?? deps.platform;
  const lock = options.dryRun ? undefined : await lockNode(options, node.id);
  let lease: (() => Promise<void>) | undefined;
  try {
    // Shared with other instances (Redis): its lease keeps two of them from restarting the node at
    // once. With the data dir's file, the lock above suffices.
    const shared = options.dryRun ? undefined : await options.records.sharedHealth();
    if (shared) lease = await leaseNode(shared, node.id, options.commandLine);
    const startedAt = options.clock.now();
    const started = deps.now();
    const seen = await assess(options, node, platform);
    const { probe, host, before, holders } = seen;
    const diagnosis = diagnoseNode(runbook, node, probe, host ?? undefined, { platform }, before);
    const plan = planRecovery({
      config,
      runbook,
      node,
      probe,
      // The same diagnosis, but for a low-impact node that --force asks to act on (read as a normal one).
      diagnosis: node.impact === 'low' && options.force ? diagnosisForPlan(runbook, node, probe, host ?? undefined, { platform }, options.force, before) : diagnosis,
      processAlive: before.process.alive,
      holders,
      ...(seen.pidFile && { pidFile: seen.pidFile }),
      force: options.force,
      wait: options.wait,
      logDir: options.records.paths.logs,
    });
    const base = { node: node.id, dryRun: options.dryRun, startedAt: new Date(startedAt).toISOString(), assessment: { probe, host, process: before.process, ...(holders && holders.length > 0 && { holders }) }, diagnosis, evidence: { before } as RecoverResult['evidence'], plan, fallbacks: seen.fallbacks, window: { hours: config.incidents.windowHours, escalateAfter: config.incidents.escalateAfter } };
    if (options.dryRun) {
      return { ...base, steps: [], outcome: 'planned', recovered: false, exitCode: probe.status === 'ok' ? ExitCode.ok : ExitCode.unhealthy };
    }
    // Stopped while assessing: the probes were cut, not answered, so there is no diagnosis to act
    // on or to record (an aborted probe reads as a bad response).
    if (deps.signal?.aborted) return { ...base, steps: [], outcome: 'interrupted', recovered: false, exitCode: ExitCode.interrupted };

    // Runbook step 5, kept before steps 3 and 4: a recovery that changes something is recorded
    // before it acts. When the log cannot be written (corrupt, full, read-only), nothing is
    // restarted unless a person forces it.
    const record = { node: node.id, at: base.startedAt, status: probe.status, diagnosis: diagnosis.cause, ...(probe.detail && { detail: probe.detail }), recovery: plan.action, ...(options.force && { forced: true }) };
    const entry = await beginRecord(options, plan, { ...record, actions: [`started: ${plan.reason}`], durationMs: 0, evidence: base.evidence });

    options.onPlan?.({ ...base, steps: [], outcome: 'planned', recovered: false, exitCode: 0, ...(entry.unrecorded && { unrecorded: entry.unrecorded }) });
    const execution = await executePlan(plan, node, deps, probe, options.onEvent);
    // The post-mortem's other half: what the machine shows once the steps ran.
    if (execution.records.length > 0 && !execution.interrupted) base.evidence = { before, after: await seen.collect() };
    const sameMachineDown = execution.records.length > 0 && !execution.interrupted ? await stillUp(config, seen.neighboursBefore, deps) : [];
    const outcome = outcomeOf(plan, execution, probe);
    const result: RecoverResult = {
      ...base,
      steps: execution.records,
      ...(sameMachineDown.length > 0 && { sameMachineDown }),
      ...(execution.verification && { verification: execution.verification }),
      outcome,
      recovered: outcome === 'recovered' || outcome === 'healthy',
      exitCode: execution.interrupted ? ExitCode.interrupted : outcome === 'recovered' || outcome === 'healthy' ? ExitCode.ok : ExitCode.unhealthy,
    };
    if (outcome === 'healthy') return result;
    // A quota that resets is a state the node is in, not an incident of it (nothing failed).
    if (outcome === 'no_action' && probe.throttled) return result;

    // Runbook step 5: every recovery that found the node unhealthy is recorded.
    const final = {
      ...record,
      actions: plan.action === 'none' ? [`no action: ${plan.reason}`] : plan.action === 'refused' ? [`refused: ${plan.reason}`] : execution.records.map((r) => `${r.label}: ${r.ok ? 'ok' : 'failed'}${r.detail ? ` (${r.detail})` : ''}`),
      outcome,
      durationMs: Math.round(deps.now() - started),
      steps: execution.records,
      ...(execution.verification && { verification: execution.verification }),
      ...(sameMachineDown.length > 0 && { sameMachineDown }),
      evidence: base.evidence,
    };
    return await finishRecord(options, entry, final, result);
  } finally {
    await lease?.();
    await lock?.release();
  }
}

/** What the assessment saw (runbook step 2): the node, its machine, its evidence, who else is there. */
interface Assessment {
  probe: ProbeResult;
  host: HostCheck | null;
  before: Evidence;
  /** Reads the evidence again (after the steps ran). */
  collect: () => Promise<Evidence>;
  fallbacks: FallbackStatus[];
  pidFile: PidRecord | undefined;
  /** The other nodes on this node's machine, as they were before anything ran. */
  neighboursBefore: ProbeResult[];
  /** Who listened on the node's port here, when a restart might have to stop it. */
  holders: PortHolder[] | undefined;
}

/** Step 2: the node probed, its machine pinged, its evidence read, its fallbacks and neighbours probed, all at once. */
async function assess(options: RecoverOptions, node: NodeConfig, platform: NodeJS.Platform): Promise<Assessment> {
  const { config, deps } = options;
  const advice = fallbacksFor(config, node.id);
  // The process check decides between a restart and a wait: it keeps its own, longer limit.
  const evidenceWith = { ...evidenceOptions(config, options.runbook, options.records.paths, platform, deps.env), processTimeoutMs: 10_000 };
  const collect = () => collectEvidence(node, { http: deps.http, run: deps.run, now: () => options.clock.now(), ...(deps.signal && { signal: deps.signal }) }, evidenceWith);
  const port = targetFor(node)?.kind === 'local' && !node.ssh ? portOf(node) : undefined;
  // The other nodes on this node's machine: a restart here must not take them down with it.
  // (A dry run acts on nothing, so has nothing to compare them with.)
  const machine = machineOf(node);
  const neighbours = options.dryRun || machine === undefined ? [] : config.nodes.filter((n) => n.id !== node.id && machineOf(n) === machine);
  const [probe, host, before, fallbackProbes, pidFile, neighboursBefore] = await Promise.all([
    probeNode(node, deps),
    node.host ? checkHost(node.host, { timeoutMs: 1000, run: deps.run, platform, ...(deps.signal && { signal: deps.signal }) }) : Promise.resolve(null),
    collect(),
    Promise.all(advice.map((a) => probeNode(config.nodes.find((n) => n.id === a.node)!, deps))),
    readPidFile(options.records.paths.pidFile(node.id)),
    Promise.all(neighbours.map((n) => probeNode(n, deps))),
  ]);
  // Who holds the port here, read once the probe has said it is taken: what a restart would
  // have to stop, and what the plan must show is the node's own server first.
  const holders = port !== undefined && probe.status !== 'ok' && probe.status !== 'refused' ? await deps.portHolders(port) : port !== undefined ? [] : undefined;
  return { probe, host, before, collect, fallbacks: fallbackStatuses(advice, fallbackProbes), pidFile, neighboursBefore, holders };
}

/** Neighbours that answered before the steps and do not now: said beside the outcome. */
async function stillUp(config: Config, before: ProbeResult[], deps: ExecutorDeps): Promise<{ node: string; status: string }[]> {
  const okBefore = before.filter((p) => p.status === 'ok');
  if (okBefore.length === 0) return [];
  const now = await Promise.all(okBefore.map((p) => probeNode(config.nodes.find((n) => n.id === p.id)!, deps)));
  return now.filter((p) => p.status !== 'ok').map((p) => ({ node: p.id, status: p.status }));
}

/** How a recovery ended, from its plan, what ran, and whether the node was healthy to begin with. */
function outcomeOf(plan: RecoveryPlan, execution: { interrupted?: boolean; ok: boolean; verification?: Verification }, probe: ProbeResult): IncidentOutcome | 'healthy' {
  if (execution.interrupted) return 'interrupted';
  if (plan.action === 'none') return 'no_action';
  if (plan.action === 'refused') return 'not_recovered';
  if (!execution.ok || execution.verification?.ok !== true) return 'not_recovered';
  return probe.status === 'ok' ? 'healthy' : 'recovered';
}

/** The incident begun before a restart, the acknowledgement it is judged after, or why it could not be written. */
interface RecordEntry {
  begun?: Incident;
  ackedAt: string | undefined;
  /** Forced (--force) past a log that could not be written. */
  unrecorded?: string;
}

/** Records a restart or a model load before it acts; without --force, a log that cannot be written stops it. */
async function beginRecord(options: RecoverOptions, plan: RecoveryPlan, draft: Parameters<Records['incidents']['begin']>[0]): Promise<RecordEntry> {
  const store = options.records.incidents;
  const ackedAt = await store.ackedAt(draft.node);
  if (plan.action !== 'restart' && plan.action !== 'load_model') return { ackedAt };
  try {
    return { ackedAt, begun: (await store.begin(draft, ackedAt)).incident };
  } catch (error) {
    if (!isJarvisError(error)) throw error;
    if (!options.force) throw new DataError(`not restarting ${draft.node}, since its incident cannot be recorded: ${error.message} (\`jarvis recover ${draft.node} --force\` acts anyway, unrecorded)`, { cause: error });
    return { ackedAt, unrecorded: error.message };
  }
}

/** Writes how the recovery ended (finishing the incident begun, or a new one) into the result. */
async function finishRecord(options: RecoverOptions, entry: RecordEntry, final: Parameters<Records['incidents']['append']>[0], result: RecoverResult): Promise<RecoverResult> {
  const store = options.records.incidents;
  try {
    const { incident, pruned } = entry.begun ? await store.finish(entry.begun.id, final, entry.ackedAt) : await store.append(final, entry.ackedAt);
    return { ...result, incident, ...(pruned > 0 && { pruned }) };
  } catch (error) {
    if (!isJarvisError(error)) throw error;
    // Forced past a log that could not be written: what was done is said, not recorded.
    if (entry.unrecorded !== undefined) return { ...result, unrecorded: error.message };
    if (!entry.begun) throw error;
    throw new DataError(`the recovery of ${final.node} ran (${final.outcome}) but how it ended could not be recorded: ${error.message} (the log keeps it as begun, interrupted)`, { cause: error });
  }
}

/** The node's lease in the shared state: held by another instance, or out of reach, nothing starts. */
async function leaseNode(shared: SharedState, id: string, owner: string): Promise<() => Promise<void>> {
  const r = await shared.lease(id, owner);
  if ('held' in r) throw new JarvisError(`a recovery of ${id} is already running elsewhere (lease held by ${r.held}); not starting another`, ExitCode.unhealthy);
  if ('unavailable' in r) throw new JarvisError(`the shared state (${shared.where}) is unavailable (${r.unavailable}): not starting a recovery of ${id} without its lease`, ExitCode.unhealthy);
  return r.release;
}

async function lockNode(options: RecoverOptions, id: string) {
  const name = `recover-${id}`;
  try {
    return await options.records.lock(name);
  } catch (error) {
    if (isLockBusy(error)) {
      throw new JarvisError(`a recovery of ${id} is already running (${error.message}); not starting another`, ExitCode.unhealthy);
    }
    // Forced on a data dir with no room for the lock's owner: the lock alone still keeps two
    // recoveries apart (it goes stale, rather than at once, if this process is killed).
    if (options.force && isJarvisError(error) && error.exitCode === ExitCode.config) {
      return options.records.lock(name, { anonymous: true }).catch(() => undefined);
    }
    throw error;
  }
}

/**
 * `jarvis check`, for cron: detect (probe all, confirm failures), remember (state.json), recover
 * within a budget (unless escalated or low-impact), record, alert on transitions, and exit like a
 * monitoring plugin. Quiet when nothing changed.
 */
import { mayRecover } from '../runbook/may-recover.js';
import { openWindow } from '../alerts/maintenance.js';
import type { Alert, DeliveryResult } from '../alerts/webhooks.js';
import { sendAlerts } from './alerting.js';
import { logEntry, nodeResults } from './results.js';
import { NagiosCode, worst, type NagiosLevel } from './nagios.js';
import type { Transition } from './transitions.js';
import type { Config, NodeConfig } from '../config/schema.js';
import type { Clock } from '../system/clock.js';
import { ExitCode, isJarvisError, JarvisError, stopIfInterrupted } from '../errors.js';
import { blockedByEscalation, escalationRule, type Incident } from '../incidents/incident.js';
import { probeAll, type ProbeResult } from '../probe/probe.js';
import type { ExecutorDeps } from '../runbook/executor.js';
import type { Runbook } from '../runbook/runbook.js';
import { isLockBusy } from '../store/lock.js';
import type { StateFile } from '../store/state-file.js';
import { appendCheckLog } from '../store/check-log.js';
import { recoverNode, type RecoverResult } from '../runbook/recover.js';
import { collectEvidence, evidenceOptions } from '../runbook/evidence/evidence.js';
import { probeSamples } from '../history/samples.js';
import type { Sample } from '../history/buckets.js';
import type { Records } from '../store/records.js';

export interface CheckOptions {
  config: Config;
  runbook: Runbook;
  /** The saved data: state.json's check section, the incident log, the history, the outbox, the lock. */
  records: Records;
  deps: ExecutorDeps;
  /** Wall time for records, windows and the lock; durations come from deps.now (monotonic). */
  clock: Clock;
  /** Run recoveries (--recover, or check.autoRecover in config). */
  recover: boolean;
  commandLine: string;
  /** This machine's name, for check.log. */
  host: string;
}

export interface CheckNodeResult {
  id: string;
  kind: NodeConfig['kind'];
  /** Final status (after confirmation and any recovery). */
  status: ProbeResult['status'];
  /** What the first probe saw. */
  firstStatus: ProbeResult['status'];
  latencyMs: number;
  detail?: string;
  /** It failed, then answered when probed again: not counted as down. */
  flapped?: boolean;
  transition: Transition;
  previous?: ProbeResult['status'];
  recovery?: { action: 'recovered' | 'not_recovered' | 'skipped'; reason: string; incidentId?: string; escalated?: boolean; windowCount?: number };
  escalated: boolean;
  /** Over quota or rate limited (429): a state that passes, a warning, not down. */
  throttled?: boolean;
  /** In a maintenance window: not recovered, not alerted, not counted in the level. */
  silenced?: boolean;
  retryAfterS?: number;
  /** A confirmed failure's evidence in one line (GPU, loaded models, the log's error line). */
  evidence?: string;
  level: NagiosLevel;
}

export interface CheckResult {
  checkedAt: string;
  durationMs: number;
  level: NagiosLevel;
  exitCode: number;
  /** Anything worth telling: a transition, a recovery attempt, an escalation. */
  changed: boolean;
  nodes: CheckNodeResult[];
  alerts: Alert[];
  deliveries: DeliveryResult[];
  logFile: string;
  /** Why incidents could not be read or recorded this run (incidents.json is never overwritten). */
  recordError?: string;
}

export async function checkCluster(options: CheckOptions): Promise<CheckResult> {
  const { config, deps, clock, records } = options;
  const lock = await records.lock('check').catch((error: unknown) => {
    if (isLockBusy(error)) throw new JarvisError(`another check is running (${error.message})`, NagiosCode.unknown);
    throw error;
  });
  try {
    const checkedAt = new Date(clock.now()).toISOString();
    const started = deps.now();
    const known = await readRecords(records);
    // Every probe of this check goes into the history (with its time), written at the end.
    const probed: Sample[] = [];
    const probe = async (nodes: NodeConfig[]) => {
      const at = clock.now();
      const results = await probeAll(nodes, deps);
      probed.push(...probeSamples(results, at));
      return results;
    };
    // 1. Detect, then confirm: one dropped packet is not an incident.
    const seen = await detect(config, deps, probe);
    // Stopped while probing: what the probes saw was cut, not answered. Nothing is recorded (no
    // history, no state, so no change at the next check) and nothing is acted on.
    stopIfInterrupted(deps.signal);
    // 2. Recover what the runbook allows, with the evidence on every confirmed failure.
    const acted = await recoverFailing(options, seen, known, probe);
    // 3. Transitions against what the last check recorded.
    const nodes = nodeResults(config, { ...seen, ...acted }, known.before, clock.now());
    // 4. Alerts: the transitions to every hook, what still fires again, what waited in the outbox.
    const { nextNodes, alerts, deliveries, sent } = await sendAlerts(config, nodes, known.before, checkedAt, clock.now(), records.outbox, deps);
    // 5. Remember.
    await records.state.update((s) => {
      s.check = { lastRun: checkedAt, nodes: { ...(s.check?.nodes ?? {}), ...Object.fromEntries(nodes.map((n) => [n.id, nextNodes[n.id]!])) } };
      if (config.alerts.webhooks.length > 0) s.alerts = sent;
    });
    const recordError = acted.recordError;
    // A node that needed a recovery jarvis could not record (so did not run): the check cannot
    // vouch for the cluster, whatever the nodes' levels (Nagios' UNKNOWN, exit 3).
    const level = options.recover && recordError !== undefined && seen.failing.length > 0 ? 'unknown' : worst(nodes.map((n) => n.level));
    const result: CheckResult = {
      checkedAt,
      durationMs: Math.round(deps.now() - started),
      level,
      exitCode: NagiosCode[level],
      changed: nodes.some((n) => n.transition !== 'unchanged' || (n.recovery !== undefined && n.recovery.action !== 'skipped')),
      nodes,
      alerts,
      deliveries,
      logFile: records.paths.checkLog,
      ...(recordError && { recordError }),
    };
    await appendCheckLog(result.logFile, logEntry(result, options.host));
    await records.history.append(probed).catch((error: unknown) => process.stderr.write(`jarvis: history: ${(error as Error).message}\n`));
    // The fold step: finished hours into their days, what retention drops pruned.
    await records.maintain().catch((error: unknown) => process.stderr.write(`jarvis: history: could not fold finished hours: ${(error as Error).message}\n`));
    return result;
  } finally {
    await lock.release();
  }
}

/** What the records held before this run: the last check's view, the incident log and the acks. */
interface Known {
  before: StateFile;
  incidents: Incident[];
  acks: Record<string, string>;
  /** Why the incident log could not be read: the check probes and alerts, but restarts nothing. */
  recordError?: string;
}

/**
 * state.json is a cache (a corrupt one is set aside by the store). incidents.json is data of
 * record: when it cannot be read the check still probes and alerts, but restarts nothing, since
 * it could neither apply the escalation rule nor record what it did.
 */
async function readRecords(records: Records): Promise<Known> {
  const [before, acks] = await Promise.all([records.state.read(), records.incidents.cachedAcks()]);
  try {
    return { before, acks, incidents: await records.incidents.list() };
  } catch (error) {
    if (!isJarvisError(error)) throw error;
    return { before, acks, incidents: [], recordError: error.message };
  }
}

type Probe = (nodes: NodeConfig[]) => Promise<ProbeResult[]>;

/** What the probes saw: the first round, each node's last result, who answered on a second try, who still fails. */
interface Seen {
  first: readonly ProbeResult[];
  final: Map<string, ProbeResult>;
  flapped: ReadonlySet<string>;
  failing: ProbeResult[];
}

/** Step 1: every node probed, each failure probed again `confirmProbes` times before it counts. */
async function detect(config: Config, deps: ExecutorDeps, probe: Probe): Promise<Seen> {
  const first = await probe(config.nodes);
  const final = new Map(first.map((p) => [p.id, p]));
  const flapped = new Set<string>();
  let failing = first.filter((p) => p.status !== 'ok');
  for (let round = 0; round < config.check.confirmProbes && failing.length > 0; round++) {
    if (config.check.confirmDelayMs > 0) await deps.sleep(config.check.confirmDelayMs, deps.signal);
    const again = await probe(failing.map((p) => config.nodes.find((n) => n.id === p.id)!));
    for (const p of again) {
      final.set(p.id, p);
      if (p.status === 'ok') flapped.add(p.id);
    }
    failing = again.filter((p) => p.status !== 'ok');
  }
  return { first, final, flapped, failing };
}

/** What step 2 did: each node's recovery (or why not), who is escalated, the evidence, a record that failed. */
interface Acted {
  recoveries: Map<string, CheckNodeResult['recovery']>;
  escalatedNow: Set<string>;
  evidence: Map<string, string>;
  recordError?: string;
}

/**
 * Step 2: recover what the runbook allows, all at once (each node under its own lock), within the
 * budget: a recovery still running when it ends is stopped, and reported as skipped. The evidence
 * on each other confirmed failure is read meanwhile, for the alert (a recovery reads its own).
 */
async function recoverFailing(options: CheckOptions, seen: Seen, known: Known, probe: Probe): Promise<Acted> {
  const { config, deps, records } = options;
  const now = () => options.clock.now();
  const acted: Acted = { recoveries: new Map(), escalatedNow: new Set(), evidence: new Map(), ...(known.recordError && { recordError: known.recordError }) };
  const rule = escalationRule(config);
  const budget = AbortSignal.timeout(config.check.recoverBudgetMs);
  const signal = deps.signal ? AbortSignal.any([deps.signal, budget]) : budget;
  const toRecover: NodeConfig[] = [];
  for (const p of seen.failing) {
    const node = config.nodes.find((n) => n.id === p.id)!;
    const escalated = blockedByEscalation(known.incidents, node.id, known.acks[node.id], now(), rule);
    if (escalated) acted.escalatedNow.add(node.id);
    if (!options.recover) continue;
    const may = mayRecover({
      node: node.id,
      incidents: config.incidents,
      window: openWindow(config, node.id, now()),
      throttled: p.throttled ? { ...(p.retryAfterS !== undefined && { retryAfterS: p.retryAfterS }) } : false,
      lowImpact: node.impact === 'low',
      escalated,
      cannotRecord: known.recordError || undefined,
    });
    if (may.ok) toRecover.push(node);
    else acted.recoveries.set(node.id, { action: 'skipped', reason: may.message });
  }
  const recovering = new Set(toRecover.map((n) => n.id));
  const opts = evidenceOptions(config, options.runbook, records.paths, deps.platform, deps.env);
  const collecting = Promise.all(
    seen.failing
      .filter((p) => !recovering.has(p.id) && !p.throttled)
      .map(async (p) => {
        const e = await collectEvidence(config.nodes.find((n) => n.id === p.id)!, { http: deps.http, run: deps.run, now, signal }, opts);
        acted.evidence.set(p.id, e.summary);
      }),
  );
  await Promise.all(toRecover.map((node) => recoverOne(options, node, signal, acted, seen, probe)));
  await collecting;
  return acted;
}

/** One node's recovery within step 2, its outcome put in `acted`; a verified node is probed again for the result. */
async function recoverOne(options: CheckOptions, node: NodeConfig, signal: AbortSignal, acted: Acted, seen: Seen, probe: Probe): Promise<void> {
  const { config, deps } = options;
  let r: RecoverResult;
  try {
    r = await recoverNode({ config, runbook: options.runbook, nodeId: node.id, records: options.records, deps: { ...deps, signal }, clock: options.clock, force: false, wait: false, dryRun: false, commandLine: options.commandLine });
  } catch (error) {
    acted.recoveries.set(node.id, { action: 'skipped', reason: (error as Error).message });
    // The incident log could not be written before acting: nothing was restarted.
    if (isJarvisError(error) && error.exitCode === ExitCode.config) acted.recordError ??= error.message;
    return;
  }
  acted.evidence.set(node.id, r.evidence.before.summary);
  if (r.outcome === 'interrupted') {
    const why = deps.signal?.aborted ? 'interrupted (the check was stopped)' : `the recovery budget of ${config.check.recoverBudgetMs / 1000} s ran out`;
    acted.recoveries.set(node.id, { action: 'skipped', reason: `${why}${r.incident ? '; recorded as interrupted' : '; nothing recorded'}`, ...(r.incident && { incidentId: r.incident.id }) });
    return;
  }
  if (r.incident?.escalated) acted.escalatedNow.add(node.id);
  acted.recoveries.set(node.id, {
    action: r.recovered ? 'recovered' : 'not_recovered',
    reason: r.recovered ? `verified in ${r.verification?.latencyMs ?? '?'} ms` : r.plan.action === 'none' || r.plan.action === 'refused' ? r.plan.reason : (r.steps.find((s) => !s.ok)?.detail ?? r.outcome),
    ...(r.incident && { incidentId: r.incident.id, escalated: r.incident.escalated, ...(r.incident.windowCount !== undefined && { windowCount: r.incident.windowCount }) }),
  });
  if (r.recovered) {
    const [p] = await probe([node]);
    seen.final.set(node.id, p!);
  }
}

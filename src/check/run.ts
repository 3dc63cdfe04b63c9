/**
 * `jarvis check`, for cron: detect (probe all, confirm failures), remember (state.json), recover
 * within a budget (unless escalated or low-impact), record, alert on transitions, and exit like a
 * monitoring plugin. Quiet when nothing changed.
 */
import { mayRecover } from '../runbook/may-recover.js';
import path from 'node:path';
import { openWindow } from '../alerts/maintenance.js';
import type { Alert, DeliveryResult } from '../alerts/webhooks.js';
import { sendAlerts } from './alerting.js';
import { NagiosCode, worst, type NagiosLevel } from './nagios.js';
import { transitionOf, type Transition } from './transitions.js';
import type { Config, NodeConfig } from '../config/schema.js';
import type { Clock } from '../system/clock.js';
import { ExitCode, isJarvisError, JarvisError, stopIfInterrupted } from '../errors.js';
import { blockedByEscalation, escalationRule } from '../incidents/incident.js';
import { IncidentStore } from '../incidents/store.js';
import { probeAll, probeNode, type ProbeResult } from '../probe/probe.js';
import { fallbacksFor } from '../runbook/diagnosis.js';
import type { ExecutorDeps } from '../runbook/executor.js';
import type { Runbook } from '../runbook/runbook.js';
import { acquireLock, isLockBusy } from '../store/lock.js';
import { stateStore, type StateFile } from '../store/state-file.js';
import { appendCheckLog } from '../store/check-log.js';
import { recoverNode, type RecoverResult } from '../runbook/recover.js';
import { collectEvidence, evidenceOptions } from '../runbook/evidence/evidence.js';
import { historyStore, probeSamples } from '../store/history.js';
import type { Sample } from '../history/buckets.js';
import type { SharedState } from '../store/shared-state.js';

export interface CheckOptions {
  config: Config;
  runbook: Runbook;
  dataDir: string;
  deps: ExecutorDeps;
  /** Wall time for records, windows and the lock; durations come from deps.now (monotonic). */
  clock: Clock;
  /** Run recoveries (--recover, or check.autoRecover in config). */
  recover: boolean;
  commandLine: string;
  /** This machine's name, for check.log. */
  host: string;
  /** Shared with proxies (Redis): recoveries take its lease. */
  shared?: SharedState;
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
  recovery?: { action: 'recovered' | 'not_recovered' | 'skipped'; reason: string; incidentId?: string; escalated?: boolean };
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
  const { config, deps, clock } = options;
  const wallNow = () => clock.now();
  let lock;
  try {
    lock = await acquireLock(path.join(options.dataDir, 'locks', 'check'), { waitMs: 0, owner: { pid: process.pid, command: options.commandLine }, clock });
  } catch (error) {
    if (isLockBusy(error)) throw new JarvisError(`another check is running (${error.message})`, NagiosCode.unknown);
    throw error;
  }
  try {
    const checkedAt = new Date(wallNow()).toISOString();
    const started = deps.now();
    const state = stateStore(options.dataDir);
    const incidents = new IncidentStore(options.dataDir, { now: wallNow, retentionDays: config.incidents.retentionDays });
    // state.json is a cache (a corrupt one is set aside by the store). incidents.json is data of
    // record: when it cannot be read the check still probes and alerts, but restarts nothing,
    // since it could neither apply the escalation rule nor record what it did.
    const before = await state.read();
    let recordError: string | undefined;
    const history = await incidents.list().catch((error: unknown) => {
      if (!isJarvisError(error)) throw error;
      recordError = error.message;
      return [];
    });

    // Every probe of this check goes into the history (with its time), written at the end.
    const probed: Sample[] = [];
    const probe = async (nodes: NodeConfig[]) => {
      const at = wallNow();
      const results = await probeAll(nodes, deps);
      probed.push(...probeSamples(results, at));
      return results;
    };
    // 1. Detect, then confirm: one dropped packet is not an incident.
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

    // Stopped while probing: what the probes saw was cut, not answered. Nothing is recorded (no
    // history, no state, so no change at the next check) and nothing is acted on.
    stopIfInterrupted(deps.signal);

    // 2. Recover what the runbook allows, all at once (each node under its own lock), within the
    // budget: a recovery still running when it ends is stopped, and reported as skipped.
    const recoveries = new Map<string, CheckNodeResult['recovery']>();
    const escalatedNow = new Set<string>();
    const rule = escalationRule(config);
    const budget = AbortSignal.timeout(config.check.recoverBudgetMs);
    const signal = deps.signal ? AbortSignal.any([deps.signal, budget]) : budget;
    const toRecover: NodeConfig[] = [];
    for (const p of failing) {
      const node = config.nodes.find((n) => n.id === p.id)!;
      const escalated = blockedByEscalation(history, node.id, before.acks?.[node.id], wallNow(), rule);
      if (escalated) escalatedNow.add(node.id);
      if (!options.recover) continue;
      const may = mayRecover({
        node: node.id,
        incidents: config.incidents,
        window: openWindow(config, node.id, wallNow()),
        throttled: p.throttled ? { ...(p.retryAfterS !== undefined && { retryAfterS: p.retryAfterS }) } : false,
        lowImpact: node.impact === 'low',
        escalated,
        cannotRecord: recordError || undefined,
      });
      if (may.ok) toRecover.push(node);
      else recoveries.set(node.id, { action: 'skipped', reason: may.message });
    }
    // The evidence on each confirmed failure, for the alert, beside the recoveries (a recovery
    // collects its own before it acts).
    const evidence = new Map<string, string>();
    const recovering = new Set(toRecover.map((n) => n.id));
    const opts = evidenceOptions(config, options.runbook, options.dataDir, process.platform, deps.env);
    const collecting = Promise.all(
      failing
        .filter((p) => !recovering.has(p.id) && !p.throttled)
        .map(async (p) => {
          const e = await collectEvidence(config.nodes.find((n) => n.id === p.id)!, { http: deps.http, run: deps.run, now: wallNow, signal }, opts);
          evidence.set(p.id, e.summary);
        }),
    );
    await Promise.all(
      toRecover.map(async (node) => {
        let r: RecoverResult;
        try {
          r = await recoverNode({ config, runbook: options.runbook, nodeId: node.id, dataDir: options.dataDir, deps: { ...deps, signal }, clock, force: false, wait: false, dryRun: false, commandLine: options.commandLine, ...(options.shared && { shared: options.shared }) });
        } catch (error) {
          recoveries.set(node.id, { action: 'skipped', reason: (error as Error).message });
          // The incident log could not be written before acting: nothing was restarted.
          if (isJarvisError(error) && error.exitCode === ExitCode.config) recordError ??= error.message;
          return;
        }
        evidence.set(node.id, r.evidence.before.summary);
        if (r.outcome === 'interrupted') {
          const why = deps.signal?.aborted ? 'interrupted (the check was stopped)' : `the recovery budget of ${config.check.recoverBudgetMs / 1000} s ran out`;
          recoveries.set(node.id, { action: 'skipped', reason: `${why}${r.incident ? '; recorded as interrupted' : '; nothing recorded'}`, ...(r.incident && { incidentId: r.incident.id }) });
          return;
        }
        if (r.incident?.escalated) escalatedNow.add(node.id);
        recoveries.set(node.id, {
          action: r.recovered ? 'recovered' : 'not_recovered',
          reason: r.recovered ? `verified in ${r.verification?.latencyMs ?? '?'} ms` : r.plan.action === 'none' || r.plan.action === 'refused' ? r.plan.reason : (r.steps.find((s) => !s.ok)?.detail ?? r.outcome),
          ...(r.incident && { incidentId: r.incident.id, escalated: r.incident.escalated }),
        });
        if (r.recovered) {
          const at = wallNow();
          const p = await probeNode(node, deps);
          probed.push(...probeSamples([p], at));
          final.set(node.id, p);
        }
      }),
    );
    await collecting;

    // 3. Transitions against what the last check recorded.
    const nodes = nodeResults(config, { first, final, flapped, recoveries, escalatedNow, evidence }, before, wallNow());
    // 4. Alerts: the transitions to every hook, what still fires again, what waited in the outbox.
    const { nextNodes, alerts, deliveries, sent } = await sendAlerts(config, nodes, before, checkedAt, wallNow(), options.dataDir, deps);

    // 5. Remember.
    await state.update((s) => {
      s.check = { lastRun: checkedAt, nodes: { ...(s.check?.nodes ?? {}), ...Object.fromEntries(nodes.map((n) => [n.id, nextNodes[n.id]!])) } };
      if (config.alerts.webhooks.length > 0) s.alerts = sent;
    });

    // A node that needed a recovery jarvis could not record (so did not run): the check cannot
    // vouch for the cluster, whatever the nodes' levels (Nagios' UNKNOWN, exit 3).
    const level = options.recover && recordError !== undefined && failing.length > 0 ? 'unknown' : worst(nodes.map((n) => n.level));
    const result: CheckResult = {
      checkedAt,
      durationMs: Math.round(deps.now() - started),
      level,
      exitCode: NagiosCode[level],
      changed: nodes.some((n) => n.transition !== 'unchanged' || (n.recovery !== undefined && n.recovery.action !== 'skipped')),
      nodes,
      alerts,
      deliveries,
      logFile: path.join(options.dataDir, 'check.log'),
      ...(recordError && { recordError }),
    };
    await appendCheckLog(result.logFile, logEntry(result, options.host));
    await historyStore(config, options.dataDir, wallNow, (m: string) => process.stderr.write(`jarvis: ${m}\n`), deps.env)
      .append(probed)
      .catch((error: unknown) => process.stderr.write(`jarvis: history: ${(error as Error).message}\n`));
    return result;
  } finally {
    await lock.release();
  }
}

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
function nodeResults(config: Config, run: RunFacts, before: StateFile, nowMs: number): CheckNodeResult[] {
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
      ...(prev && { previous: prev.status }),
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
function logEntry(result: CheckResult, host: string): Record<string, unknown> {
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

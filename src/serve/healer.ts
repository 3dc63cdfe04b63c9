/**
 * The proxy heals, not only routes (seed 003): a background check probes every node; a successful
 * probe half-opens an open breaker (the next request is its trial, no user's request is spent on
 * a dead node); with auto-recovery on, a node whose breaker is open gets the runbook's recovery in
 * the background, within the escalation rule, and returns to service once verified.
 */
import { openWindow } from '../alerts/maintenance.js';
import { phaseAt } from '../cascade/breaker.js';
import type { NodeHealth } from '../cascade/node-health.js';

import type { Clock } from '../system/clock.js';
import { historyStore, probeSamples } from '../store/history.js';
import type { Config } from '../config/schema.js';
import { blockedByEscalation, escalationRule } from '../incidents/incident.js';
import { IncidentStore } from '../incidents/store.js';
import { probeAll, type ProbeResult } from '../probe/probe.js';
import type { ExecutorDeps } from '../runbook/executor.js';
import type { Runbook } from '../runbook/runbook.js';
import { stateStore } from '../store/state-file.js';
import { recoverNode, type RecoverResult } from '../runbook/recover.js';
import { findNode } from '../config/nodes.js';
import type { LiveHealth } from './live-health.js';
import type { ServeMetrics } from './metrics.js';

export interface HealerOptions {
  config: Config;
  runbook: Runbook;
  dataDir: string;
  executor: ExecutorDeps;
  health: LiveHealth;
  clock: Clock;
  intervalMs: number;
  autoRecover: boolean;
  log: (line: string) => void;
  metrics?: ServeMetrics;
  /** Each probe's result, as it comes (model lists, balancing). */
  onProbe?: (p: ProbeResult) => void;
  /** A node verified by a recovery: back in the routing, before the next probe says so. */
  onRecovered?: (id: string) => void;
}

export interface Healer {
  lastProbes(): ProbeResult[];
  heal(nodeId: string): Promise<RecoverResult>;
  stop(): Promise<void>;
}

export interface HealInput {
  probeOk: boolean;
  /** When the probe was sent, and now (wall ms). */
  probedAt: number;
  now: number;
  health: NodeHealth | undefined;
  autoRecover: boolean;
  /** A recovery of this node is running. */
  recovering: boolean;
  /** The breaker opening the healer last acted on, if any. */
  actedOn: { openUntil: number | undefined } | undefined;
  lowImpact: boolean;
  inMaintenance: boolean;
  escalated: boolean;
}

export type HealDecision =
  | { action: 'none'; markActed: false }
  | { action: 'half_open'; markActed: false }
  | { action: 'skip'; reason: 'low_impact' | 'maintenance' | 'escalated'; markActed: true }
  | { action: 'recover'; markActed: true };

/**
 * What the background check does about one node after its probe. Pure. Only a node whose breaker
 * is open concerns it: a probe that answers (sent after the failure that opened it) half-opens
 * the breaker; one that fails starts a recovery, once per opening (a recovery that did not bring
 * the node back is tried again when its breaker next opens, not at every probe), unless the node
 * is low-impact, in a maintenance window or escalated.
 */
export function healDecision(i: HealInput): HealDecision {
  const h = i.health;
  if (!h || phaseAt(h.breaker, i.now) !== 'open') return { action: 'none', markActed: false };
  if (i.probeOk) {
    // A quota ends at its Retry-After, whatever a probe says.
    if (h.breaker.quota) return { action: 'none', markActed: false };
    // A probe sent before the failure that opened the breaker says nothing about the node now.
    if (h.lastErrorAt !== undefined && Date.parse(h.lastErrorAt) >= i.probedAt) return { action: 'none', markActed: false };
    return { action: 'half_open', markActed: false };
  }
  if (!i.autoRecover || i.recovering || (i.actedOn !== undefined && i.actedOn.openUntil === h.breaker.openUntil)) return { action: 'none', markActed: false };
  if (i.lowImpact) return { action: 'skip', reason: 'low_impact', markActed: true };
  if (i.inMaintenance) return { action: 'skip', reason: 'maintenance', markActed: true };
  if (i.escalated) return { action: 'skip', reason: 'escalated', markActed: true };
  return { action: 'recover', markActed: true };
}

export function startHealer(o: HealerOptions): Healer {
  let last: ProbeResult[] = [];
  const recovering = new Map<string, Promise<RecoverResult>>();
  /** The breaker opening (its openUntil) the healer last acted on, per node. */
  const actedOn = new Map<string, number | undefined>();
  let running: Promise<void> | undefined;
  let stopped = false;

  const heal = (nodeId: string): Promise<RecoverResult> => {
    const node = findNode(o.config, nodeId);
    const current = recovering.get(node.id);
    if (current) return current;
    const p = recoverNode({ config: o.config, runbook: o.runbook, nodeId: node.id, dataDir: o.dataDir, deps: o.executor, clock: o.clock, force: false, wait: false, dryRun: false, commandLine: 'jarvis serve (heal)', shared: o.health.shared })
      .then((r) => {
        o.metrics?.recoveries.inc({ node: node.id, outcome: r.outcome });
        if (r.recovered) {
          // Verified by a real completion: back in service.
          o.health.record({ node: node.id, at: o.clock.now(), ok: true, counts: true });
          o.onRecovered?.(node.id);
          o.log(`heal: ${node.id} ${r.outcome}, back in service`);
        } else if (r.outcome === 'interrupted') o.log(`heal: ${node.id} interrupted (jarvis serve is stopping)${r.incident ? '; recorded as such' : ''}`);
        else o.log(`heal: ${node.id} ${r.outcome}: ${r.plan.reason}`);
        return r;
      })
      .finally(() => recovering.delete(node.id));
    recovering.set(node.id, p);
    return p;
  };

  const tick = async () => {
    const probedAt = o.clock.now();
    const probes = await probeAll(o.config.nodes, o.executor);
    last = probes;
    void historyStore(o.config, o.dataDir, () => o.clock.now())
      .append(probeSamples(probes, probedAt))
      .catch((error: unknown) => o.log(`history: could not record the health check: ${(error as Error).message}`));
    const now = o.clock.now();
    const opened = (id: string) => {
      const h = o.health.get(id);
      return h !== undefined && phaseAt(h.breaker, now) === 'open';
    };
    // The incident history is read only when a recovery may be decided (the escalation rule).
    const history = o.autoRecover && probes.some((p) => p.status !== 'ok' && opened(p.id)) ? { incidents: await new IncidentStore(o.dataDir, { now: () => o.clock.now() }).list(), acks: (await stateStore(o.dataDir).read()).acks ?? {} } : undefined;
    const rule = escalationRule(o.config);
    for (const p of probes) {
      o.metrics?.probeUp.set({ node: p.id }, p.status === 'ok' ? 1 : 0);
      o.metrics?.probeLatency.set({ node: p.id }, p.latencyMs / 1000);
      o.onProbe?.(p);
      const h = o.health.get(p.id);
      const d = healDecision({
        probeOk: p.status === 'ok',
        probedAt,
        now,
        health: h,
        autoRecover: o.autoRecover,
        recovering: recovering.has(p.id),
        actedOn: actedOn.has(p.id) ? { openUntil: actedOn.get(p.id) } : undefined,
        lowImpact: o.config.nodes.find((n) => n.id === p.id)?.impact === 'low',
        inMaintenance: openWindow(o.config, p.id, now) !== undefined,
        escalated: history !== undefined && blockedByEscalation(history.incidents, p.id, history.acks[p.id], now, rule),
      });
      if (d.markActed) actedOn.set(p.id, h?.breaker.openUntil);
      if (d.action === 'half_open') {
        o.health.record({ node: p.id, at: now, ok: false, counts: false, halfOpen: true });
        o.log(`health: ${p.id} answers its probe again: breaker half-open, the next request is its trial`);
      } else if (d.action === 'skip' && d.reason === 'maintenance') o.log(`health: ${p.id} is in a maintenance window: not recovering it`);
      else if (d.action === 'skip' && d.reason === 'escalated') o.log(`health: ${p.id} is escalated: not restarting it automatically (jarvis incidents ack ${p.id})`);
      else if (d.action === 'recover') {
        o.log(`health: ${p.id} ${p.status} with its breaker open: recovering it in the background`);
        void heal(p.id).catch((error: unknown) => o.log(`heal: ${p.id}: ${(error as Error).message}`));
      }
    }
  };

  const loop = () => {
    if (stopped) return;
    running = tick()
      .catch((error: unknown) => o.log(`health: check failed: ${(error as Error).message}`))
      .finally(() => {
        running = undefined;
        if (!stopped) timer = setTimeout(loop, o.intervalMs);
      });
  };
  let timer: NodeJS.Timeout = setTimeout(loop, Math.min(o.intervalMs, 1000));

  return {
    lastProbes: () => last,
    heal,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
      await Promise.allSettled([...recovering.values()]);
    },
  };
}

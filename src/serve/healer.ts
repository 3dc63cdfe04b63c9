/**
 * The proxy heals, not only routes: a background check probes every node; a successful
 * probe half-opens an open breaker (the next request is its trial, no user's request is spent on
 * a dead node); with auto-recovery on, a node that is down (its breaker open, or its probes failing
 * several times in a row) gets the runbook's recovery in the background, within the escalation
 * rule, and returns to service once verified.
 */
import { openWindow } from '../alerts/maintenance.js';
import { phaseAt } from '../cascade/breaker.js';
import type { NodeHealth } from '../cascade/node-health.js';
import type { Clock } from '../system/clock.js';
import { probeSamples } from '../history/samples.js';
import type { Records } from '../store/records.js';
import type { Config } from '../config/schema.js';
import { blockedByEscalation, escalationRule } from '../incidents/incident.js';
import { probeAll, type ProbeResult } from '../probe/probe.js';
import type { ExecutorDeps } from '../runbook/executor.js';
import type { Runbook } from '../runbook/runbook.js';
import { recoverNode, type RecoverResult } from '../runbook/recover.js';
import { mayRecover, type RecoverFacts, type RecoverRefusal } from '../runbook/may-recover.js';
import { findNode } from '../config/nodes.js';
import type { LiveHealth } from './live-health.js';
import type { ServeMetrics } from './metrics.js';

export interface HealerOptions {
  config: Config;
  runbook: Runbook;
  /** The saved data: the history the probes go into, the incident log the escalation rule reads. */
  records: Records;
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

/** A probe as the healer keeps it: when it was sent (wall ms), and the node's recent latencies. */
type LastProbe = ProbeResult & { probedAt: number };

/** How many probes per node the healer remembers for the status page's sparkline. */
const RECENT = 40;

export interface Healer {
  lastProbes(): LastProbe[];
  /** The node's last probes, oldest first: latency, or null for a failure. */
  recent(id: string): (number | null)[];
  /**
   * Probes every node now (or right after the round in progress), not at the next interval:
   * something changed that the page and /health should see at once (a recovery, another
   * process's incident).
   */
  probeSoon(): void;
  heal(nodeId: string): Promise<RecoverResult>;
  stop(): Promise<void>;
}

export interface HealInput {
  probeOk: boolean;
  /** The probe failed with a quota or rate limit (429): the node answers, nothing to restart. */
  throttled: boolean;
  /** When the probe was sent, and now (wall ms). */
  probedAt: number;
  now: number;
  health: NodeHealth | undefined;
  autoRecover: boolean;
  /** A recovery of this node is running. */
  recovering: boolean;
  /** The breaker opening the healer last acted on, if any. */
  actedOn: { openUntil: number | undefined } | undefined;
  /** Probes in a row that failed, this one included (0 when it answered). */
  failedProbes: number;
  /** How many failed probes in a row make an outage (`serve.downAfterProbes`). */
  downAfter: number;
  /** A recovery was decided (made or refused) during this run of failed probes. */
  outageActed: boolean;
  /** What `mayRecover` weighs: maintenance, impact, escalation, an incident log that cannot be read. */
  facts: RecoverFacts;
}

/** What a recovery decision answers: the breaker opening, or the run of failed probes, it was made for. */
type HealCause = 'breaker' | 'probes';

export type HealDecision =
  | { action: 'none' }
  | { action: 'half_open' }
  | { action: 'skip'; reason: RecoverRefusal; cause: HealCause }
  | { action: 'recover'; cause: HealCause };

const NONE: HealDecision = { action: 'none' };

/**
 * What the background check does about one node after its probe. Pure.
 *
 * A node whose breaker is open: a probe that answers (sent after the failure that opened it)
 * half-opens the breaker; one that fails starts a recovery, once per opening (a recovery that did
 * not bring the node back is tried again when its breaker next opens, not at every probe).
 *
 * A node whose breaker is not open but whose probes fail `downAfter` times in a row is down too:
 * with `auto`, the balancer puts it last, so no request may ever fail on it and open its breaker.
 * It gets one recovery per such run of failures (an outage, ended by a probe that answers), and
 * none if one was decided in this outage already, for its breaker or its probes.
 *
 * Either way, not for a node that is low-impact, in a maintenance window or escalated, nor after a
 * probe answered 429 (a quota: the node is up, no restart helps; `jarvis check` skips it too).
 */
export function healDecision(i: HealInput): HealDecision {
  const h = i.health;
  if (i.throttled) return NONE;
  if (h === undefined || phaseAt(h.breaker, i.now) !== 'open') {
    if (i.probeOk || !i.autoRecover || i.recovering || i.outageActed || i.failedProbes < i.downAfter) return NONE;
    return recovery(i, 'probes');
  }
  if (i.probeOk) {
    // A quota ends at its Retry-After, whatever a probe says.
    if (h.breaker.quota) return NONE;
    // A probe sent before the failure that opened the breaker says nothing about the node now.
    if (h.lastErrorAt !== undefined && Date.parse(h.lastErrorAt) >= i.probedAt) return NONE;
    return { action: 'half_open' };
  }
  if (!i.autoRecover || i.recovering || (i.actedOn !== undefined && i.actedOn.openUntil === h.breaker.openUntil)) return NONE;
  return recovery(i, 'breaker');
}

function recovery(i: HealInput, cause: HealCause): HealDecision {
  const may = mayRecover(i.facts);
  return may.ok ? { action: 'recover', cause } : { action: 'skip', reason: may.reason, cause };
}

export function startHealer(o: HealerOptions): Healer {
  return new BackgroundHealer(o);
}

/** The background check: a probe round every `intervalMs`, each node's decision acted on, recoveries one per node. */
class BackgroundHealer implements Healer {
  #last: LastProbe[] = [];
  readonly #recent = new Map<string, (number | null)[]>();
  #again = false;
  readonly #recovering = new Map<string, Promise<RecoverResult>>();
  /** The breaker opening (its openUntil) the healer last acted on, per node. */
  readonly #actedOn = new Map<string, number | undefined>();
  /** Failed probes in a row, per node; and the nodes whose current outage was acted on. */
  readonly #failedProbes = new Map<string, number>();
  readonly #outageActed = new Set<string>();
  #running: Promise<void> | undefined;
  #stopped = false;
  #timer: NodeJS.Timeout;

  constructor(private readonly o: HealerOptions) {
    this.#timer = setTimeout(() => this.#loop(), Math.min(o.intervalMs, 1000));
  }

  lastProbes(): LastProbe[] {
    return this.#last;
  }

  recent(id: string): (number | null)[] {
    return this.#recent.get(id) ?? [];
  }

  probeSoon(): void {
    if (this.#stopped) return;
    if (this.#running) this.#again = true;
    else {
      clearTimeout(this.#timer);
      this.#loop();
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    await Promise.allSettled([...this.#recovering.values()]);
  }

  heal(nodeId: string): Promise<RecoverResult> {
    const o = this.o;
    const node = findNode(o.config, nodeId);
    const current = this.#recovering.get(node.id);
    if (current) return current;
    const p = recoverNode({ config: o.config, runbook: o.runbook, nodeId: node.id, records: o.records, deps: o.executor, clock: o.clock, force: false, wait: false, dryRun: false, commandLine: 'jarvis serve (heal)' })
      .then((r) => {
        o.metrics?.recoveries.inc({ node: node.id, outcome: r.outcome });
        if (r.recovered) {
          // Verified by a real completion: back in service.
          o.health.record({ node: node.id, at: o.clock.now(), ok: true, counts: true });
          this.#outageOver(node.id);
          o.onRecovered?.(node.id);
          this.probeSoon();
          o.log(`heal: ${node.id} ${r.outcome}, back in service`);
        } else if (r.outcome === 'interrupted') o.log(`heal: ${node.id} interrupted (jarvis serve is stopping)${r.incident ? '; recorded as such' : ''}`);
        else o.log(`heal: ${node.id} ${r.outcome}: ${r.plan.reason}`);
        return r;
      })
      .finally(() => this.#recovering.delete(node.id));
    this.#recovering.set(node.id, p);
    return p;
  }

  #loop(): void {
    if (this.#stopped) return;
    this.#running = this.#tick()
      .catch((error: unknown) => this.o.log(`health: check failed: ${(error as Error).message}`))
      .finally(() => {
        this.#running = undefined;
        const again = this.#again;
        this.#again = false;
        if (!this.#stopped) this.#timer = setTimeout(() => this.#loop(), again ? 0 : this.o.intervalMs);
      });
  }

  #outageOver(id: string): void {
    this.#failedProbes.delete(id);
    this.#outageActed.delete(id);
  }

  /** One round: probe every node, record the samples, decide and act for each. */
  async #tick(): Promise<void> {
    const o = this.o;
    const probedAt = o.clock.now();
    const fresh = await probeAll(o.config.nodes, o.executor);
    // A probe this machine could not even send (out of file descriptors) says nothing of its node:
    // the node keeps what its last probe said, and nothing is counted, recorded or acted on.
    const local = fresh.filter((p) => p.local);
    if (local.length > 0) o.log(`health: could not probe ${local.map((p) => p.id).join(', ')}: ${local[0]!.detail ?? 'out of file descriptors'}`);
    const probes = fresh.filter((p) => !p.local);
    this.#last = fresh.map((p) => (p.local ? (this.#last.find((l) => l.id === p.id) ?? { ...p, probedAt }) : { ...p, probedAt }));
    for (const p of probes) {
      const list = this.#recent.get(p.id) ?? [];
      list.push(p.status === 'ok' ? Math.round(p.latencyMs) : null);
      if (list.length > RECENT) list.shift();
      this.#recent.set(p.id, list);
    }
    void o.records.history.append(probeSamples(probes, probedAt)).catch((error: unknown) => o.log(`history: could not record the health check: ${(error as Error).message}`));
    const now = o.clock.now();
    for (const p of probes) {
      if (p.status === 'ok' || p.throttled) this.#outageOver(p.id);
      else this.#failedProbes.set(p.id, (this.#failedProbes.get(p.id) ?? 0) + 1);
    }
    const escalation = await this.#escalation(probes, now);
    for (const p of probes) {
      o.metrics?.probeUp.set({ node: p.id }, p.status === 'ok' ? 1 : 0);
      o.metrics?.probeLatency.set({ node: p.id }, p.latencyMs / 1000);
      o.onProbe?.(p);
      const h = o.health.get(p.id);
      const d = healDecision({
        probeOk: p.status === 'ok',
        throttled: p.status !== 'ok' && p.throttled === true,
        probedAt,
        now,
        health: h,
        autoRecover: o.autoRecover,
        recovering: this.#recovering.has(p.id),
        actedOn: this.#actedOn.has(p.id) ? { openUntil: this.#actedOn.get(p.id) } : undefined,
        failedProbes: this.#failedProbes.get(p.id) ?? 0,
        downAfter: o.config.serve.downAfterProbes,
        outageActed: this.#outageActed.has(p.id),
        facts: {
          node: p.id,
          incidents: o.config.incidents,
          window: openWindow(o.config, p.id, now),
          // A quota is decided above (nothing to do), before recovery is weighed.
          throttled: false,
          lowImpact: o.config.nodes.find((n) => n.id === p.id)?.impact === 'low',
          escalated: escalation.escalated(p.id),
          cannotRecord: escalation.cannotRecord,
        },
      });
      if (d.action === 'recover' || d.action === 'skip') {
        if (d.cause === 'breaker') this.#actedOn.set(p.id, h?.breaker.openUntil);
        this.#outageActed.add(p.id);
      }
      this.#act(p, d, now, escalation.cannotRecord);
    }
  }

  /**
   * The escalation rule's input, read only when a recovery may be decided. A log that cannot be
   * read stops the recoveries only: probes, breakers and metrics go on.
   */
  async #escalation(probes: ProbeResult[], now: number): Promise<{ escalated: (id: string) => boolean; cannotRecord?: string }> {
    const o = this.o;
    const down = (id: string) => {
      const h = o.health.get(id);
      return (h !== undefined && phaseAt(h.breaker, now) === 'open') || (this.#failedProbes.get(id) ?? 0) >= o.config.serve.downAfterProbes;
    };
    if (!o.autoRecover || !probes.some((p) => p.status !== 'ok' && down(p.id))) return { escalated: () => false };
    try {
      const [incidents, acks] = await Promise.all([o.records.incidents.list(), o.records.incidents.cachedAcks()]);
      const rule = escalationRule(o.config);
      return { escalated: (id) => blockedByEscalation(incidents, id, acks[id], now, rule) };
    } catch (error) {
      return { escalated: () => false, cannotRecord: (error as Error).message };
    }
  }

  /** What a decision does: half-open the breaker, say why not, or start a recovery in the background. */
  #act(p: ProbeResult, d: HealDecision, now: number, cannotRecord: string | undefined): void {
    const o = this.o;
    if (d.action === 'half_open') {
      o.health.record({ node: p.id, at: now, ok: false, counts: false, halfOpen: true });
      o.log(`health: ${p.id} answers its probe again: breaker half-open, the next request is its trial`);
    } else if (d.action === 'skip' && d.reason === 'maintenance') o.log(`health: ${p.id} is in a maintenance window: not recovering it`);
    else if (d.action === 'skip' && d.reason === 'escalated') o.log(`health: ${p.id} is escalated: not restarting it automatically (jarvis incidents ack ${p.id})`);
    else if (d.action === 'skip' && d.reason === 'cannot_record') o.log(`health: ${p.id} ${p.status}: not restarting it, since its incident cannot be recorded: ${cannotRecord}`);
    else if (d.action === 'recover') {
      o.log(`health: ${p.id} ${p.status} ${d.cause === 'breaker' ? 'with its breaker open' : `on ${this.#failedProbes.get(p.id)} probes in a row`}: recovering it in the background`);
      void this.heal(p.id).catch((error: unknown) => o.log(`heal: ${p.id}: ${(error as Error).message}`));
    }
  }
}

/**
 * `jarvis check`'s step 4, alerting: the run's transitions to every webhook, what still fires sent
 * again when a hook wants reminders, and what waited in the outbox (`<data>/outbox.json`) for a
 * hook that was away.
 */
import { afterDelivery, alertsForHook, type Outbox, type SentLog } from '../alerts/dispatch.js';
import { deliver, dedupKey, type Alert, type DeliveryResult } from '../alerts/webhooks.js';
import type { Config } from '../config/schema.js';
import type { JsonStore } from '../store/json-store.js';
import type { StateFile } from '../store/state-file.js';
import type { CheckNodeResult, CheckOptions } from './run.js';
import { nextState } from './transitions.js';

/**
 * Step 4: the transitions to every hook, what still fires sent again, what waited in the outbox;
 * the outbox written only when something was queued or delivered from it. Returns the nodes'
 * next check state and the sent log, for step 5 to remember.
 */
export async function sendAlerts(config: Config, nodes: CheckNodeResult[], before: StateFile, checkedAt: string, nowMs: number, outboxStore: JsonStore<Outbox>, deps: CheckOptions['deps']): Promise<{ nextNodes: NonNullable<StateFile['check']>['nodes']; alerts: Alert[]; deliveries: DeliveryResult[]; sent: SentLog }> {
  const nextNodes = { ...(before.check?.nodes ?? {}) };
  for (const n of nodes) nextNodes[n.id] = nextState(nextNodes[n.id], n.status, checkedAt, n.detail);
  const alerts = alertsFor(nodes.filter((n) => !n.silenced), config, checkedAt);
  const firing: Alert[] = nodes
    .filter((n) => n.status !== 'ok' && !n.silenced)
    .map((n) => ({ event: 'down', node: n.id, status: n.status, cause: n.status, at: nextNodes[n.id]!.since, dedupKey: dedupKey(n.id, n.status), severity: n.level === 'critical' ? 'critical' : 'warning', ...(n.detail && { detail: n.detail }) }));
  const outbox = config.alerts.webhooks.length > 0 ? await outboxStore.read() : { hooks: {} };
  const queuedBefore = JSON.stringify(outbox.hooks);
  const sent: SentLog = { sent: structuredClone((before.alerts as SentLog | undefined)?.sent ?? {}) };
  const deliveries: DeliveryResult[] = [];
  await Promise.all(
    config.alerts.webhooks.map(async (hook) => {
      const batch = alertsForHook(hook, alerts, firing, outbox, sent, nowMs);
      if (batch.length === 0) return;
      const d = await deliver(hook, batch, deps.http, (ms) => deps.sleep(ms, deps.signal));
      deliveries.push(d);
      afterDelivery(hook, batch, d.ok, outbox, sent, nowMs);
    }),
  );
  if (JSON.stringify(outbox.hooks) !== queuedBefore) {
    await outboxStore.update((o) => {
      o.hooks = outbox.hooks;
    });
  }
  return { nextNodes, alerts, deliveries, sent };
}

/** The alerts the run's transitions make, per node. */
function alertsFor(nodes: CheckNodeResult[], config: Config, at: string): Alert[] {
  const alerts: Alert[] = [];
  for (const n of nodes) {
    const cause = n.status === 'ok' ? (n.previous ?? n.firstStatus) : n.status;
    const base = { node: n.id, status: n.status, cause, at, dedupKey: dedupKey(n.id, n.status === 'ok' ? cause : n.status), severity: n.level === 'critical' ? 'critical' : 'warning' } as const;
    if (n.transition === 'down') {
      const recovered = n.recovery?.action === 'recovered';
      alerts.push({ ...base, event: 'down', status: n.firstStatus, dedupKey: dedupKey(n.id, n.firstStatus), ...(n.detail && { detail: n.detail }), ...(recovered && { recovered: true }), ...(n.recovery?.incidentId && { incidentId: n.recovery.incidentId }), ...(n.evidence && { evidence: n.evidence }) });
      if (recovered) alerts.push({ ...base, event: 'resolved', dedupKey: dedupKey(n.id, n.firstStatus), detail: `recovered: ${n.recovery!.reason}` });
    } else if (n.transition === 'resolved') {
      alerts.push({ ...base, event: 'resolved', dedupKey: dedupKey(n.id, n.previous ?? 'down'), detail: n.recovery ? `recovered: ${n.recovery.reason}` : 'answers again' });
    }
    if (n.recovery?.escalated) {
      alerts.push({ ...base, event: 'escalated', severity: 'critical', dedupKey: `${dedupKey(n.id, 'escalated')}`, detail: `${n.recovery.windowCount ?? config.incidents.escalateAfter} incidents counting toward escalation in the last ${config.incidents.windowHours} h (${config.incidents.escalateAfter} or more escalate): investigate, automatic restarts stop` });
    }
  }
  return alerts;
}

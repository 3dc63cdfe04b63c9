/**
 * What each webhook gets in one check run. Transitions (down, resolved, escalated) go to every
 * hook. An alert that is still firing is sent again: to Alertmanager on every run (it resolves
 * an alert by itself after `resolve_timeout` unless it is re-sent), to a generic hook every
 * `remindEveryMinutes` (Gatus's minimum-reminder-interval). A delivery that failed waits in the
 * outbox (data/outbox.json) and goes with the next run. Pure: the sending is deliver()'s.
 */
import type { Alert, WebhookConfig } from './webhooks.js';

/** Alerts that could not be delivered, per hook URL, with when they first failed. */
export interface Outbox {
  hooks: Record<string, { alerts: Alert[]; since: string }>;
}

/** When each dedup key was last delivered to each hook (state.json, section `alerts`). */
export interface SentLog {
  sent: Record<string, Record<string, string>>;
}

/** At most this many alerts wait per hook; older ones are dropped first. */
const OUTBOX_MAX = 200;
/** An alert that could not be delivered for this long is dropped (the situation has moved on). */
const OUTBOX_MAX_AGE_MS = 24 * 3600_000;

/** The alerts for one hook this run: what waited in its outbox, the transitions, the reminders. */
export function alertsForHook(hook: WebhookConfig, transitions: readonly Alert[], firing: readonly Alert[], outbox: Outbox, sent: SentLog, now: number): Alert[] {
  const waiting = outbox.hooks[hook.url];
  const queued = waiting && now - Date.parse(waiting.since) < OUTBOX_MAX_AGE_MS ? waiting.alerts : [];
  const last = sent.sent[hook.url] ?? {};
  const remind = hook.format === 'alertmanager' ? 0 : (hook.remindEveryMinutes ?? 0) * 60_000;
  const reminders = firing.filter((a) => {
    if (hook.format === 'alertmanager') return true;
    if (remind <= 0) return false;
    const at = last[a.dedupKey];
    return at !== undefined && now - Date.parse(at) >= remind;
  });
  // One alert per key and event, the newest winning; a resolution drops what waited for its key.
  const byKey = new Map<string, Alert>();
  for (const a of [...queued, ...reminders, ...transitions]) {
    if (a.event === 'resolved') byKey.delete(`${a.dedupKey}\0down`);
    byKey.set(`${a.dedupKey}\0${a.event}`, a);
  }
  return [...byKey.values()];
}

/** Records a delivery: sent alerts stamped, the hook's outbox emptied or refilled. */
export function afterDelivery(hook: WebhookConfig, alerts: readonly Alert[], ok: boolean, outbox: Outbox, sent: SentLog, now: number): void {
  const at = new Date(now).toISOString();
  if (ok) {
    delete outbox.hooks[hook.url];
    const log = (sent.sent[hook.url] ??= {});
    for (const a of alerts) {
      if (a.event === 'resolved') delete log[a.dedupKey];
      else log[a.dedupKey] = at;
    }
    return;
  }
  const since = outbox.hooks[hook.url]?.since ?? at;
  outbox.hooks[hook.url] = { since, alerts: alerts.slice(-OUTBOX_MAX) };
}

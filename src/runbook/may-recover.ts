/**
 * The one answer to "may jarvis restart this node by itself?", for `jarvis check --recover` and
 * serve's background healer alike. Pure: the facts come in, checked in this order:
 *
 * 1. a maintenance window is open for it: nothing is recovered (nor alerted);
 * 2. it answered 429: a quota, the node is up, no restart helps;
 * 3. it is low-impact: reported, not restarted;
 * 4. it is escalated (the runbook's N failed recoveries in the window): not until acknowledged;
 * 5. the incident log cannot be read: a recovery that cannot be recorded is not made.
 *
 * A person's `jarvis recover` (and `POST /api/heal`) asks for a recovery outright and is not
 * held by these; the recovery itself still refuses what its own rules refuse.
 */
import type { Config } from '../config/schema.js';

export interface RecoverFacts {
  node: string;
  /** The escalation rule's figures, for its message. */
  incidents: Pick<Config['incidents'], 'escalateAfter' | 'windowHours'>;
  /** The maintenance window open for the node now, if any. */
  window: Config['maintenance'][number] | undefined;
  /** The probe answered 429, with its Retry-After when it gave one. */
  throttled: { retryAfterS?: number } | false;
  lowImpact: boolean;
  escalated: boolean;
  /** Why the incident log cannot be read, when it cannot. */
  cannotRecord: string | undefined;
}

export type RecoverRefusal = 'maintenance' | 'throttled' | 'low_impact' | 'escalated' | 'cannot_record';

export type MayRecover = { ok: true } | { ok: false; reason: RecoverRefusal; message: string };

const OK: MayRecover = { ok: true };

export function mayRecover(f: RecoverFacts): MayRecover {
  if (f.window) {
    const w = f.window;
    return { ok: false, reason: 'maintenance', message: `maintenance window (from ${w.start}, ${w.duration}${w.every ? ` every ${w.every}` : ''}): not recovered, not alerted` };
  }
  if (f.throttled) return { ok: false, reason: 'throttled', message: `throttled: quota or rate limit${f.throttled.retryAfterS !== undefined ? `, retry after ${f.throttled.retryAfterS} s` : ''}; nothing to restart` };
  if (f.lowImpact) return { ok: false, reason: 'low_impact', message: 'low-impact node: reported, not restarted' };
  if (f.escalated) return { ok: false, reason: 'escalated', message: `escalated (${f.incidents.escalateAfter}+ failed recoveries in ${f.incidents.windowHours} h): not restarted automatically until \`jarvis incidents ack ${f.node}\`` };
  if (f.cannotRecord !== undefined) return { ok: false, reason: 'cannot_record', message: 'incidents.json cannot be read: not restarting what could not be recorded' };
  return OK;
}

/**
 * Alerts to webhooks: a generic JSON body, or Alertmanager's (`POST /api/v2/alerts`), with a
 * dedup key per node and cause. Bounded retries; a failure is returned for the log, never thrown:
 * an alert that cannot be sent must not fail the check nor lose its incident.
 */
import { classifyFailure } from '../probe/classify.js';
import { jsonSafe } from '../system/text.js';
import type { HttpOptions, HttpReply } from '../probe/http.js';

export interface WebhookConfig {
  url: string;
  format: 'generic' | 'alertmanager';
  timeoutMs: number;
  retries: number;
  headers?: Record<string, string>;
  remindEveryMinutes?: number;
}

type AlertEvent = 'down' | 'resolved' | 'escalated';

export interface Alert {
  event: AlertEvent;
  node: string;
  status: string;
  cause: string;
  detail?: string;
  /** When the problem started (down) or ended (resolved). */
  at: string;
  /** Stable per node and cause: receivers group and deduplicate on it. */
  dedupKey: string;
  severity: 'warning' | 'critical';
  recovered?: boolean;
  incidentId?: string;
  /** The evidence on the node's machine in one line (GPU, loaded models, the log's error line). */
  evidence?: string;
}

export interface DeliveryResult {
  url: string;
  ok: boolean;
  attempts: number;
  status?: number;
  error?: string;
}

export function dedupKey(node: string, cause: string): string {
  return `jarvis/${node}/${cause.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}`;
}

/** Alertmanager's v2 alert list. A resolved alert carries endsAt; a firing one does not. */
export function alertmanagerBody(alerts: Alert[], generator = 'jarvis'): unknown[] {
  return alerts.map((a) => ({
    labels: { alertname: a.event === 'escalated' ? 'JarvisNodeEscalated' : 'JarvisNodeDown', node: a.node, cause: a.cause, severity: a.severity, dedup_key: a.dedupKey, service: generator },
    annotations: {
      summary: a.event === 'escalated' ? `${a.node}: repeated incidents, needs investigation` : `${a.node} is ${a.event === 'resolved' ? 'back' : `down (${a.status})`}`,
      description: a.detail ?? a.cause,
      ...(a.evidence && { evidence: a.evidence }),
    },
    ...(a.event === 'resolved' ? { endsAt: a.at } : { startsAt: a.at }),
  }));
}

function genericBody(alerts: Alert[]): unknown {
  return { source: 'jarvis', alerts };
}

type Post = (url: string, options: HttpOptions) => Promise<HttpReply>;

/** Sends the alerts to one webhook, retrying with backoff; never throws. */
export async function deliver(hook: WebhookConfig, alerts: Alert[], post: Post, sleep: (ms: number) => Promise<void>): Promise<DeliveryResult> {
  // What an alert carries came from nodes and commands: no secret leaves in it.
  const body = jsonSafe(JSON.stringify(hook.format === 'alertmanager' ? alertmanagerBody(alerts) : genericBody(alerts)));
  let last: DeliveryResult = { url: hook.url, ok: false, attempts: 0 };
  for (let attempt = 1; attempt <= hook.retries + 1; attempt++) {
    try {
      const reply = await post(hook.url, { method: 'POST', body, timeoutMs: hook.timeoutMs, ...(hook.headers && { headers: hook.headers }), maxBytes: 64 << 10 });
      if (reply.status >= 200 && reply.status < 300) return { url: hook.url, ok: true, attempts: attempt, status: reply.status };
      last = { url: hook.url, ok: false, attempts: attempt, status: reply.status, error: `HTTP ${reply.status}` };
      // A 4xx other than 408/429 will not get better by retrying.
      if (reply.status < 500 && reply.status !== 408 && reply.status !== 429) return last;
    } catch (error) {
      const c = classifyFailure(error, hook.timeoutMs);
      last = { url: hook.url, ok: false, attempts: attempt, error: `${c.status}: ${c.detail ?? ''}` };
    }
    if (attempt <= hook.retries) await sleep(500 * 2 ** (attempt - 1));
  }
  return last;
}

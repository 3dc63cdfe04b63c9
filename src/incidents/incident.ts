/**
 * The incident record (DESIGN.md contract) and the post-mortem rule (runbook step 5): 3 or more
 * incidents on the same node within 24 h escalate. Pure.
 */

/** How a recovery ended. */
export type IncidentOutcome = 'recovered' | 'not_recovered' | 'no_action' | 'interrupted';

export interface StepRecord {
  step: string;
  label: string;
  ok: boolean;
  ms: number;
  detail?: string;
  output?: string;
  skipped?: boolean;
  /** The process a spawn step started (it outlives jarvis). */
  pid?: number;
}

export interface Verification {
  ok: boolean;
  latencyMs: number;
  content?: string;
  model?: string;
  tokensPerSecond?: number;
  detail?: string;
}

export interface Incident {
  id: string;
  node: string;
  /** ISO 8601, when the recovery began. */
  at: string;
  /** What the probe saw first (a status value). */
  status: string;
  /** The runbook's cause. */
  diagnosis: string;
  /** What was done, in order (step labels). */
  actions: string[];
  outcome: IncidentOutcome;
  durationMs: number;
  escalated: boolean;
  detail?: string;
  recovery?: string;
  steps?: StepRecord[];
  verification?: Verification;
  /** How many incidents this node had in the window, this one included. */
  windowCount?: number;
  forced?: boolean;
}

export interface IncidentFile {
  incidents: Incident[];
}

export interface EscalationRule {
  count: number;
  windowMs: number;
}

export const DEFAULT_ESCALATION: EscalationRule = { count: 3, windowMs: 24 * 3600_000 };

/** Incidents on `node` in the window ending at `at` (inclusive). */
export function countInWindow(incidents: readonly Incident[], node: string, at: number, rule: EscalationRule = DEFAULT_ESCALATION): number {
  let n = 0;
  for (const i of incidents) {
    if (i.node !== node) continue;
    const t = Date.parse(i.at);
    if (t <= at && t > at - rule.windowMs) n++;
  }
  return n;
}

/** Whether a new incident on `node` at `at` escalates, given those already stored. */
export function escalates(existing: readonly Incident[], node: string, at: number, rule: EscalationRule = DEFAULT_ESCALATION): { escalated: boolean; windowCount: number } {
  const windowCount = countInWindow(existing, node, at, rule) + 1;
  return { escalated: windowCount >= rule.count, windowCount };
}

/** Checks the file's shape cheaply (10,000 incidents must load fast): the fields we rely on. */
export function validateIncidentFile(data: unknown): IncidentFile {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error('expected an object {"incidents": [...]}');
  const list = (data as { incidents?: unknown }).incidents;
  if (!Array.isArray(list)) throw new Error('expected an "incidents" array');
  list.forEach((item: unknown, i) => {
    const x = item as Partial<Incident> | null;
    if (typeof x !== 'object' || x === null) throw new Error(`incidents[${i}]: expected an object`);
    if (typeof x.node !== 'string' || typeof x.at !== 'string' || Number.isNaN(Date.parse(x.at))) {
      throw new Error(`incidents[${i}]: expected "node" and an ISO "at"`);
    }
  });
  return data as IncidentFile;
}

/** Parses `24h`, `30m`, `7d`, `90s` or an ISO date into a start time (ms). */
export function parseSince(text: string, now: number): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/i.exec(text.trim());
  if (m) {
    const unit = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000, w: 604_800_000 }[m[2]!.toLowerCase() as 's' | 'm' | 'h' | 'd' | 'w'];
    return now - Number(m[1]) * unit;
  }
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new Error(`expected a duration such as 24h, 30m, 7d, or a date, got "${text}"`);
  return t;
}

/**
 * Whether automatic restarts of `node` are stopped: `rule.count` or more incidents in the window,
 * counting only those after the node's acknowledgement (`jarvis incidents ack`).
 */
export function blockedByEscalation(incidents: readonly Incident[], node: string, ackedAt: string | undefined, now: number, rule: EscalationRule): boolean {
  const ack = ackedAt ? Date.parse(ackedAt) : 0;
  return countInWindow(incidents.filter((i) => Date.parse(i.at) > ack), node, now, rule) >= rule.count;
}

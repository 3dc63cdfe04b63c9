import { parseDuration } from '../config/durations.js';
import type { Evidence } from '../runbook/evidence/evidence.js';

/**
 * The incident record (a contract: docs/development.md) and the post-mortem rule (runbook step 5): 3 or more
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
  /** How many incidents on this node count toward escalation in the window, this one included (see escalationCount). */
  windowCount?: number;
  /** How many incidents on this node the window holds, this one included, counting or not (see windowTally). */
  windowRecorded?: number;
  forced?: boolean;
  /** Other nodes of the same machine that answered before the recovery and not after it. */
  sameMachineDown?: { node: string; status: string }[];
  /** Written before the recovery acted, not finished yet (or the run was killed: then `interrupted` is what happened). */
  inProgress?: boolean;
  /** What the node's machine showed before the recovery and after it (the post-mortem's why). */
  evidence?: { before: Evidence; after?: Evidence };
}

export interface IncidentFile {
  incidents: Incident[];
}

export interface EscalationRule {
  count: number;
  windowMs: number;
}

const DEFAULT_ESCALATION: EscalationRule = { count: 3, windowMs: 24 * 3600_000 };

/** The config's escalation rule (`incidents.escalateAfter` within `incidents.windowHours`). */
export function escalationRule(config: { incidents: { escalateAfter: number; windowHours: number } }): EscalationRule {
  return { count: config.incidents.escalateAfter, windowMs: config.incidents.windowHours * 3600_000 };
}

/**
 * Does this incident count toward escalation? The runbook's rule counts incidents where the node
 * was really down and jarvis tried to bring it back, whatever came of it: `recovered` and
 * `not_recovered`. A `no_action` (a quota that resets, a hung node left alone, a node found
 * healthy) and an `interrupted` run are records of what jarvis saw, not of a node that failed.
 */
function countsTowardEscalation(incident: Pick<Incident, 'outcome'>): boolean {
  return incident.outcome === 'recovered' || incident.outcome === 'not_recovered';
}

/**
 * What the escalation window holds for one node at `at` (inclusive): `recorded`, every incident
 * on the node in the window; `counting`, those that count toward escalation (see
 * countsTowardEscalation) after the node's acknowledgement. The one tally every surface shows
 * (recover, incidents, its JSON): a `no_action` is recorded and does not count, and people see
 * both numbers rather than a 0 beside a row.
 */
export function windowTally(incidents: readonly Incident[], node: string, at: number, rule: EscalationRule = DEFAULT_ESCALATION, ackedAt?: string): { recorded: number; counting: number } {
  const acked = ackedAt ? Date.parse(ackedAt) : -Infinity;
  let recorded = 0;
  let counting = 0;
  for (const i of incidents) {
    if (i.node !== node) continue;
    const t = Date.parse(i.at);
    if (t > at || t <= at - rule.windowMs) continue;
    recorded++;
    if (t > acked && countsTowardEscalation(i)) counting++;
  }
  return { recorded, counting };
}

/** The escalation rule's count (windowTally's `counting`): what check, the healer and recover decide on. */
export function escalationCount(incidents: readonly Incident[], node: string, at: number, rule: EscalationRule = DEFAULT_ESCALATION, ackedAt?: string): number {
  return windowTally(incidents, node, at, rule, ackedAt).counting;
}

/** Each node's tally at `at` (nodes with no incident in the window left out), highest count first. */
export function escalationWindow(incidents: readonly Incident[], acks: Readonly<Record<string, string>>, at: number, rule: EscalationRule): { node: string; count: number; recorded: number; escalated: boolean }[] {
  const nodes = new Set(incidents.map((i) => i.node));
  return [...nodes]
    .map((node) => {
      const { recorded, counting } = windowTally(incidents, node, at, rule, acks[node]);
      return { node, count: counting, recorded, escalated: counting >= rule.count };
    })
    .filter((n) => n.recorded > 0)
    .sort((a, b) => b.count - a.count || b.recorded - a.recorded || a.node.localeCompare(b.node));
}

/** Whether a new incident escalates, given those already stored: it counts, and brings the count to the rule's. */
export function escalates(existing: readonly Incident[], draft: Pick<Incident, 'node' | 'at' | 'outcome'>, rule: EscalationRule = DEFAULT_ESCALATION, ackedAt?: string): { escalated: boolean; windowCount: number; windowRecorded: number } {
  const at = Date.parse(draft.at);
  const { counting: windowCount, recorded: windowRecorded } = windowTally([...existing, draft as Incident], draft.node, at, rule, ackedAt);
  const counted = windowCount > escalationCount(existing, draft.node, at, rule, ackedAt);
  return { escalated: counted && windowCount >= rule.count, windowCount, windowRecorded };
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
  const ago = parseDuration(text);
  if (ago !== undefined) return now - ago;
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new Error(`expected a duration such as 24h, 30m, 7d, or a date, got "${text}"`);
  return t;
}

/**
 * Whether automatic restarts of `node` are stopped: `rule.count` or more incidents that count
 * toward escalation in the window, after the node's acknowledgement (`jarvis incidents ack`).
 */
export function blockedByEscalation(incidents: readonly Incident[], node: string, ackedAt: string | undefined, now: number, rule: EscalationRule): boolean {
  return escalationCount(incidents, node, now, rule, ackedAt) >= rule.count;
}

/**
 * data/state.json: what jarvis remembers between runs (the last status of each node seen by
 * `check`, acknowledgements of escalated nodes; later the circuit breakers). Shared by processes
 * through JsonStore's lock; sections that a newer jarvis adds are kept as they are.
 */
import path from 'node:path';
import { validHealth, type CascadeSection } from './health-record.js';
import { JsonStore } from './json-store.js';

export interface NodeCheckState {
  /** A probe status (probe/classify.ts's vocabulary); `check` reads it back through its own list. */
  status: string;
  /** Since when it has had this health (ok / not ok). */
  since: string;
  lastCheck: string;
  detail?: string;
}

export interface StateFile {
  check?: { lastRun?: string; nodes: Record<string, NodeCheckState> };
  /** node -> when a person acknowledged its escalation (`jarvis incidents ack`). */
  acks?: Record<string, string>;
  [section: string]: unknown;
}

/** The breakers' section, or an empty one. */
export function cascadeSection(s: StateFile): CascadeSection {
  const c = s.cascade as CascadeSection | undefined;
  return c && typeof c === 'object' && c.nodes && typeof c.nodes === 'object' ? c : { nodes: {} };
}

/** Removes the entries of `record` that `valid` refuses, saying which. */
function keepValid(record: unknown, valid: (v: unknown) => boolean, where: string, warn: (m: string) => void): void {
  if (typeof record !== 'object' || record === null) return;
  for (const [k, v] of Object.entries(record)) {
    if (valid(v)) continue;
    delete (record as Record<string, unknown>)[k];
    warn(`${where}.${k}: not a valid entry (${JSON.stringify(v)?.slice(0, 80)}); dropped`);
  }
}

/**
 * state.json is a cache: a file that is not an object is set aside by the store; entries of the
 * wrong shape (an `openUntil` that is not a time, counts that are not numbers) are dropped one by
 * one with a warning, so that no command crashes on them or writes them back.
 */
function validateState(data: unknown, warn: (m: string) => void): StateFile {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error('expected an object');
  const s = data as StateFile;
  if (s.check !== undefined && (typeof s.check !== 'object' || s.check === null || typeof s.check.nodes !== 'object' || s.check.nodes === null)) {
    warn('"check": not a valid section; dropped');
    delete s.check;
  }
  keepValid(s.check?.nodes, (n) => typeof (n as NodeCheckState | null)?.status === 'string' && typeof (n as NodeCheckState).since === 'string', 'check.nodes', warn);
  if (s.acks !== undefined && (typeof s.acks !== 'object' || s.acks === null)) delete s.acks;
  keepValid(s.acks, (v) => typeof v === 'string' && !Number.isNaN(Date.parse(v)), 'acks', warn);
  const c = s.cascade as { nodes?: unknown; served?: unknown; resets?: unknown } | undefined;
  if (c !== undefined) {
    if (typeof c !== 'object' || c === null || typeof c.nodes !== 'object' || c.nodes === null) {
      warn('"cascade": not a valid section; dropped');
      delete s.cascade;
    } else {
      keepValid(c.nodes, validHealth, 'cascade.nodes', warn);
      keepValid(c.served, (v) => Array.isArray(v) && v.every((m) => typeof m === 'string'), 'cascade.served', warn);
      keepValid(c.resets, (v) => typeof v === 'number' && Number.isFinite(v), 'cascade.resets', warn);
    }
  }
  return s;
}

const stderrWarn = (m: string) => process.stderr.write(`jarvis: state.json: ${m}\n`);

export function stateStore(dataDir: string, warn: (message: string) => void = stderrWarn): JsonStore<StateFile> {
  return new JsonStore(path.join(dataDir, 'state.json'), { validate: (d) => validateState(d, warn), empty: () => ({}), indent: 2, cache: true });
}

/**
 * data/state.json: what jarvis remembers between runs (the last status of each node seen by
 * `check`, acknowledgements of escalated nodes; later the circuit breakers). Shared by processes
 * through JsonStore's lock; sections that a newer jarvis adds are kept as they are.
 */
import path from 'node:path';
import type { ProbeStatus } from '../probe/classify.js';
import { JsonStore } from './json-store.js';

export interface NodeCheckState {
  status: ProbeStatus;
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

function validateState(data: unknown): StateFile {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error('expected an object');
  const s = data as StateFile;
  if (s.check !== undefined) {
    if (typeof s.check !== 'object' || s.check === null || typeof s.check.nodes !== 'object' || s.check.nodes === null) throw new Error('"check.nodes": expected an object');
    for (const [id, n] of Object.entries(s.check.nodes)) {
      if (typeof n?.status !== 'string' || typeof n.since !== 'string') throw new Error(`"check.nodes.${id}": expected {status, since}`);
    }
  }
  if (s.acks !== undefined && (typeof s.acks !== 'object' || s.acks === null || Object.values(s.acks).some((v) => typeof v !== 'string' || Number.isNaN(Date.parse(v))))) {
    throw new Error('"acks": expected {node: ISO date}');
  }
  return s;
}

export function stateStore(dataDir: string): JsonStore<StateFile> {
  return new JsonStore(path.join(dataDir, 'state.json'), { validate: validateState, empty: () => ({}), indent: 2 });
}

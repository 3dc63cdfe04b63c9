/**
 * The incident log, data/incidents.json: appends under the cross-process lock, escalation,
 * retention, and the acknowledgements that reset a node's escalation (kept in state.json's `acks`,
 * read and written only here). Opened by the records (store/records.ts) with the config's rule.
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.js';
import { JsonStore } from '../store/json-store.js';
import type { StateFile } from '../store/state-file.js';
import { escalates, escalationRule, validateIncidentFile, type Incident, type IncidentFile } from './incident.js';

/** The config's `incidents` section: retention and the escalation rule. */
type IncidentSettings = Config['incidents'];

const DEFAULT_SETTINGS: IncidentSettings = { retentionDays: 90, escalateAfter: 3, windowHours: 24 };

export interface AppendResult {
  incident: Incident;
  /** Incidents removed by the retention rule during this append. */
  pruned: number;
}

export class IncidentStore {
  private readonly store: JsonStore<IncidentFile>;

  constructor(
    dataDir: string,
    private readonly options: { now: () => number; settings?: () => IncidentSettings; state?: JsonStore<StateFile> },
  ) {
    this.store = new JsonStore(path.join(dataDir, 'incidents.json'), { validate: validateIncidentFile, empty: () => ({ incidents: [] }) });
  }

  private settings(): IncidentSettings {
    return this.options.settings?.() ?? DEFAULT_SETTINGS;
  }

  private rule() {
    return escalationRule({ incidents: this.settings() });
  }

  /** node -> when a person acknowledged its escalation (`jarvis incidents ack`); {} without a state file. */
  async acks(): Promise<Record<string, string>> {
    return (await this.options.state?.read())?.acks ?? {};
  }

  /** The acknowledgements the escalation rule reads: none when state.json cannot be read (it is a cache). */
  cachedAcks(): Promise<Record<string, string>> {
    return this.acks().catch((): Record<string, string> => ({}));
  }

  /** The node's acknowledgement, or undefined (also when state.json cannot be read). */
  async ackedAt(node: string): Promise<string | undefined> {
    return (await this.cachedAcks())[node];
  }

  /** Incidents before `at` stop counting toward the node's escalation. */
  async acknowledge(node: string, at: string): Promise<void> {
    if (!this.options.state) throw new Error('no state file to keep the acknowledgement in');
    await this.options.state.update((s) => {
      s.acks = { ...s.acks, [node]: at };
    });
  }

  get file(): string {
    return this.store.file;
  }

  async list(): Promise<Incident[]> {
    return (await this.store.read()).incidents;
  }

  /** Appends an incident, deciding escalation against what is stored (after the node's acknowledgement), under the lock. */
  async append(draft: Omit<Incident, 'id' | 'escalated' | 'windowCount' | 'windowRecorded'>, ackedAt?: string): Promise<AppendResult> {
    return this.store.update((data) => {
      const pruned = this.prune(data);
      const { escalated, windowCount, windowRecorded } = escalates(data.incidents, draft, this.rule(), ackedAt);
      const incident: Incident = { id: randomUUID(), ...draft, escalated, windowCount, windowRecorded };
      data.incidents.push(incident);
      return { incident, pruned };
    });
  }

  /**
   * Records a recovery before it acts (the record comes first: what cannot be recorded is not
   * done). The incident stands as `interrupted` with `inProgress: true` until `finish` writes how
   * it ended: a run killed halfway leaves the truth, an interrupted recovery, which never counts
   * toward escalation.
   */
  async begin(draft: Omit<Incident, 'id' | 'escalated' | 'windowCount' | 'windowRecorded' | 'outcome'>, ackedAt?: string): Promise<AppendResult> {
    return this.append({ ...draft, outcome: 'interrupted', inProgress: true }, ackedAt);
  }

  /** Writes how the recovery begun as `id` ended, deciding escalation then (against the others). */
  async finish(id: string, final: Omit<Incident, 'id' | 'escalated' | 'windowCount' | 'windowRecorded'>, ackedAt?: string): Promise<AppendResult> {
    return this.store.update((data) => {
      const pruned = this.prune(data);
      const others = data.incidents.filter((i) => i.id !== id);
      const { escalated, windowCount, windowRecorded } = escalates(others, final, this.rule(), ackedAt);
      const incident: Incident = { id, ...final, escalated, windowCount, windowRecorded };
      const at = data.incidents.findIndex((i) => i.id === id);
      // Gone meanwhile (a person cleared the log): written again, not lost.
      if (at === -1) data.incidents.push(incident);
      else data.incidents[at] = incident;
      return { incident, pruned };
    });
  }

  /** Removes incidents older than the retention period; returns how many. */
  async pruneNow(): Promise<number> {
    return this.store.update((data) => this.prune(data));
  }

  private prune(data: IncidentFile): number {
    const days = this.settings().retentionDays;
    const cutoff = this.options.now() - days * 86_400_000;
    const before = data.incidents.length;
    data.incidents = data.incidents.filter((i) => Date.parse(i.at) >= cutoff);
    return before - data.incidents.length;
  }
}

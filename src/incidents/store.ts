/** The incident log, data/incidents.json: appends under the cross-process lock, escalation, retention. */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { JsonStore } from '../store/json-store.js';
import { DEFAULT_ESCALATION, escalates, validateIncidentFile, type EscalationRule, type Incident, type IncidentFile } from './incident.js';

export interface AppendResult {
  incident: Incident;
  /** Incidents removed by the retention rule during this append. */
  pruned: number;
}

export class IncidentStore {
  private readonly store: JsonStore<IncidentFile>;

  constructor(
    dataDir: string,
    private readonly options: { escalation?: EscalationRule; retentionDays?: number; now: () => number },
  ) {
    this.store = new JsonStore(path.join(dataDir, 'incidents.json'), { validate: validateIncidentFile, empty: () => ({ incidents: [] }) });
  }

  get file(): string {
    return this.store.file;
  }

  async list(): Promise<Incident[]> {
    return (await this.store.read()).incidents;
  }

  /** Appends an incident, deciding escalation against what is stored (after the node's acknowledgement), under the lock. */
  async append(draft: Omit<Incident, 'id' | 'escalated' | 'windowCount'>, ackedAt?: string): Promise<AppendResult> {
    return this.store.update((data) => {
      const pruned = this.prune(data);
      const { escalated, windowCount } = escalates(data.incidents, draft, this.options.escalation ?? DEFAULT_ESCALATION, ackedAt);
      const incident: Incident = { id: randomUUID(), ...draft, escalated, windowCount };
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
  async begin(draft: Omit<Incident, 'id' | 'escalated' | 'windowCount' | 'outcome'>, ackedAt?: string): Promise<AppendResult> {
    return this.append({ ...draft, outcome: 'interrupted', inProgress: true }, ackedAt);
  }

  /** Writes how the recovery begun as `id` ended, deciding escalation then (against the others). */
  async finish(id: string, final: Omit<Incident, 'id' | 'escalated' | 'windowCount'>, ackedAt?: string): Promise<AppendResult> {
    return this.store.update((data) => {
      const pruned = this.prune(data);
      const others = data.incidents.filter((i) => i.id !== id);
      const { escalated, windowCount } = escalates(others, final, this.options.escalation ?? DEFAULT_ESCALATION, ackedAt);
      const incident: Incident = { id, ...final, escalated, windowCount };
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
    const days = this.options.retentionDays ?? 90;
    const cutoff = this.options.now() - days * 86_400_000;
    const before = data.incidents.length;
    data.incidents = data.incidents.filter((i) => Date.parse(i.at) >= cutoff);
    return before - data.incidents.length;
  }
}

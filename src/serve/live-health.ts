/**
 * The one owner of the proxy's live node health: the breakers and counts requests are routed
 * by. Outcomes apply at once in memory and are queued; every sync replays the queue onto
 * state.json under its lock and adopts what the file then says, so what other processes wrote
 * (`jarvis reset`, `jarvis ask`, another proxy) reaches this one within a sync, and `jarvis
 * health` reads what the proxy uses.
 */
import { stat } from 'node:fs/promises';
import type { BreakerSettings } from '../cascade/breaker.js';
import type { ModelCatalog } from '../cascade/catalog.js';
import { applyEvent, cascadeSection, healthView, queueEvent, recordEvents, type CascadeSection, type HealthEvent, type NodeHealth } from '../cascade/node-health.js';
import type { JsonStore } from '../store/json-store.js';
import type { StateFile } from '../store/state-file.js';

export class LiveHealth {
  /** Node id -> health, as the engine reads it (the same object for the proxy's lifetime). */
  readonly nodes: Record<string, NodeHealth> = Object.create(null) as Record<string, NodeHealth>;
  #pending: HealthEvent[] = [];
  #fileStamp = -1;
  #syncing: Promise<void> | undefined;

  constructor(
    private readonly store: JsonStore<StateFile>,
    private readonly catalog: ModelCatalog,
    private breaker: BreakerSettings,
  ) {}

  /** Loads the saved state (at start). */
  async load(): Promise<CascadeSection> {
    const section = cascadeSection(await this.store.read());
    this.#adopt(section);
    this.#fileStamp = await this.#stamp();
    return section;
  }

  /** New breaker settings after a config reload. */
  configure(breaker: BreakerSettings): void {
    this.breaker = breaker;
  }

  /** Applies an outcome now and queues it for the file. */
  record(e: HealthEvent): void {
    this.nodes[e.node] = applyEvent(this.nodes[e.node], e, this.breaker);
    queueEvent(this.#pending, e);
  }

  get(id: string): NodeHealth | undefined {
    return this.nodes[id];
  }

  view(id: string, now: number): ReturnType<typeof healthView> {
    return healthView(this.nodes[id], now);
  }

  /** Writes what is queued and takes in what others wrote; one sync at a time. */
  sync(): Promise<void> {
    this.#syncing ??= this.#sync().finally(() => (this.#syncing = undefined));
    return this.#syncing;
  }

  async #sync(): Promise<void> {
    const events = this.#pending;
    this.#pending = [];
    const served = this.catalog.takeChanges();
    let section = await recordEvents(this.store, events, served, this.breaker).catch((error: unknown) => {
      // Not lost: queued again for the next sync.
      this.#pending = [...events, ...this.#pending];
      throw error;
    });
    const stamp = await this.#stamp();
    if (!section) {
      if (stamp === this.#fileStamp) return;
      section = cascadeSection(await this.store.read());
    }
    this.#fileStamp = stamp;
    this.#adopt(section);
  }

  /** The file's health, with what was recorded here since the sync began laid over it. */
  #adopt(section: CascadeSection): void {
    for (const id of Object.keys(this.nodes)) if (!(id in section.nodes)) delete this.nodes[id];
    for (const [id, h] of Object.entries(section.nodes)) this.nodes[id] = h;
    for (const e of this.#pending) this.nodes[e.node] = applyEvent(this.nodes[e.node], e, this.breaker);
  }

  async #stamp(): Promise<number> {
    try {
      const s = await stat(this.store.file);
      return s.mtimeMs * 1000 + (s.size % 1000);
    } catch {
      return 0;
    }
  }
}

/**
 * What each node serves, as far as jarvis knows: the model ids of its model list (`/v1/models`,
 * Ollama's tags), learnt from a probe or a lookup and kept in state.json between runs. Model
 * groups are built from it, and a configured short name (`deepseek`) is sent as the served id
 * (`deepseek-coder-v2-lite-instruct`) that LM Studio wants, without spending an attempt on it.
 */
import type { NodeConfig } from '../config/schema.js';
import { matchModel } from '../probe/model-names.js';

/** Lists a node's models; undefined when it cannot tell (down, not an OpenAI-style server). */
export type ListModels = (node: NodeConfig, timeoutMs: number) => Promise<string[] | undefined>;

const RELOOK_MS = 60_000;

export class ModelCatalog {
  readonly #served = new Map<string, readonly string[]>();
  readonly #lookups = new Map<string, Promise<void>>();
  /** When a node's last lookup told nothing: not asked again for a while (down, or no model list). */
  readonly #failedAt = new Map<string, number>();
  /** Lists learnt since the last `takeChanges()`, to save. */
  #changed: Record<string, string[]> = {};
  /** Bumped whenever a list changes: routes computed from an older version are stale. */
  version = 0;

  constructor(saved: Record<string, unknown> = {}) {
    for (const [id, list] of Object.entries(saved)) {
      if (Array.isArray(list) && list.every((m) => typeof m === 'string')) this.#served.set(id, list);
    }
  }

  /** The node's model ids, or undefined if never listed. */
  served(id: string): readonly string[] | undefined {
    return this.#served.get(id);
  }

  /** Records what a node lists (from a probe or a lookup). */
  learn(id: string, models: readonly string[]): void {
    const before = this.#served.get(id);
    if (before && before.length === models.length && before.every((m, i) => m === models[i])) return;
    this.#served.set(id, [...models]);
    this.#changed[id] = [...models];
    this.version++;
  }

  /** Drops a node's list (it served something else than listed): the next lookup lists it again. */
  forget(id: string): void {
    this.#failedAt.delete(id);
    if (this.#served.delete(id)) this.version++;
  }

  /** The id to send to `node` for the name `wanted`: the served id it matches, else the name as it is. */
  idFor(node: NodeConfig, wanted: string): string {
    const served = this.#served.get(node.id);
    return (served && matchModel(wanted, served)) ?? wanted;
  }

  /**
   * Lists the node's models unless known, or unless a lookup told nothing in the last minute; one
   * lookup at a time per node, however many requests wait on it.
   */
  lookup(node: NodeConfig, timeoutMs: number, list: ListModels, now: number): Promise<void> {
    if (this.#served.has(node.id)) return Promise.resolve();
    const failed = this.#failedAt.get(node.id);
    if (failed !== undefined && now - failed < RELOOK_MS) return Promise.resolve();
    let p = this.#lookups.get(node.id);
    if (!p) {
      p = list(node, timeoutMs)
        .then((models) => {
          if (models) {
            this.learn(node.id, models);
            this.#failedAt.delete(node.id);
          } else this.#failedAt.set(node.id, now);
        })
        .catch(() => undefined)
        .finally(() => this.#lookups.delete(node.id));
      this.#lookups.set(node.id, p);
    }
    return p;
  }

  /** The lists learnt since the last call, to persist. */
  takeChanges(): Record<string, string[]> {
    const c = this.#changed;
    this.#changed = {};
    return c;
  }
}

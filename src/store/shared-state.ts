/**
 * The state several processes share, behind one interface: every node's breaker and counts, the
 * model lists learnt, the healer's lease, and who is there. Two backends: the data dir's
 * state.json under its lock (the default, one machine) and Redis (several proxies on one or more
 * machines). The breaker arithmetic is the cascade's, handed in as a fold (health-record.ts), for both.
 */
import { stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Config } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { replay, type CascadeSection, type HealthEvent, type HealthFold, type NodeHealth } from './health-record.js';
import { cascadeSection, stateStore, type StateFile } from './state-file.js';
import type { JsonStore } from './json-store.js';

export type LeaseResult = { release: () => Promise<void> } | { held: string } | { unavailable: string };

/** KV-cache affinity's pins where several proxies see them (serve/affinity.ts): one key each, with its idle time to live. */
export interface SharedPins {
  /** The pin's value, its time to live started again; undefined when there is none. */
  getPin(key: string, ttlMs: number): Promise<string | undefined>;
  setPin(key: string, value: string, ttlMs: number): Promise<void>;
}

export interface SharedState {
  readonly backend: 'file' | 'redis';
  /** Where, in words (`state.json in ./data`, `redis://127.0.0.1:6379/0`), no password. */
  readonly where: string;
  load(): Promise<{ nodes: Record<string, NodeHealth>; served: Record<string, string[]> }>;
  /**
   * Replays `events` (and the model lists learnt) onto the shared health and returns every node's
   * health as it now stands, or undefined when nothing changed since the last call. Throws when
   * the store cannot be reached: the caller keeps its events and tries again.
   */
  exchange(events: HealthEvent[], served: Record<string, string[]>, fold: HealthFold): Promise<Record<string, NodeHealth> | undefined>;
  /** Instances that synced within the last minute, this one included. */
  instances(): number;
  /** One healer at a time per node: a lease renewed while the recovery runs. */
  lease(node: string, owner: string): Promise<LeaseResult>;
  /**
   * Reports this instance's requests in flight per node and returns the other instances' sum
   * (Redis; the file store has no others to ask and leaves it out).
   */
  shareLoad?(own: Record<string, number>): Promise<Record<string, number>>;
  /**
   * Forgets a node's breaker and counts (`jarvis reset`), stamped `at`: outcomes from before it
   * that an instance has not synced yet are dropped instead of bringing the old state back.
   * Resolves whether the node had state to clear.
   */
  reset(node: string, at: number): Promise<boolean>;
  /** Affinity's pins, shared (Redis; the file store leaves them to each process). */
  pins?: SharedPins;
  close(): Promise<void>;
}

/** state.json in the data dir, under its lock; the per-node recovery lock is the lease there. */
class FileState implements SharedState {
  readonly backend = 'file';
  readonly where: string;
  #stamp = -1;
  readonly #store;

  constructor(dataDir: string) {
    this.#store = stateStore(dataDir);
    this.where = this.#store.file;
  }

  async load() {
    const section = cascadeSection(await this.#store.read());
    this.#stamp = await this.#fileStamp();
    return { nodes: section.nodes, served: section.served ?? {} };
  }

  async exchange(events: HealthEvent[], served: Record<string, string[]>, fold: HealthFold) {
    let section = await recordEvents(this.#store, events, served, fold);
    const stamp = await this.#fileStamp();
    if (!section) {
      if (stamp === this.#stamp) return undefined;
      section = cascadeSection(await this.#store.read());
    }
    this.#stamp = stamp;
    return section.nodes;
  }

  instances(): number {
    return 1;
  }

  lease(): Promise<LeaseResult> {
    // recoverNode's own lock (<data>/locks/recover-<id>) keeps the promise on one machine.
    return Promise.resolve({ release: () => Promise.resolve() });
  }

  reset(node: string, at: number): Promise<boolean> {
    return this.#store.update((s) => {
      const section = cascadeSection(s);
      const had = node in section.nodes;
      delete section.nodes[node];
      section.resets = { ...section.resets, [node]: at };
      s.cascade = section;
      return had;
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  async #fileStamp(): Promise<number> {
    try {
      const s = await stat(this.#store.file);
      return s.mtimeMs * 1000 + (s.size % 1000);
    } catch {
      return 0;
    }
  }
}

/**
 * Replays a run's events onto the stored state, with the model lists it learnt, under the lock;
 * returns the section as written. Events from before a node's reset are dropped.
 */
async function recordEvents(store: JsonStore<StateFile>, events: HealthEvent[], served: Record<string, string[]>, fold: HealthFold): Promise<CascadeSection | undefined> {
  if (events.length === 0 && Object.keys(served).length === 0) return undefined;
  return store.update((state) => {
    const section = cascadeSection(state);
    replay(section, events, fold);
    if (Object.keys(served).length > 0) section.served = { ...section.served, ...served };
    // Written by jarvis before model lists replaced it.
    delete (section as { models?: unknown }).models;
    state.cascade = section;
    return section;
  });
}

/** The Redis URL a config asks for, or undefined for the file store. */
export function redisUrl(config: Config, env: NodeJS.ProcessEnv): string | undefined {
  if (config.state.backend === 'redis') {
    const url = config.state.url ?? env.JARVIS_REDIS_URL;
    if (!url) throw new ConfigError('state.backend is redis but no url is set: add state.url (redis://host:6379/0) or $JARVIS_REDIS_URL');
    return url;
  }
  return env.JARVIS_REDIS_URL || undefined;
}

/** The shared state a config asks for: Redis when `state.backend: redis` or $JARVIS_REDIS_URL, else the data dir's file. */
export async function sharedState(config: Config, dataDir: string, env: NodeJS.ProcessEnv, instance = `${hostname()}:${process.pid}`): Promise<SharedState> {
  const url = redisUrl(config, env);
  if (!url) return new FileState(dataDir);
  const { RedisState } = await import('./redis-state.js');
  return new RedisState(url, config.state.keyPrefix, instance);
}


/**
 * The saved data, with one owner: everything jarvis keeps in the data dir (or in Redis, when the
 * state is shared) opened from one place, built once at the edge (the CLI's context; serve
 * reuses it) from the config, the data dir, the environment, the clock and a warn function.
 * The core (recoverNode, checkCluster, the healer, status, report, watch) takes `Records` and
 * never a data dir, so every writer gets the same options (retention, escalation, backend, env).
 *
 * What is here, by name: `health` (breakers and counts shared with proxies: state.json or Redis),
 * `history` (probe samples and request outcomes), `incidents` (the incident log, with the acks
 * that reset its escalation), `state` (state.json: `check`'s last view and the alerts' sent log),
 * `outbox` (alerts waiting for a hook), `lock(name)` and the files a recovery writes (`paths`).
 * `maintain()` is the fold step: finished history hours folded into days, what retention drops
 * pruned; `check`, `report` and serve's timer call it, an append never does.
 */
import path from 'node:path';
import type { Outbox } from '../alerts/dispatch.js';
import type { Config } from '../config/schema.js';
import { IncidentStore } from '../incidents/store.js';
import type { Clock } from '../system/clock.js';
import { historyStore } from './history.js';
import type { History } from './history-days.js';
import { JsonStore } from './json-store.js';
import { acquireLock, type HeldLock } from './lock.js';
import { sharedState, type SharedState } from './shared-state.js';
import { stateStore, type StateFile } from './state-file.js';

export interface RecordsOptions {
  dataDir: string;
  /** The config in force (a reload changes retention and escalation for the next write). */
  config: () => Config;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  warn: (message: string) => void;
  /** Who takes a lock: this process and what it runs (`jarvis check`), said to a refused caller. */
  owner: { pid: number; command: string };
  /** This instance, for the shared state's heartbeat (`host:pid`). */
  instance: string;
}

export interface Records {
  readonly dataDir: string;
  readonly history: History;
  readonly incidents: IncidentStore;
  readonly state: JsonStore<StateFile>;
  readonly outbox: JsonStore<Outbox>;
  /** Opened once, on first use (Redis is imported only then). */
  health(): Promise<SharedState>;
  /** The shared state only when it is shared (Redis); undefined for the data dir's file. */
  sharedHealth(): Promise<SharedState | undefined>;
  /** Takes `<data>/locks/<name>` (without an owner record when `anonymous`: a full disk has no room for one). */
  lock(name: string, options?: { waitMs?: number; anonymous?: boolean }): Promise<HeldLock>;
  readonly paths: {
    /** `<data>/logs`: the logs of servers jarvis started. */
    logs: string;
    /** `<data>/run/<node>.pid`. */
    pidFile(node: string): string;
    /** `<data>/check.log`. */
    checkLog: string;
    /** `<data>/serve.json`: where a running `jarvis serve` on this data dir listens. */
    serve: string;
  };
  /** Folds finished history hours and prunes what retention drops. */
  maintain(): Promise<void>;
  close(): Promise<void>;
}

export function openRecords(o: RecordsOptions): Records {
  const now = () => o.clock.now();
  const state = stateStore(o.dataDir, (m) => o.warn(`state.json: ${m}`));
  let health: Promise<SharedState> | undefined;
  const healthOf = () => (health ??= sharedState(o.config(), o.dataDir, o.env, o.instance));
  // Opened on first use: a command that keeps no history never asks where it would be.
  let history: History | undefined;
  const historyOf = () => (history ??= historyStore(o.config(), o.dataDir, now, o.warn, o.env));
  return {
    dataDir: o.dataDir,
    get history() {
      return historyOf();
    },
    incidents: new IncidentStore(o.dataDir, { now, settings: () => o.config().incidents, state }),
    state,
    outbox: new JsonStore<Outbox>(path.join(o.dataDir, 'outbox.json'), { validate: validateOutbox, empty: () => ({ hooks: {} }), indent: 2, cache: true }),
    health: healthOf,
    sharedHealth: async () => {
      const h = await healthOf();
      return h.backend === 'redis' ? h : undefined;
    },
    lock: (name, options) => acquireLock(path.join(o.dataDir, 'locks', name), { waitMs: options?.waitMs ?? 0, clock: o.clock, ...(!options?.anonymous && { owner: o.owner }) }),
    paths: {
      logs: path.join(o.dataDir, 'logs'),
      pidFile: (node) => path.join(o.dataDir, 'run', `${node}.pid`),
      checkLog: path.join(o.dataDir, 'check.log'),
      serve: path.join(o.dataDir, 'serve.json'),
    },
    maintain: () => historyOf().compact(),
    close: async () => {
      const h = health;
      health = undefined;
      if (h) await (await h.catch(() => undefined))?.close();
    },
  };
}

function validateOutbox(data: unknown): Outbox {
  const hooks = (data as { hooks?: unknown } | null)?.hooks;
  if (typeof hooks !== 'object' || hooks === null) throw new Error('expected {"hooks": {...}}');
  for (const [url, h] of Object.entries(hooks)) {
    if (!Array.isArray((h as { alerts?: unknown }).alerts) || Number.isNaN(Date.parse((h as { since?: string }).since ?? ''))) throw new Error(`hooks["${url}"]: expected {alerts, since}`);
  }
  return data as Outbox;
}

/** What every route of `jarvis serve` works with: the live config and the owners of live state. */
import http from 'node:http';
import type { NodeLoad } from '../cascade/balance.js';
import type { Cancel } from '../system/cancel.js';
import type { ModelCatalog } from '../cascade/catalog.js';
import type { EngineDeps } from '../cascade/engine.js';
import type { CascadeSettings } from '../config/env.js';
import type { Config } from '../config/schema.js';
import type { Affinity } from './affinity.js';
import type { ExecutorDeps } from '../runbook/executor.js';
import type { Runbook } from '../runbook/runbook.js';
import type { Records } from '../store/records.js';
import type { RequestHistory } from './request-history.js';
import type { Healer } from './healer.js';
import type { LiveHealth } from './live-health.js';
import type { StreamWriter } from './exchange.js';
import type { ServeMetrics } from './metrics.js';

export interface ServeContext {
  /** The MCP tools over Streamable HTTP (given by the edge that starts serve), for /mcp. */
  mcp?: (req: http.IncomingMessage, res: http.ServerResponse, body: unknown) => Promise<void>;
  /** The config now (SIGHUP replaces it). */
  config: Config;
  settings: CascadeSettings;
  health: LiveHealth;
  /** KV-cache affinity: the pins, looked up and made per request (serve/affinity.ts). */
  affinity: Affinity;
  catalog: ModelCatalog;
  load: NodeLoad;
  metrics: ServeMetrics;
  healer: Healer;
  deps: Omit<EngineDeps, 'signal' | 'onEvent' | 'load'>;
  runbook: Runbook;
  executor: ExecutorDeps;
  /** The data dir (logs jarvis wrote) and wall time, for the evidence /api/diagnostics collects. */
  records: Records;
  wallNow: () => number;
  /** How often the status page polls its live data (half the health interval, 0.5 to 5 s). */
  statusIntervalMs: number;
  /** How often the health check probes every node. */
  healthIntervalMs: number;
  /** Request outcomes per node, for the probe history (appended once a minute). */
  requests: RequestHistory;
  bodyLimitBytes: number;
  accessLog: boolean;
  log: (line: string) => void;
  /** Whether a header value is one of jarvis's own client keys: such a header is never sent upstream. */
  isClientKey: (header: string) => boolean;
  /** Responses streaming now, each with its front's writer (a last error event when the drain time runs out). */
  streams: Map<http.ServerResponse, StreamWriter>;
}

/**
 * A response of `jarvis serve`, carrying the upstream request of its exchange while one is in
 * flight: cancelled if the client goes away. A field of the response rather than an entry in a
 * WeakMap keyed by it, which cost 0.6 µs per request in the proxy's profile (and ephemerons to GC).
 */
export class ServeResponse extends http.ServerResponse {
  cancel: Cancel | undefined = undefined;
}

/** A route's handler: it answers the request itself. */
export type Handler = (req: http.IncomingMessage, res: ServeResponse, ctx: ServeContext) => Promise<void> | void;

/**
 * One route: its method and path, and who may call it. `public` answers anyone; `api` (the model
 * API) needs a client key when `serve.protect` is `all`; `manage` needs a key when one is set,
 * and answers only on a loopback bind when none is.
 */
export interface Route {
  method: 'GET' | 'POST' | 'HEAD' | 'DELETE';
  path: string;
  /** `status`: the status page and badges, public or as `manage` by `serve.statusPage`. */
  auth: 'public' | 'api' | 'manage' | 'status';
  handle: Handler;
}

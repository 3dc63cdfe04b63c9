/**
 * `jarvis serve`: a failover proxy on the cascade engine. Tools that speak the
 * OpenAI API point at it and keep working while nodes fail. This file is the server itself:
 * listening, the route table and its auth, reloading, draining; the fronts and the management
 * endpoints are in their own modules, live health has one owner (live-health.ts).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { NodeLoad } from '../cascade/balance.js';
import { ModelCatalog } from '../cascade/catalog.js';
import type { EngineDeps } from '../cascade/engine.js';
import { cascadeSettings } from '../config/env.js';
import type { Config } from '../config/schema.js';
import { isLoopbackHost } from '../probe/endpoints.js';
import type { Clock } from '../system/clock.js';
import { ExitCode, JarvisError } from '../errors.js';
import type { ExecutorDeps } from '../runbook/executor.js';
import type { Runbook } from '../runbook/runbook.js';
import { sharedState } from '../store/shared-state.js';
import { ClientAuth } from './auth.js';
import { printableOrigin, WebGuard } from './web-guard.js';
import { ServeResponse, type Route, type ServeContext } from './context.js';
import { startHealer } from './healer.js';
import { LiveHealth } from './live-health.js';
import * as anthropic from './anthropic/messages.js';
import * as management from './management.js';
import * as statusPage from './status/routes.js';
import { createMetrics } from './metrics.js';
import { chatCompletions, embeddings } from './openai/chat.js';
import { sendError } from './openai/errors.js';
import { modelList } from './openai/models.js';
import { sendJson } from './reply.js';
import { RequestHistory } from './request-history.js';
import { historyStore } from '../store/history.js';
import { openFileLimit } from '../system/limits.js';
import { answerClientError, applyLimits, connectionCap, CONNECTIONS_CHECKING_INTERVAL_MS, onCapReached } from './connections.js';

export interface ServeOptions {
  config: Config;
  dataDir: string;
  host: string;
  port: number;
  /** A client key from the command line or $JARVIS_API_KEY, besides `serve.apiKeys` in the config. */
  apiKey?: string;
  bodyLimitBytes: number;
  deps: Omit<EngineDeps, 'signal' | 'onEvent' | 'load'>;
  /** Wall time for the healer's records (the engine's `deps.now` reads the same clock). */
  clock: Clock;
  env?: NodeJS.ProcessEnv;
  log: (line: string) => void;
  /** How often live health is synced with state.json (written, and what others wrote taken in). */
  syncMs?: number;
  /** Log every request (default: only failovers and failures). */
  accessLog?: boolean;
  runbook: Runbook;
  /** Probes, process runs and recoveries of the background health check. */
  executor: ExecutorDeps;
  healthIntervalMs: number;
  autoRecover: boolean;
}

export interface RunningServer {
  url: string;
  /** Takes a new, already validated config: routes, breaker settings and the health check follow it. */
  reload(config: Config): Promise<void>;
  /** Stop accepting, let in-flight requests finish (up to `drainMs`), save state. */
  close(drainMs: number): Promise<{ drained: boolean; inFlight: number }>;
}


const ROUTES: Route[] = [
  { method: 'HEAD', path: '/', auth: 'public', handle: management.root },
  { method: 'GET', path: '/', auth: 'public', handle: management.root },
  { method: 'GET', path: '/status', auth: 'status', handle: statusPage.page },
  { method: 'GET', path: '/status.json', auth: 'status', handle: statusPage.live },
  { method: 'GET', path: '/health', auth: 'public', handle: management.health },
  { method: 'GET', path: '/health/live', auth: 'public', handle: management.live },
  { method: 'GET', path: '/v1/models', auth: 'api', handle: (_req, res, ctx) => sendJson(res, 200, modelList(ctx.config, ctx.catalog)) },
  { method: 'POST', path: '/v1/chat/completions', auth: 'api', handle: chatCompletions },
  { method: 'POST', path: '/v1/embeddings', auth: 'api', handle: embeddings },
  { method: 'POST', path: '/v1/messages', auth: 'api', handle: anthropic.messages },
  { method: 'POST', path: '/v1/messages/count_tokens', auth: 'api', handle: anthropic.countTokens },
  { method: 'GET', path: '/metrics', auth: 'manage', handle: management.metrics },
  { method: 'GET', path: '/api/status', auth: 'manage', handle: management.status },
  { method: 'GET', path: '/api/diagnostics', auth: 'manage', handle: management.diagnostics },
  { method: 'POST', path: '/api/heal', auth: 'manage', handle: management.heal },
];
/** Routes by path, then method: no key string put together per request. */
const ROUTE_TABLE = new Map<string, Map<string, Route>>();
for (const r of ROUTES) {
  let byMethod = ROUTE_TABLE.get(r.path);
  if (!byMethod) ROUTE_TABLE.set(r.path, (byMethod = new Map<string, Route>()));
  byMethod.set(r.method, r);
}
/** Request outcomes go into the probe history once a minute (and at shutdown). */
const HISTORY_FLUSH_MS = 60_000;
/** Routes by prefix (the badges), after the exact ones. */
const BADGES: Route = { method: 'GET', path: '/badge/', auth: 'status', handle: statusPage.badgeRoute };
/** A browser at / gets the status page when it may see it. */
const PAGE_AT_ROOT: Route = { method: 'GET', path: '/', auth: 'status', handle: statusPage.page };

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const { log } = options;
  const env = options.env ?? process.env;
  // Fail closed, before anything is opened (a Redis connection, a port).
  const auth = new ClientAuth(options.config, options.apiKey, env, isLoopbackHost(options.host));
  const closed = auth.problem();
  if (closed) throw new JarvisError(closed, ExitCode.config);
  const notice = auth.notice();
  if (notice) log(notice);
  const guard = new WebGuard(options.config, options.host);
  const settings = cascadeSettings(options.config, env);
  const catalog = new ModelCatalog();
  const health = new LiveHealth(await sharedState(options.config, options.dataDir, env), catalog, settings, log);
  const saved = await health.load();
  for (const [id, list] of Object.entries(saved.served)) if (Array.isArray(list)) catalog.learn(id, list);
  catalog.takeChanges();
  const load = new NodeLoad();

  const ctx = {
    config: options.config,
    settings,
    health,
    catalog,
    load,
    metrics: createMetrics(
      () => ctx.config.nodes.map((n) => n.id),
      (id) => health.get(id),
      options.deps.now,
      () => health.unavailable === undefined,
    ),
    deps: options.deps,
    runbook: options.runbook,
    executor: options.executor,
    dataDir: options.dataDir,
    wallNow: () => options.clock.now(),
    requests: new RequestHistory(),
    statusIntervalMs: Math.min(5000, Math.max(500, Math.round(options.healthIntervalMs / 2))),
    bodyLimitBytes: options.bodyLimitBytes,
    accessLog: Boolean(options.accessLog),
    log,
    streams: new Map(),
    isClientKey: (header: string) => auth.isOwnKey(header),
  } as Omit<ServeContext, 'healer'> as ServeContext;

  const startHealth = () =>
    startHealer({
      config: ctx.config,
      runbook: options.runbook,
      dataDir: options.dataDir,
      executor: options.executor,
      health,
      clock: options.clock,
      intervalMs: options.healthIntervalMs,
      autoRecover: options.autoRecover,
      log,
      metrics: ctx.metrics,
      onProbe: (p) => {
        load.probed(p.id, p.status === 'ok');
        if (p.status === 'ok' && p.models) catalog.learn(p.id, p.models);
      },
      onRecovered: (id) => load.probed(id, true),
    });

  let inFlight = 0;
  const idle: (() => void)[] = [];
  // One listener for every response (`this` is the response): no closure per request.
  function onClose(this: ServeResponse): void {
    inFlight--;
    if (!this.writableFinished) this.cancel?.abort();
    if (inFlight === 0) idle.splice(0).forEach((f) => f());
  }
  const server = http.createServer({ ServerResponse: ServeResponse, connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS }, (req, res) => {
    inFlight++;
    res.on('close', onClose);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    let route = ROUTE_TABLE.get(path)?.get(req.method ?? '');
    if (!route && req.method === 'GET' && path.startsWith('/badge/')) route = BADGES;
    else if (path === '/' && req.method === 'GET' && /text\/html/.test(req.headers.accept ?? '') && auth.allows(req, PAGE_AT_ROOT)) route = PAGE_AT_ROOT;
    if (!route && req.method === 'OPTIONS') return preflight(req, res, path);
    if (!route) return sendError(res, { status: 404, message: `no route ${req.method} ${path}`, type: 'invalid_request_error', code: 'not_found' });
    const refused = guard.refusal(req, route);
    if (refused) return sendError(res, { status: 403, message: refused, type: 'permission_error', code: 'forbidden' });
    const origin = req.headers.origin;
    if (origin !== undefined && route.auth === 'api') for (const [k, v] of Object.entries(guard.corsHeaders(origin))) res.setHeader(k, v);
    if (!auth.allows(req, route)) return sendError(res, { status: 401, message: auth.refusal(), type: 'authentication_error', code: 'invalid_api_key' });
    Promise.resolve(route.handle(req, res, ctx)).catch((error: unknown) => {
      // A client that went away mid-request (its body cut short) is news of one line, not a bug.
      if (req.destroyed || res.destroyed || (error as NodeJS.ErrnoException).code === 'ECONNRESET') {
        return log(`client gone: ${req.method} ${path}: ${(error as Error).message} (after ${req.socket.bytesRead} bytes)`);
      }
      log(`error: ${req.method} ${path}: ${(error as Error).stack ?? String(error)}`);
      sendError(res, { status: 500, message: 'internal error', type: 'server_error' });
    });
  });
  /** A browser's preflight for an API route: answered for the origins serve.cors lists. */
  function preflight(req: http.IncomingMessage, res: http.ServerResponse, path: string): void {
    const routes = [...(ROUTE_TABLE.get(path)?.values() ?? [])];
    const origin = req.headers.origin;
    if (!routes.some((r) => r.auth === 'api') || origin === undefined || !guard.corsAllows(origin)) {
      return sendError(res, { status: 403, message: `no cross-origin access to ${path}${origin ? ` for ${printableOrigin(origin)}` : ''} (serve.cors)`, type: 'permission_error', code: 'forbidden' });
    }
    const asked = req.headers['access-control-request-headers'];
    res.writeHead(204, guard.corsHeaders(origin, { ...(typeof asked === 'string' && /^[\w\-, ]{1,500}$/.test(asked) && { headers: asked }) }));
    res.end();
  }
  const fileLimit = openFileLimit();
  applyLimits(server, ctx.config, connectionCap(ctx.config, fileLimit));
  onCapReached(server, log, () => options.clock.now());
  server.on('clientError', answerClientError);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const where = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
      if (error.code === 'EADDRINUSE') reject(new JarvisError(`cannot listen on ${where}: the address is already in use (another jarvis serve? choose another --port)`, ExitCode.config));
      else if (error.code === 'EACCES') reject(new JarvisError(`cannot listen on ${where}: permission denied (ports below 1024 need privileges)`, ExitCode.config));
      else if (error.code === 'EADDRNOTAVAIL') reject(new JarvisError(`cannot listen on ${where}: no such address on this machine (--host)`, ExitCode.config));
      else reject(error);
    });
    server.listen({ host: options.host, port: options.port }, () => resolve());
  });
  // Only once it listens: a server that cannot start leaves nothing running behind it.
  ctx.healer = startHealth();
  // Each sync: the breakers, then (Redis) the requests in flight on the other instances, which
  // least-busy balancing counts with its own.
  const shareLoad = health.shared.shareLoad?.bind(health.shared);
  const syncTimer = setInterval(
    () =>
      void health
        .sync()
        .then(async () => {
          if (shareLoad && health.unavailable === undefined) load.setElsewhere(await shareLoad(load.own()));
        })
        .catch((error: unknown) => log(`state: could not sync breaker state: ${(error as Error).message}`)),
    options.syncMs ?? 1000,
  );
  syncTimer.unref();
  // Request outcomes into the probe history, once a minute (and at shutdown).
  const flushRequests = () =>
    historyStore(ctx.config, options.dataDir, () => options.clock.now())
      .append(ctx.requests.flush(options.clock.now()))
      .catch((error: unknown) => log(`history: could not record request outcomes: ${(error as Error).message}`));
  const historyTimer = setInterval(() => void flushRequests(), HISTORY_FLUSH_MS);
  historyTimer.unref();
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;

  return {
    url,
    reload: async (config) => {
      const next = cascadeSettings(config, env);
      // A reload that would leave a key-only policy with no key is refused whole, before anything changes.
      const probe = new ClientAuth(config, options.apiKey, env, isLoopbackHost(options.host));
      const problem = probe.problem();
      if (problem) throw new JarvisError(problem, ExitCode.config);
      await ctx.healer.stop();
      ctx.config = config;
      ctx.settings = next;
      health.configure(next);
      auth.configure(config);
      guard.configure(config);
      applyLimits(server, config, connectionCap(config, fileLimit));
      ctx.healer = startHealth();
    },
    close: async (drainMs) => {
      // No new background checks or recoveries while shutting down.
      await ctx.healer.stop();
      server.close();
      server.closeIdleConnections();
      const drained =
        inFlight === 0 ||
        (await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), drainMs);
          idle.push(() => {
            clearTimeout(timer);
            resolve(true);
          });
        }));
      const left = inFlight;
      // A stream still open is told why it ends, in its front's own format, rather than cut.
      for (const [res, writer] of ctx.streams) {
        writer.shutdown(res, `jarvis serve is shutting down: the stream did not finish within the drain time (${drainMs} ms)`);
        res.end();
      }
      server.closeAllConnections();
      clearInterval(syncTimer);
      clearInterval(historyTimer);
      await flushRequests();
      await health.sync().catch((error: unknown) => log(`state: could not save breaker state: ${(error as Error).message}`));
      await health.shared.close();
      return { drained, inFlight: left };
    },
  };
}

/**
 * `jarvis serve`: a failover proxy on the cascade engine. Tools that speak the
 * OpenAI API point at it and keep working while nodes fail. This file is the server's life:
 * its live state, listening, the timers, reloading, draining. What it answers is routes.ts's;
 * the fronts and the management endpoints are in their own modules, live health has one owner
 * (live-health.ts).
 */
import { stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Server } from 'node:net';
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
import { ClientAuth } from './auth.js';
import { WebGuard } from './web-guard.js';
import { ServeResponse, type ServeContext } from './context.js';
import { startHealer } from './healer.js';
import { LiveHealth } from './live-health.js';
import { affinityMetrics, createMetrics } from './metrics.js';
import { Affinity } from './affinity.js';
import { dispatch } from './routes.js';
import { RequestHistory } from './request-history.js';
import { hourName } from '../store/history-days.js';
import type { Records } from '../store/records.js';
import { openFileLimit } from '../system/limits.js';
import { answerClientError, applyLimits, connectionCap, CONNECTIONS_CHECKING_INTERVAL_MS, onCapReached } from './connections.js';

export interface ServeOptions {
  config: Config;
  /** The MCP tools over Streamable HTTP at /mcp (answered when `serve.mcp` is on). */
  mcp?: (req: http.IncomingMessage, res: http.ServerResponse, body: unknown) => Promise<void>;
  /** The saved data: the shared breakers, the history, the incident log. */
  records: Records;
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


/** Request outcomes go into the probe history once a minute (and at shutdown). */
const HISTORY_FLUSH_MS = 60_000;

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
  const ctx = await serveContext(options, env, auth);
  const startHealth = () =>
    startHealer({
      config: ctx.config,
      runbook: options.runbook,
      records: options.records,
      executor: options.executor,
      health: ctx.health,
      clock: options.clock,
      intervalMs: options.healthIntervalMs,
      autoRecover: options.autoRecover,
      log,
      metrics: ctx.metrics,
      onProbe: (p) => {
        ctx.load.probed(p.id, p.status === 'ok');
        if (p.status === 'ok' && p.models) ctx.catalog.learn(p.id, p.models);
      },
      onRecovered: (id) => ctx.load.probed(id, true),
    });
  const flight = new InFlight();
  const server = http.createServer({ ServerResponse: ServeResponse, connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS }, (req, res) => {
    flight.track(res);
    dispatch(req, res, ctx, auth, guard);
  });
  const fileLimit = openFileLimit();
  applyLimits(server, ctx.config, connectionCap(ctx.config, fileLimit));
  onCapReached(server, log, () => options.clock.now());
  server.on('clientError', answerClientError);
  await listen(server, options.host, options.port);
  // Only once it listens: a server that cannot start leaves nothing running behind it.
  ctx.healer = startHealth();
  const timers = startTimers(ctx, options);
  const address = server.address() as AddressInfo;

  return {
    url: `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`,
    reload: async (config) => {
      const next = cascadeSettings(config, env);
      // A reload that would leave a key-only policy with no key is refused whole, before anything changes.
      const problem = new ClientAuth(config, options.apiKey, env, isLoopbackHost(options.host)).problem();
      if (problem) throw new JarvisError(problem, ExitCode.config);
      await ctx.healer.stop();
      ctx.config = config;
      ctx.settings = next;
      ctx.health.configure(next);
      ctx.affinity.configure(config);
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
      const drained = await flight.drained(drainMs);
      const left = flight.count;
      // A stream still open is told why it ends, in its front's own format, rather than cut.
      for (const [res, writer] of ctx.streams) {
        writer.shutdown(res, `jarvis serve is shutting down: the stream did not finish within the drain time (${drainMs} ms)`);
        res.end();
      }
      server.closeAllConnections();
      await timers.stop();
      // The shared state stays open: it is the records', closed by whoever opened them.
      return { drained, inFlight: left };
    },
  };
}

/** The live state every route works with: breakers (loaded from the records), model lists, load, metrics. */
async function serveContext(options: ServeOptions, env: NodeJS.ProcessEnv, auth: ClientAuth): Promise<ServeContext> {
  const settings = cascadeSettings(options.config, env);
  const catalog = new ModelCatalog();
  const health = new LiveHealth(await options.records.health(), catalog, settings, options.log);
  const saved = await health.load();
  for (const [id, list] of Object.entries(saved.served)) if (Array.isArray(list)) catalog.learn(id, list);
  catalog.takeChanges();
  const affinity = new Affinity(options.config, (id) => health.get(id), options.deps.now, health.shared.pins);
  // A node whose breaker opens has failed: what its cache held is not to be counted on.
  health.onOpen((id) => affinity.dropNode(id));
  const ctx = {
    config: options.config,
    ...(options.mcp && { mcp: options.mcp }),
    settings,
    health,
    affinity,
    catalog,
    load: new NodeLoad(),
    metrics: createMetrics(
      () => ctx.config.nodes.map((n) => n.id),
      (id) => health.get(id),
      options.deps.now,
      () => health.unavailable === undefined,
    ),
    deps: options.deps,
    runbook: options.runbook,
    executor: options.executor,
    records: options.records,
    wallNow: () => options.clock.now(),
    requests: new RequestHistory(),
    statusIntervalMs: Math.min(5000, Math.max(500, Math.round(options.healthIntervalMs / 2))),
    healthIntervalMs: options.healthIntervalMs,
    bodyLimitBytes: options.bodyLimitBytes,
    accessLog: Boolean(options.accessLog),
    log: options.log,
    streams: new Map(),
    isClientKey: (header: string) => auth.isOwnKey(header),
  } as Omit<ServeContext, 'healer'> as ServeContext;
  affinityMetrics(ctx.metrics.registry, affinity, () => ctx.config.nodes.map((n) => n.id));
  return ctx;
}

/** The responses in flight, and a wait until there are none (the drain). */
class InFlight {
  count = 0;
  readonly #idle: (() => void)[] = [];
  /** One listener for every response (`this` is the response): no closure per request. */
  readonly #onClose = ((flight: InFlight) =>
    function (this: ServeResponse): void {
      flight.count--;
      if (!this.writableFinished) this.cancel?.abort();
      if (flight.count === 0) flight.#idle.splice(0).forEach((f) => f());
    })(this);

  track(res: ServeResponse): void {
    this.count++;
    res.on('close', this.#onClose);
  }

  /** Resolves true once nothing is in flight, false when `ms` pass first. */
  drained(ms: number): Promise<boolean> {
    if (this.count === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.#idle.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

/** Listens, or says in one line why it cannot (the port taken, no permission, no such address). */
function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
      if (error.code === 'EADDRINUSE') reject(new JarvisError(`cannot listen on ${where}: the address is already in use (another jarvis serve? choose another --port)`, ExitCode.config));
      else if (error.code === 'EACCES') reject(new JarvisError(`cannot listen on ${where}: permission denied (ports below 1024 need privileges)`, ExitCode.config));
      else if (error.code === 'EADDRNOTAVAIL') reject(new JarvisError(`cannot listen on ${where}: no such address on this machine (--host)`, ExitCode.config));
      else reject(error);
    });
    server.listen({ host, port }, () => resolve());
  });
}

/**
 * The server's two timers: the breakers' sync (each second: this instance's outcomes out, the
 * others' in, and with Redis the requests in flight elsewhere, which least-busy balancing counts
 * with its own), and the request outcomes into the history (each minute; once an hour is over,
 * the records' fold step). `stop` flushes both one last time.
 */
function startTimers(ctx: ServeContext, options: ServeOptions): { stop(): Promise<void> } {
  const { health, load, log } = ctx;
  const shareLoad = health.shared.shareLoad?.bind(health.shared);
  // Another process's recovery (a person's `jarvis recover`, cron's check) writes the incident
  // log: the nodes are probed again at once, so /health and the page say what is true now
  // rather than at the next health interval.
  let incidentsSeen: number | undefined;
  const incidentsChanged = async () => {
    const mtime = await stat(options.records.incidents.file).then((st) => st.mtimeMs, () => 0);
    if (incidentsSeen !== undefined && mtime !== incidentsSeen) ctx.healer.probeSoon();
    incidentsSeen = mtime;
  };
  const incidentTimer = setInterval(() => void incidentsChanged(), options.syncMs ?? 1000);
  void incidentsChanged();
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
  incidentTimer.unref();
  let maintainedHour = hourName(options.clock.now());
  const flushRequests = async () => {
    const now = options.clock.now();
    await options.records.history.append(ctx.requests.flush(now)).catch((error: unknown) => log(`history: could not record request outcomes: ${(error as Error).message}`));
    if (hourName(now) === maintainedHour) return;
    maintainedHour = hourName(now);
    await options.records.maintain().catch((error: unknown) => log(`history: could not fold finished hours: ${(error as Error).message}`));
  };
  const historyTimer = setInterval(() => void flushRequests(), HISTORY_FLUSH_MS);
  historyTimer.unref();
  return {
    stop: async () => {
      clearInterval(syncTimer);
      clearInterval(incidentTimer);
      clearInterval(historyTimer);
      await flushRequests();
      await health.sync().catch((error: unknown) => log(`state: could not save breaker state: ${(error as Error).message}`));
    },
  };
}

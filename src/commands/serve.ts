/**
 * `jarvis serve`: the proxy's lifecycle. Starts the server (serve/server.ts), reloads the config
 * on SIGHUP (validated first: a bad one keeps the old), runs until interrupted, then drains.
 */
import { rememberSecrets } from '../system/text.js';
import type { Config } from '../config/schema.js';
import type { CommandContext } from './context.js';
import { PACKAGE_VERSION } from '../system/paths.js';
import { removeServeFile, writeServeFile } from '../store/serve-file.js';

export interface ServeCommandOptions {
  host: string;
  port: number;
  /** --api-key, else $JARVIS_API_KEY. */
  apiKey?: string;
  bodyLimitBytes: number;
  drainMs: number;
  healthIntervalMs: number;
  autoRecover: boolean;
  accessLog: boolean;
  /** serve/tuning.ts's V8 flags: less memory under many streams, less throughput (default: V8's own settings). */
  lowMemory: boolean;
}

export interface ServeEvents {
  listening: (info: { url: string; pid: number; v8Flags: readonly string[]; nodes: number }) => void;
  reloaded: (config: Config) => void;
  reloadFailed: (error: Error) => void;
  /** A line for the server's log (stderr). */
  log: (line: string) => void;
}

export interface ServeResult {
  drained: boolean;
  inFlight: number;
  drainMs: number;
}

export async function runServe(options: ServeCommandOptions, ctx: CommandContext, events: ServeEvents): Promise<ServeResult> {
  // Before anything loads the upstream client: see serve/tuning.ts.
  const v8Flags = options.lowMemory ? await (await import('../serve/tuning.js')).tuneV8ForServe() : [];
  const [config, { startServer }, { createSender }, { undiciRequester }, { listModels }, sleep, executor, runbook] = await Promise.all([
    ctx.config(),
    import('../serve/server.js'),
    import('../transport/sender.js'),
    import('../transport/requesters.js'),
    import('../transport/list-models.js'),
    ctx.sleep(),
    ctx.executorDeps(),
    ctx.runbook(),
  ]);
  const records = await ctx.records();
  const apiKey = options.apiKey ?? ctx.env.JARVIS_API_KEY;
  rememberSecrets([apiKey]);
  const server = await startServer({
    config,
    records,
    host: options.host,
    port: options.port,
    ...(apiKey && { apiKey }),
    bodyLimitBytes: options.bodyLimitBytes,
    runbook,
    executor,
    healthIntervalMs: options.healthIntervalMs,
    autoRecover: options.autoRecover,
    accessLog: options.accessLog,
    deps: { send: createSender(await undiciRequester(config.serve.upstreamConnections)), listModels, now: () => ctx.clock.now(), sleep, random: Math.random },
    clock: ctx.clock,
    env: ctx.env,
    log: events.log,
    // The MCP tools at /mcp, in this run's context (the records, the config); answered when serve.mcp is on.
    mcp: (await import('../mcp/http.js')).mcpHttpHandler({ ctx, allowRecover: false, version: PACKAGE_VERSION }),
  });
  let reloading = Promise.resolve();
  const stopHangup = ctx.onHangup(() => {
    reloading = reloading.then(async () => {
      try {
        const next = await ctx.reloadConfig();
        await server.reload(next);
        events.reloaded(next);
      } catch (error) {
        events.reloadFailed(error as Error);
      }
    });
  });
  events.listening({ url: server.url, pid: process.pid, v8Flags, nodes: config.nodes.length });
  // Where it listens, for `jarvis watch` on the same data dir.
  await writeServeFile(records.paths.serve, { url: server.url, pid: process.pid, startedAt: new Date(ctx.clock.now()).toISOString() }).catch(() => undefined);
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) return resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  stopHangup();
  await reloading;
  const { drained, inFlight } = await server.close(options.drainMs);
  await removeServeFile(records.paths.serve, process.pid).catch(() => undefined);
  return { drained, inFlight, drainMs: options.drainMs };
}

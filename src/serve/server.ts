/**
 * `jarvis serve`: an OpenAI-compatible failover proxy on the cascade engine (seeds 002/003). Tools
 * that speak the OpenAI API point at it and keep working while nodes fail. Breakers live in memory
 * and are written to state.json every few seconds and at shutdown, shared with the CLI.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/schema.js';
import { runCascade, type AskRequest, type CascadeEvent, type EngineDeps } from '../cascade/engine.js';
import { applyEvent, cascadeSection, healthView, queueEvent, recordEvents, type HealthEvent, type NodeHealth } from '../cascade/health.js';
import { cascadeSettings, type CascadeSettings } from '../cascade/settings.js';
import { Cancel } from '../cascade/cancel.js';
import type { ChatMessage } from '../cascade/transport.js';
import { stateStore } from '../store/state-file.js';
import type { ExecutorDeps } from '../runbook/executor.js';
import type { Runbook } from '../runbook/runbook.js';
import { diagnoseNode } from '../runbook/diagnosis.js';
import { probeAll } from '../probe/probe.js';
import { startHealer } from './healer.js';
import { createMetrics } from './metrics.js';

export interface ServeOptions {
  config: Config;
  dataDir: string;
  host: string;
  port: number;
  apiKey?: string;
  bodyLimitBytes: number;
  deps: Omit<EngineDeps, 'signal' | 'onEvent'>;
  env?: NodeJS.ProcessEnv;
  log: (line: string) => void;
  /** How often breaker state is written to state.json. */
  flushMs?: number;
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
  /** Stop accepting, let in-flight requests finish (up to `drainMs`), save state. */
  close(drainMs: number): Promise<{ drained: boolean; inFlight: number }>;
}

interface OpenAiError {
  status: number;
  message: string;
  type: string;
  code?: string | null;
  param?: string | null;
  headers?: Record<string, string>;
}

function sendError(res: http.ServerResponse, e: OpenAiError): void {
  if (res.headersSent) return void res.end();
  const body = JSON.stringify({ error: { message: e.message, type: e.type, param: e.param ?? null, code: e.code ?? null } });
  res.writeHead(e.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...e.headers });
  res.end(body);
}

function sendJson(res: http.ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(Object.assign(new Error(`request body larger than ${limit} bytes`), { tooLarge: true }));
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Reads a JSON object body; on a bad or oversized one, answers 400/413 itself and returns undefined. */
async function readJsonObject(req: http.IncomingMessage, res: http.ServerResponse, limit: number): Promise<Record<string, unknown> | undefined> {
  try {
    const parsed: unknown = JSON.parse(await readBody(req, limit));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new SyntaxError('expected a JSON object');
    return parsed as Record<string, unknown>;
  } catch (error) {
    if ((error as { tooLarge?: boolean }).tooLarge) sendError(res, { status: 413, message: (error as Error).message, type: 'invalid_request_error', code: 'request_too_large' });
    else sendError(res, { status: 400, message: `invalid JSON body: ${(error as Error).message}`, type: 'invalid_request_error' });
    return undefined;
  }
}

/** Request fields the cascade sets itself; the others pass through to the node. */
const OWN_FIELDS = new Set(['model', 'messages', 'stream', 'max_tokens']);

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || /^127\./.test(host);

/** Routes a request's `model` to the cascade: `auto`, a task alias, a node id, or a node's model. */
export function routeModel(config: Config, model: unknown): Pick<AskRequest, 'task' | 'node'> | { error: string } {
  if (model === undefined || model === null || model === '' || model === 'auto' || model === 'jarvis/auto') return {};
  if (typeof model !== 'string') return { error: 'model must be a string' };
  const alias = /^jarvis\/(.+)$/.exec(model);
  if (alias) return config.tasks[alias[1]!] ? { task: alias[1]! } : { error: `unknown model "${model}"` };
  const byId = config.nodes.find((n) => n.id === model.toLowerCase());
  if (byId) return { node: byId.id };
  const byModel = config.nodes.find((n) => n.model === model);
  if (byModel) return { node: byModel.id };
  return { error: `unknown model "${model}"` };
}

/** What GET /v1/models lists: each node's model, the task aliases, and `auto`. */
export function modelList(config: Config): { object: 'list'; data: { id: string; object: 'model'; owned_by: string; created: number }[] } {
  const data = [
    { id: 'auto', object: 'model' as const, owned_by: 'jarvis', created: 0 },
    ...Object.keys(config.tasks).map((t) => ({ id: `jarvis/${t}`, object: 'model' as const, owned_by: 'jarvis', created: 0 })),
    ...config.nodes.filter((n) => n.url && n.model).map((n) => ({ id: n.model!, object: 'model' as const, owned_by: n.id, created: 0 })),
  ];
  return { object: 'list', data };
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const { config, log } = options;
  const settings: CascadeSettings = cascadeSettings(config, options.env);
  const store = stateStore(options.dataDir);
  const section = cascadeSection(await store.read());
  const health: Record<string, NodeHealth> = section.nodes;
  const models: Record<string, Record<string, string>> = section.models ?? {};
  let pending: HealthEvent[] = [];
  let pendingModels: Record<string, Record<string, string>> = {};
  const flush = async () => {
    const events = pending;
    const m = pendingModels;
    pending = [];
    pendingModels = {};
    await recordEvents(store, events, m, settings).catch((error: unknown) => log(`state: could not save breaker state: ${(error as Error).message}`));
  };
  const flushTimer = setInterval(() => void flush(), options.flushMs ?? 5000);
  flushTimer.unref();
  const record = (e: HealthEvent) => {
    health[e.node] = applyEvent(health[e.node], e, settings);
    queueEvent(pending, e);
  };
  const metrics = createMetrics(
    config.nodes.map((n) => n.id),
    () => health,
    options.deps.now,
  );
  const healer = startHealer({
    config,
    runbook: options.runbook,
    dataDir: options.dataDir,
    executor: options.executor,
    health,
    record,
    wallNow: options.deps.now,
    intervalMs: options.healthIntervalMs,
    autoRecover: options.autoRecover,
    log,
    metrics,
  });

  let inFlight = 0;
  const idle: (() => void)[] = [];
  const loopbackOnly = isLoopback(options.host);

  const authorized = (req: http.IncomingMessage) => {
    if (!options.apiKey) return loopbackOnly;
    const header = req.headers.authorization ?? '';
    return header === `Bearer ${options.apiKey}`;
  };

  async function chat(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readJsonObject(req, res, options.bodyLimitBytes);
    if (!body) return;
    if (!Array.isArray(body.messages) || body.messages.length === 0) {
      return sendError(res, { status: 400, message: '`messages` must be a non-empty array', type: 'invalid_request_error', param: 'messages' });
    }
    const route = routeModel(config, body.model);
    if ('error' in route) return sendError(res, { status: 404, message: `${route.error}; GET /v1/models lists them`, type: 'invalid_request_error', param: 'model', code: 'model_not_found' });
    const stream = body.stream === true;
    // Everything but what the cascade sets itself passes through to the node.
    let extra: Record<string, unknown> | undefined;
    // (A prototype-free object: a `__proto__` field is passed on as data, never set as a prototype.)
    for (const k of Object.keys(body)) if (!OWN_FIELDS.has(k)) (extra ??= Object.create(null) as Record<string, unknown>)[k] = body[k];
    const max_tokens = body.max_tokens;
    const request: AskRequest = {
      messages: body.messages as ChatMessage[],
      stream,
      ...route,
      ...(typeof max_tokens === 'number' && { maxTokens: max_tokens }),
      ...(extra && { extra }),
    };

    // A client that goes away cancels the upstream request (see the server's 'close' listener).
    const abort = new Cancel();
    cancels.set(res, abort);
    let trace = '';
    let streaming = false;
    const onEvent = (e: CascadeEvent) => {
      if (e.type === 'failover') metrics.failovers.inc({ from: e.from, to: e.to });
      if (e.type === 'failed') trace += `${e.node}=${e.class},`;
      else if (e.type === 'skip') trace += `${e.node}=circuit_open,`;
      else if (e.type === 'data') {
        if (!streaming) {
          streaming = true;
          res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-jarvis-node': e.node, 'x-jarvis-attempts': `${trace}${e.node}=ok` });
        }
        res.write(`${e.line}\n\n`);
      }
    };
    const started = performance.now();
    const result = await runCascade(config, settings, health, models, request, { ...options.deps, signal: abort, onEvent });
    cancels.delete(res);
    for (const e of result.events) record(e);
    let failed = false;
    for (const a of result.attempts) {
      metrics.attempt(a.node, a.outcome === 'ok' ? 'ok' : (a.class ?? a.outcome));
      if (a.outcome === 'ok') metrics.observeLatency(a.node, a.ms / 1000);
      else if (a.outcome === 'failed') failed = true;
    }
    metrics.answer(result.ok ? 'answered' : 'failed', stream);
    for (const node in result.resolvedModels) {
      const m = result.resolvedModels[node];
      models[node] = { ...models[node], ...m };
      pendingModels[node] = { ...pendingModels[node], ...m };
    }
    // The trace of failures and skips was built as they happened (each ends in a comma); an answer
    // adds its node.
    const attemptsHeader = result.ok ? `${trace}${result.node}=ok` : trace.slice(0, -1);
    // News only: a failure or a failover (a breaker-open skip is routine once it is logged).
    if (options.accessLog || !result.ok || failed) log(`POST /v1/chat/completions model=${typeof body.model === 'string' ? body.model : 'auto'}${stream ? ' stream' : ''} -> ${result.ok ? `${result.node} 200` : streaming ? 'broken stream' : '503'} ${Math.round(performance.now() - started)} ms [${attemptsHeader}]`);
    if (abort.aborted) return void res.end();
    if (result.ok) {
      if (streaming) return void res.end();
      // Asked to stream, but the node answered whole (or not a stream): send it as one reply.
      const reply = result.raw ?? JSON.stringify({ object: 'chat.completion', model: result.model, choices: [{ index: 0, message: { role: 'assistant', content: result.content }, finish_reason: 'stop' }] });
      // With its length, not chunked: one frame less to write and for the client to parse.
      return void res
        .writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(reply), 'x-jarvis-node': result.node!, 'x-jarvis-attempts': attemptsHeader })
        .end(reply);
    }
    if (streaming) {
      // The answering node died after the first byte: say so in the stream and end it without [DONE].
      res.write(`data: ${JSON.stringify({ error: { message: result.error, type: 'upstream_error', code: 'stream_broken' } })}\n\n`);
      return void res.end();
    }
    const reopen = Object.values(health)
      .map((h) => h.breaker.openUntil)
      .filter((t): t is number => t !== undefined && t > options.deps.now());
    const retryAfter = reopen.length > 0 ? Math.max(1, Math.ceil((Math.min(...reopen) - options.deps.now()) / 1000)) : 5;
    sendError(res, {
      status: 503,
      message: `no node could answer: ${result.error} (attempts: ${attemptsHeader})`,
      type: 'service_unavailable',
      code: 'all_nodes_failed',
      headers: { 'retry-after': String(retryAfter), 'x-jarvis-attempts': attemptsHeader },
    });
  }

  /** POST /v1/embeddings: to the nodes that serve embeddings, in priority order, failing over. */
  async function embeddings(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readJsonObject(req, res, options.bodyLimitBytes);
    if (!body) return;
    const serving = config.nodes.filter((n) => n.embeddings && n.url);
    if (serving.length === 0) return sendError(res, { status: 404, message: 'no node serves embeddings (set `embeddings: true` on one)', type: 'invalid_request_error', code: 'model_not_found' });
    const wanted = typeof body.model === 'string' ? serving.find((n) => n.id === body.model || n.model === body.model) : undefined;
    const order = wanted ? [wanted, ...serving.filter((n) => n !== wanted)] : serving;
    const trace: string[] = [];
    const { httpRequest } = await import('../probe/http.js');
    for (const node of order) {
      const root = node.url!.replace(/\/+$/, '');
      const target = /\/v1$/.test(root) ? `${root}/embeddings` : `${root}/v1/embeddings`;
      try {
        const reply = await httpRequest(target, { method: 'POST', body: JSON.stringify({ ...body, model: typeof body.model === 'string' && body.model !== node.id ? body.model : node.model }), timeoutMs: settings.requestTimeoutMs, maxBytes: 64 << 20 });
        if (reply.status >= 200 && reply.status < 300) {
          trace.push(`${node.id}=ok`);
          res.writeHead(200, { 'content-type': 'application/json', 'x-jarvis-node': node.id, 'x-jarvis-attempts': trace.join(',') });
          return void res.end(reply.body);
        }
        trace.push(`${node.id}=http_${reply.status}`);
      } catch (error) {
        trace.push(`${node.id}=${(error as { code?: string }).code ?? 'error'}`);
      }
    }
    sendError(res, { status: 503, message: `no node could embed (attempts: ${trace.join(',')})`, type: 'service_unavailable', code: 'all_nodes_failed', headers: { 'retry-after': '5', 'x-jarvis-attempts': trace.join(',') } });
  }

  /** The upstream request of each chat in flight, cancelled if its client goes away. */
  const cancels = new WeakMap<http.ServerResponse, Cancel>();
  const server = http.createServer((req, res) => {
    inFlight++;
    res.on('close', () => {
      inFlight--;
      if (!res.writableFinished) cancels.get(res)?.abort();
      if (inFlight === 0) idle.splice(0).forEach((f) => f());
    });
    const path = (req.url ?? '/').split('?')[0];
    const route = `${req.method} ${path}`;
    const handle = async () => {
      if (route === 'GET /health') return sendJson(res, 200, { status: 'ok', nodes: config.nodes.length });
      if (route === 'GET /v1/models') return sendJson(res, 200, modelList(config));
      if (route === 'POST /v1/chat/completions') return chat(req, res);
      if (route === 'POST /v1/embeddings') return embeddings(req, res);
      if (route.startsWith('GET /api/') || route.startsWith('POST /api/') || route === 'GET /metrics') {
        if (!authorized(req)) return sendError(res, { status: 401, message: options.apiKey ? 'an API key is needed (Authorization: Bearer …)' : 'management endpoints answer only on a loopback bind unless an API key is configured', type: 'authentication_error' });
      }
      if (route === 'GET /metrics') {
        const text = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        return void res.end(text);
      }
      if (route === 'GET /api/status') {
        const now = options.deps.now();
        const probes = new Map(healer.lastProbes().map((p) => [p.id, p]));
        return sendJson(res, 200, {
          nodes: Object.fromEntries(
            config.nodes.map((n) => [
              n.id,
              {
                kind: n.kind,
                url: n.url ?? null,
                model: n.model ?? null,
                ...healthView(health[n.id], now),
                last_error: health[n.id]?.lastError ?? null,
                last_error_at: health[n.id]?.lastErrorAt ?? null,
                probe: probes.get(n.id)?.status ?? null,
              },
            ]),
          ),
        });
      }
      if (route === 'GET /api/diagnostics') {
        const probes = await probeAll(config.nodes, options.executor);
        return sendJson(res, 200, {
          nodes: probes.map((p) => {
            const d = diagnoseNode(options.runbook, config.nodes.find((n) => n.id === p.id)!, p, undefined, { platform: process.platform });
            return { node: p.id, status: p.status, detail: p.detail ?? null, cause: d.cause, meaning: d.meaning, recovery: d.recovery, actions: d.actions };
          }),
        });
      }
      if (route === 'POST /api/heal') {
        const body = await readJsonObject(req, res, 4096);
        if (!body) return;
        const nodeId = body.node;
        if (typeof nodeId !== 'string') return sendError(res, { status: 400, message: 'expected {"node": "<id>"}', type: 'invalid_request_error', param: 'node' });
        if (!config.nodes.some((n) => n.id === nodeId.toLowerCase())) return sendError(res, { status: 404, message: `unknown node "${nodeId}"`, type: 'invalid_request_error', param: 'node' });
        const r = await healer.heal(nodeId);
        return sendJson(res, r.recovered ? 200 : 502, { node: r.node, outcome: r.outcome, recovered: r.recovered, plan: r.plan, steps: r.steps, verification: r.verification ?? null, incident: r.incident?.id ?? null });
      }
      return sendError(res, { status: 404, message: `no route ${route}`, type: 'invalid_request_error', code: 'not_found' });
    };
    handle().catch((error: unknown) => {
      log(`error: ${route}: ${(error as Error).stack ?? String(error)}`);
      sendError(res, { status: 500, message: 'internal error', type: 'server_error' });
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;

  return {
    url,
    close: async (drainMs) => {
      // No new background checks or recoveries while shutting down.
      await healer.stop();
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
      server.closeAllConnections();
      clearInterval(flushTimer);
      await flush();
      return { drained, inFlight: left };
    },
  };
}

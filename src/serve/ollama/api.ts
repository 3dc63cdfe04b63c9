/**
 * Ollama's own API in front (`/api/chat`, `/api/generate`, `/api/embed`, `/api/embeddings`,
 * `/api/tags`, `/api/version`, and `/` for clients that are not browsers), on the same port,
 * auth and engine as the OpenAI and Anthropic fronts: an Ollama-only client (the `ollama`
 * libraries, Open WebUI's Ollama connection, editor plugins) fails over across the cluster too.
 * A request is translated to a chat completion (protocols/ollama/) and its answer back, whole or
 * as NDJSON; failover happens before the first line, and a break after it ends the stream with an
 * `{"error": ...}` line. Errors in Ollama's shape (`{"error": "..."}`), with the same
 * x-jarvis-node and x-jarvis-attempts headers as the other fronts.
 */
import type http from 'node:http';
import { cascadeOrder, type CascadeRequest } from '../../cascade/engine.js';
import { nodeHeaders } from '../../config/credentials.js';
import { rootUrl } from '../../probe/endpoints.js';
import { collectModels } from '../../runbook/evidence/models.js';
import { targetFor } from '../../runbook/target.js';
import { chatFromOllama, generateFromOllama, type OllamaChat } from '../../protocols/ollama/request.js';
import { chatReply, generateReply, OllamaStream } from '../../protocols/ollama/reply.js';
import { readJsonObject } from '../body.js';
import type { RawJson } from '../../protocols/raw-json.js';
import type { Handler, ServeContext, ServeResponse } from '../context.js';
import { exchange, type Exchange, type StreamWriter } from '../exchange.js';
import { resolveModel } from '../model-route.js';
import { headerSafe, logField, sendJson } from '../reply.js';
import { errorMessage } from '../../probe/classify.js';
import { PACKAGE_VERSION } from '../../system/paths.js';

/** An error as Ollama sends it. */
function sendError(res: http.ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: message }, headers);
}

const notFound = (model: string) => `model "${model}" not found, try pulling it first`;

function answeredBy(x: Exchange): Record<string, string> {
  return { 'x-jarvis-node': x.result.node!, 'x-jarvis-attempts': x.attempts, ...(x.result.model && { 'x-jarvis-model': headerSafe(x.result.model) }) };
}

/** Why no answer came: the node's own rejection, in Ollama's shape, or every node failed (500, the attempts said). */
function sendFailure(res: http.ServerResponse, x: Exchange, model: string): void {
  if (x.result.unroutable) return sendError(res, 404, notFound(model));
  const rejected = x.result.rejected;
  if (rejected) return sendError(res, rejected.status, errorMessage(rejected.body) ?? `HTTP ${rejected.status}`, answeredBy(x));
  sendError(res, 500, `no node could answer: ${x.result.error ?? 'every node failed'} (attempts: ${x.attempts})`, { 'x-jarvis-attempts': x.attempts });
}

/**
 * The body and the model it names (`model`, or also the older `name` where Ollama takes it), or
 * undefined once the client was told why not (400, 413).
 */
async function readModelBody(req: http.IncomingMessage, res: http.ServerResponse, ctx: ServeContext, alsoName = false): Promise<{ body: Record<string, unknown>; raw: RawJson; model: string } | undefined> {
  const read = await readJsonObject(req, ctx.bodyLimitBytes);
  if (!read.ok) return void sendError(res, read.error.status, read.error.message);
  const model = read.value.model ?? (alsoName ? read.value.name : undefined);
  if (typeof model !== 'string' || !model) return void sendError(res, 400, 'model is required');
  return { body: read.value, raw: read.raw, model };
}

/** The route the model names (its group, a node, a task alias), or undefined once the client was told: 404 as Ollama says it. */
async function routeOf(res: http.ServerResponse, ctx: ServeContext, model: string): Promise<Pick<CascadeRequest, 'task' | 'node' | 'model'> | undefined> {
  const resolving = resolveModel(ctx, model);
  const routed = resolving instanceof Promise ? await resolving : resolving;
  if (routed.ok) return routed.route;
  sendError(res, routed.error.status === 404 ? 404 : 400, routed.error.status === 404 ? notFound(model) : routed.error.message);
  return undefined;
}

/** POST /api/chat and /api/generate: through the cascade, answered whole or as NDJSON. */
function conversation(generate: boolean): Handler {
  return async (req, res, ctx) => {
    const read = await readModelBody(req, res, ctx);
    if (!read) return;
    const { body, model } = read;
    const parsed = generate ? generateFromOllama(body) : chatFromOllama(body);
    if (!parsed.ok) return sendError(res, 400, parsed.error);
    const route = await routeOf(res, ctx, model);
    if (!route) return;
    const createdAt = new Date(ctx.wallNow()).toISOString();
    // Ollama's way to load a model: nothing to say. Answered at once, as it does.
    const empty = generate ? !body.prompt : parsed.value.messages.length === 0;
    if (empty) return sendJson(res, 200, { model, created_at: createdAt, ...(generate ? { response: '' } : { message: { role: 'assistant', content: '' } }), done_reason: 'load', done: true });
    await converse(res, ctx, parsed.value, { model, generate, createdAt, route, path: generate ? '/api/generate' : '/api/chat', body, raw: read.raw });
  };
}

async function converse(res: ServeResponse, ctx: ServeContext, chat: OllamaChat, o: { model: string; generate: boolean; createdAt: string; route: Pick<CascadeRequest, 'task' | 'node' | 'model'>; path: '/api/chat' | '/api/generate'; body: Record<string, unknown>; raw: RawJson }): Promise<void> {
  // An Ollama node gets the client's body as it came (its model's name put in); any other the translation.
  const request: CascadeRequest = { messages: chat.messages, stream: chat.stream, ...o.route, ...(chat.maxTokens !== undefined && { maxTokens: chat.maxTokens }), ...(Object.keys(chat.extra).length > 0 && { extra: chat.extra }), ollamaApi: { path: o.path, body: o.body, raw: o.raw } };
  if (chat.dropped.length > 0 && ctx.accessLog) ctx.log(`ollama: ${o.path} ${chat.dropped.join(', ')}: Ollama's own, not sent to chat-completion nodes`);
  const isOllama = (node: string | undefined) => ctx.config.nodes.find((n) => n.id === node)?.kind === 'ollama';
  // What a node of another kind was not given, said in a header (an Ollama node got it all).
  const note = (node: string | undefined): Record<string, string> => (chat.dropped.length > 0 && !isOllama(node) ? { 'x-jarvis-note': `not sent to ${node ?? 'the node'} (not Ollama): ${chat.dropped.join(', ')}` } : {});
  const stream = new OllamaStream(o.model, o.createdAt, o.generate);
  const t0 = performance.now();
  let firstMs: number | undefined;
  /** The answering node speaks Ollama: its lines went as they came, its last line included. */
  let native = false;
  const writer: StreamWriter = {
    open: (r, headers, node) => void r.writeHead(200, { ...headers, ...note(node), 'content-type': 'application/x-ndjson' }),
    data: (r, line) => {
      // A line from an Ollama node is already Ollama's; an SSE event (`data: ...`) is translated.
      if (line.startsWith('{')) {
        native = true;
        firstMs ??= performance.now() - t0;
        return void r.write(`${line}\n`);
      }
      const out = stream.chunk(line.slice(line.indexOf(':') + 1).trim());
      if (!out) return;
      firstMs ??= performance.now() - t0;
      r.write(out);
    },
    shutdown: (r, message) => void r.write(stream.error(message)),
  };
  const x = await exchange(res, ctx, request, `POST ${o.path} model=${logField(o.model)}`, writer);
  if (res.writableEnded) return;
  const timing = { totalMs: performance.now() - t0, ...(firstMs !== undefined && { firstTokenMs: firstMs }) };
  if (x.result.ok) {
    if (x.streaming) return void res.end(native ? undefined : stream.end(timing));
    // An Ollama node's own reply, as it came.
    if (x.result.raw && isOllama(x.result.node)) {
      res.writeHead(200, { 'content-type': chat.stream ? 'application/x-ndjson' : 'application/json; charset=utf-8', ...answeredBy(x) });
      return void res.end(chat.stream ? `${x.result.raw.trim()}\n` : x.result.raw);
    }
    const whole = chatReply(x.result.raw, { ...(x.result.content !== undefined && { content: x.result.content }), ...(x.result.toolCalls && { toolCalls: x.result.toolCalls }) }, o.model, timing, o.createdAt);
    const reply = o.generate ? generateReply(whole) : whole;
    // Asked to stream but answered whole: one NDJSON line, as a client reading lines expects.
    if (chat.stream) {
      res.writeHead(200, { 'content-type': 'application/x-ndjson', ...answeredBy(x), ...note(x.result.node) });
      return void res.end(`${JSON.stringify(reply)}\n`);
    }
    return sendJson(res, 200, reply, { ...answeredBy(x), ...note(x.result.node) });
  }
  // The answering node broke after the first line: an error line, never a clean `done`.
  // (Passed through or translated, the same line.)
  if (x.streaming) return void res.end(stream.error(`the stream from ${x.result.node ?? 'the node'} broke: ${x.result.error ?? 'cut'}`));
  sendFailure(res, x, o.model);
}

export const chat = conversation(false);
export const generate = conversation(true);

/** POST /api/embed (`input`: a string or strings) and the older /api/embeddings (`prompt`): within the model's group. */
function embedding(older: boolean): Handler {
  return async (req, res, ctx) => {
    const read = await readModelBody(req, res, ctx);
    if (!read) return;
    const { body, model } = read;
    const input = older ? body.prompt : body.input;
    if (!(typeof input === 'string' || (Array.isArray(input) && input.every((i) => typeof i === 'string')))) return sendError(res, 400, older ? 'prompt: expected a string' : 'input: expected a string or an array of strings');
    const route = await routeOf(res, ctx, model);
    if (!route) return;
    const request: CascadeRequest = { messages: [], stream: false, endpoint: 'embeddings', ...route, extra: { input } };
    const x = await exchange(res, ctx, request, `POST ${older ? '/api/embeddings' : '/api/embed'} model=${logField(model)}`, { open: () => undefined, data: () => undefined, shutdown: () => undefined });
    if (res.writableEnded) return;
    if (!x.result.ok) return sendFailure(res, x, model);
    let vectors: number[][] = [];
    try {
      vectors = ((JSON.parse(x.result.raw ?? '{}') as { data?: { embedding?: number[] }[] }).data ?? []).map((d) => d.embedding ?? []);
    } catch {
      return sendError(res, 500, `${x.result.node}: its embeddings were not JSON`, answeredBy(x));
    }
    sendJson(res, 200, older ? { embedding: vectors[0] ?? [] } : { model, embeddings: vectors }, answeredBy(x));
  };
}

export const embed = embedding(false);
export const embeddings = embedding(true);

/** GET /api/tags: every model the cluster serves, once, with the nodes that serve it. */
export const tags: Handler = (_req, res, ctx) => {
  const byModel = new Map<string, string[]>();
  for (const n of ctx.config.nodes) {
    const names = ctx.catalog.served(n.id) ?? (n.model ? [n.model] : []);
    for (const m of names) byModel.set(m, [...(byModel.get(m) ?? []), n.id]);
  }
  const at = new Date(ctx.wallNow()).toISOString();
  const models = [...byModel].sort(([a], [b]) => a.localeCompare(b)).map(([name, nodes]) => ({ name, model: name, modified_at: at, size: 0, digest: '', details: { format: '', family: '', parameter_size: '', quantization_level: '' }, nodes }));
  sendJson(res, 200, { models });
};

/**
 * GET /api/ps: what is loaded across the cluster, each model with the node that holds it (the
 * evidence collector every kind has: Ollama's /api/ps, LM Studio's models, llama.cpp's /props).
 */
export const ps: Handler = async (_req, res, ctx) => {
  const found = await Promise.all(
    ctx.config.nodes
      .filter((n) => n.url && n.kind !== 'proxy' && n.kind !== 'anthropic')
      .map(async (node) => {
        const target = targetFor(node);
        const finding = await collectModels(node, { http: ctx.executor.http, run: ctx.executor.run, target, where: node.host ?? 'its machine', timeoutMs: Math.min(node.timeoutMs, 2000), env: ctx.executor.env });
        return finding.ok ? finding.models.map((m) => ({ name: m.name, model: m.name, size: m.sizeBytes ?? 0, size_vram: m.vramBytes ?? m.sizeBytes ?? 0, ...(m.expiresAt && { expires_at: m.expiresAt }), digest: '', details: {}, node: node.id })) : [];
      }),
  );
  sendJson(res, 200, { models: found.flat() });
};

/**
 * POST /api/show: from the node that would answer. An Ollama node is asked itself (its modelfile,
 * template, parameters, capabilities); another kind gets what jarvis knows.
 */
export const show: Handler = async (req, res, ctx) => {
  const read = await readModelBody(req, res, ctx, true);
  if (!read) return;
  const asked = read.model;
  const route = await routeOf(res, ctx, asked);
  if (!route) return;
  const order = cascadeOrder(ctx.config, { messages: [], stream: false, ...route }, ctx.settings, ctx.health.nodes, ctx.catalog, ctx.load);
  const first = 'problem' in order ? undefined : order[0];
  if (!first) return sendError(res, 404, notFound(asked));
  const node = first.node;
  const model = first.model ?? node.model ?? asked;
  const headers = { 'x-jarvis-node': node.id };
  if (node.kind === 'ollama' && node.url) {
    try {
      const reply = await ctx.executor.http(`${rootUrl(node.url)}/api/show`, { method: 'POST', body: JSON.stringify({ ...read.body, model }), headers: { 'content-type': 'application/json', ...nodeHeaders(node) }, timeoutMs: node.timeoutMs });
      res.writeHead(reply.status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      return void res.end(reply.body);
    } catch (error) {
      return sendError(res, 502, `${node.id}: ${(error as Error).message}`, headers);
    }
  }
  sendJson(res, 200, { modelfile: '', parameters: '', template: '', details: { parent_model: '', format: '', family: '', families: [], parameter_size: '', quantization_level: '' }, model_info: {}, capabilities: ['completion', 'tools'], node: node.id, model }, headers);
};

/** GET /api/version: jarvis's, said as jarvis's. */
export const version: Handler = (_req, res) => sendJson(res, 200, { version: `${PACKAGE_VERSION} (jarvis)` });

/** Model management belongs to each node: 501, naming where to run it. */
export const manage: Handler = (req, res, ctx) => {
  const nodes = ctx.config.nodes.filter((n) => n.kind === 'ollama').map((n) => n.id);
  sendError(res, 501, `${(req.url ?? '').split('?')[0]} manages one Ollama server's models; jarvis fronts several: run it on the node itself (${nodes.length > 0 ? `ollama nodes: ${nodes.join(', ')}` : 'no ollama node in the config'})`);
};


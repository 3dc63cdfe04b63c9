/**
 * The Anthropic front: POST /v1/messages (Claude Code, the Anthropic SDKs) and
 * /v1/messages/count_tokens. A request is translated to a chat completion and sent through the
 * same cascade as the OpenAI front (model groups, breakers, retries, the deadline, cancels);
 * the answer, whole or streamed, is translated back (protocols/anthropic/messages.ts). Errors
 * come in Anthropic's shape; when every node failed, 529 `overloaded_error`, which Claude Code
 * and the SDKs retry.
 */
import type http from 'node:http';
import { cascadeOrder, type CascadeRequest } from '../../cascade/engine.js';
import type { NodeConfig } from '../../config/schema.js';
import type { ChatMessage } from '../../protocols/openai/chat.js';
import { errorBody, messageEvents, MessagesStream, PING_EVENT } from '../../protocols/anthropic/events.js';
import { messageOf, toMessage } from '../../protocols/anthropic/reply.js';
import { estimateInputTokens, toChatRequest } from '../../protocols/anthropic/request.js';
import { allows, CLOSED } from '../../cascade/breaker.js';
import { forwardedHeaders, nodeHeaders, speaksMessages } from '../../config/credentials.js';
import { apiUrl } from '../../probe/endpoints.js';
import { passBody, type RawJson } from '../../protocols/raw-json.js';
import { readJsonObject } from '../body.js';
import type { Handler, ServeContext } from '../context.js';
import { exchange, type Exchange, type StreamWriter } from '../exchange.js';
import { resolveModel } from '../model-route.js';
import { headerSafe, isErrorBody, logField, sendBody, sendJson } from '../reply.js';
import { scrub } from '../../system/text.js';
import { errorMessage } from '../../probe/classify.js';

/** An error in Anthropic's shape (`{"type":"error","error":{type, message}}`). */
function sendError(res: http.ServerResponse, status: number, type: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, errorBody(type, message), headers);
}

const BODY_ERROR_TYPES: Record<number, string> = { 413: 'request_too_large' };

/**
 * The body and its route. Claude Code asks for `claude-opus-*`, `claude-sonnet-*`,
 * `claude-haiku-*`: a Claude name no alias maps and no node serves goes to the `anthropic` node
 * first, or the whole cascade when there is none.
 */
async function parse(req: http.IncomingMessage, res: http.ServerResponse, ctx: ServeContext): Promise<{ body: Record<string, unknown>; raw: RawJson; route: Pick<CascadeRequest, 'task' | 'node' | 'model'> } | undefined> {
  const read = await readJsonObject(req, ctx.bodyLimitBytes);
  if (!read.ok) {
    sendError(res, read.error.status, BODY_ERROR_TYPES[read.error.status] ?? 'invalid_request_error', read.error.message);
    return undefined;
  }
  const model = read.value.model;
  const resolving = resolveModel(ctx, model);
  let routed = resolving instanceof Promise ? await resolving : resolving;
  if (!routed.ok && typeof model === 'string' && /^claude-/i.test(model)) {
    // A Claude name no node serves and no alias maps: the `anthropic` node first (then its
    // fallbacks, then the cascade), or the cascade when there is none.
    const first = ctx.config.nodes.find((n) => n.kind === 'anthropic' && n.url);
    routed = { ok: true, route: first ? { node: first.id } : {} };
  }
  if (!routed.ok) {
    sendError(res, routed.error.status, routed.error.status === 404 ? 'not_found_error' : 'invalid_request_error', routed.error.message);
    return undefined;
  }
  return { body: read.value, raw: read.raw, route: routed.route };
}

/** Whether this node answered in the Messages API itself (the sender passed the request through). */
function passesThrough(ctx: ServeContext, id: string): boolean {
  const node = ctx.config.nodes.find((n) => n.id === id);
  return node !== undefined && speaksMessages(node);
}

/**
 * The client's headers an Anthropic-speaking node may get (`forwardedHeaders` decides which reach
 * which node): never one that carries a key of jarvis's own, which is for jarvis only.
 */
function clientHeaders(req: http.IncomingMessage, ctx: ServeContext): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['anthropic-version', 'anthropic-beta', 'x-api-key', 'authorization']) {
    const v = req.headers[k];
    if (typeof v === 'string' && v && !((k === 'x-api-key' || k === 'authorization') && ctx.isClientKey(v))) out[k] = v;
  }
  return out;
}

/** A Messages stream's writer, with what the reply's end needs of it. */
type MessagesWriter = StreamWriter & { builder: MessagesStream; passed: () => boolean; close: () => void };

/**
 * A streamed answer: passed through as it came from a node that speaks the Messages API, or
 * translated chunk by chunk (the node's chat chunks become Messages events). While the node is
 * silent (a local model thinking, a tool call's arguments being generated) a `ping` goes every
 * `serve.streamPingMs`, between events, never inside one.
 */

function messagesWriter(ctx: ServeContext, model: string): MessagesWriter {
  const builder = new MessagesStream(model);
  let pass = false;
  let wrote = 0;
  let timer: NodeJS.Timeout | undefined;
  const write = (res: http.ServerResponse, text: string) => {
    wrote = performance.now();
    res.write(text);
  };
  const close = () => {
    if (timer) clearInterval(timer);
    timer = undefined;
  };
  return {
    builder,
    passed: () => pass,
    close,
    open: (res, headers, node) => {
      pass = passesThrough(ctx, node);
      res.writeHead(200, headers);
      wrote = performance.now();
      if (!pass) write(res, builder.start());
      const every = ctx.config.serve.streamPingMs;
      if (every > 0) {
        timer = setInterval(() => {
          if (res.writableEnded || res.destroyed) return close();
          if (performance.now() - wrote >= every - 1) write(res, PING_EVENT);
        }, Math.max(1, every >> 1)).unref();
      }
    },
    data: (res, line) => {
      if (pass) return write(res, `${line}\n\n`);
      const events = builder.chunk(line.slice(line.indexOf(':') + 1).trim());
      if (events) write(res, events);
    },
    shutdown: (res, message) => {
      close();
      res.write(builder.fail('overloaded_error', message));
    },
  };
}

/**
 * A Messages request read, checked and routed: the cascade's request, the model the client asked
 * for and whether it streams; undefined once the client was told why not. The client's body, parsed
 * and as text, lives only in this call and in the request, which the cascade lets go of once the
 * answer streams (a Claude Code request is tens of KB, its stream minutes long).
 */
async function messagesRequest(req: http.IncomingMessage, res: http.ServerResponse, ctx: ServeContext): Promise<{ request: CascadeRequest; model: string; stream: boolean } | undefined> {
  const parsed = await parse(req, res, ctx);
  if (!parsed) return undefined;
  const { body, raw, route } = parsed;
  const translated = toChatRequest(body);
  if (!translated.ok) {
    sendError(res, 400, 'invalid_request_error', translated.message);
    return undefined;
  }
  const { value } = translated;
  const request: CascadeRequest = { messages: value.messages as unknown as ChatMessage[], stream: value.stream, maxTokens: value.maxTokens, extra: value.extra, messagesApi: { body, headers: clientHeaders(req, ctx), raw }, ...route };
  const user = (body.metadata as { user_id?: unknown } | undefined)?.user_id;
  if (typeof user === 'string' && user) request.user = user;
  return { request, model: typeof body.model === 'string' ? body.model : 'auto', stream: value.stream };
}

/** POST /v1/messages: continuations rather than an async function, as chatCompletions (no suspended frame per open stream). */
export const messages: Handler = (req, res, ctx) =>
  messagesRequest(req, res, ctx).then((prepared) => {
    if (!prepared) return;
    const { request, model, stream } = prepared;
    const writer = messagesWriter(ctx, model);
    return exchange(res, ctx, request, `POST /v1/messages model=${logField(model)}`, writer)
      .finally(writer.close)
      .then((x) => replyMessages(res, ctx, x, model, stream, writer));
  });

/** The client's answer once the cascade ran, in the Messages API's shape. */
function replyMessages(res: http.ServerResponse, ctx: ServeContext, x: Exchange, model: string, stream: boolean, writer: MessagesWriter): void {
  if (res.writableEnded) return;
  const { result } = x;
  if (x.streaming) {
    // Begun: it ends as Messages do, or with an error event after a break (never a clean end).
    if (result.ok) res.end(writer.passed() ? undefined : writer.builder.end());
    else res.end(writer.builder.fail('overloaded_error', result.error ?? 'the stream broke'));
    return;
  }
  const headers = { 'x-jarvis-attempts': x.attempts, ...(result.node && { 'x-jarvis-node': result.node }), ...(result.model && { 'x-jarvis-model': headerSafe(result.model) }) };
  if (!result.ok) {
    if (result.unroutable) return sendError(res, 404, 'not_found_error', result.unroutable.message);
    if (result.rejected) {
      // As the node wrote it when it speaks this API; else its words in this API's shape.
      const { status, body } = result.rejected;
      if (result.node !== undefined && passesThrough(ctx, result.node) && isErrorBody(body)) return sendBody(res, status, scrub(body), headers);
      return sendError(res, status, status === 413 ? 'request_too_large' : 'invalid_request_error', errorMessage(body) ?? `HTTP ${status}`, headers);
    }
    return sendError(res, 529, 'overloaded_error', `no node could answer: ${result.error} (attempts: ${x.attempts})`, headers);
  }
  // A node that speaks the Messages API answered in it: its reply goes as it came.
  if (result.node !== undefined && passesThrough(ctx, result.node) && result.raw) {
    if (!stream) return sendBody(res, 200, result.raw, headers);
    const passed = toPassedMessage(result.raw);
    if (passed) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
      return void res.end(messageEvents(passed));
    }
  }
  // The node's whole reply when there is one; else what the cascade collected from its stream.
  const message = result.raw
    ? toMessage(result.raw, model)
    : messageOf({ model: result.model, choices: [{ message: { content: result.content, tool_calls: result.toolCalls?.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) }, finish_reason: result.toolCalls ? 'tool_calls' : 'stop' }] }, model);
  if (!message.ok) return sendError(res, 502, 'api_error', `${result.node}: ${message.message}`, headers);
  if (stream) {
    // Asked to stream, answered whole: the same message as its event sequence.
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
    return void res.end(messageEvents(message.value));
  }
  sendBody(res, 200, JSON.stringify(message.value), headers);
};

/**
 * Counted by the node that would answer the request (its route, the first node whose breaker
 * lets requests through) when that node speaks the Messages API (Anthropic, llama.cpp's server:
 * each counts for its own model), else an estimate from the request (system, messages, tools);
 * never a completion. `x-jarvis-node` says who counted.
 */
export const countTokens: Handler = async (req, res, ctx) => {
  const parsed = await parse(req, res, ctx);
  if (!parsed) return;
  const { body, raw, route } = parsed;
  if (!Array.isArray(body.messages)) return sendError(res, 400, 'invalid_request_error', 'messages: Field required');
  const counter = counterFor(ctx, { messages: [], stream: false, messagesApi: { body, headers: {} }, ...route });
  if (counter) {
    const { node, model } = counter;
    const headers = { 'content-type': 'application/json', ...nodeHeaders(node), ...forwardedHeaders(node, clientHeaders(req, ctx)) };
    const reply = await ctx.executor
      .http(apiUrl(node.url!, 'messages/count_tokens'), { method: 'POST', body: passBody(body, raw, model || undefined), headers, timeoutMs: Math.min(node.timeoutMs, 5000), maxBytes: 64 << 10 })
      .catch(() => undefined);
    const counted = reply?.status === 200 ? inputTokensOf(reply.body) : undefined;
    if (typeof counted === 'number') return sendJson(res, 200, { input_tokens: counted }, { 'x-jarvis-node': node.id });
  }
  sendJson(res, 200, { input_tokens: estimateInputTokens(body) }, { 'x-jarvis-node': 'estimate' });
};

/** The node that would answer `request` now, with the model it serves, when it can count tokens itself. */
function counterFor(ctx: ServeContext, request: CascadeRequest): { node: NodeConfig; model: string | undefined } | undefined {
  const plan = cascadeOrder(ctx.config, request, ctx.settings, ctx.health.nodes, ctx.catalog, ctx.load, ctx.deps.random);
  if ('problem' in plan) return undefined;
  const now = ctx.deps.now();
  const step = plan.find((s) => allows(ctx.health.get(s.node.id)?.breaker ?? CLOSED, now));
  if (!step?.node.url || !speaksMessages(step.node)) return undefined;
  const model = step.model !== undefined && ctx.catalog.served(step.node.id) !== undefined ? ctx.catalog.idFor(step.node, step.model) : step.model;
  return { node: step.node, model };
}

/** A Messages reply's JSON, parsed, to send as events (a client that asked to stream, a node that answered whole). */
function toPassedMessage(raw: string): Record<string, unknown> | undefined {
  try {
    const m = JSON.parse(raw) as Record<string, unknown>;
    return Array.isArray(m.content) ? m : undefined;
  } catch {
    return undefined;
  }
}

function inputTokensOf(body: string): number | undefined {
  try {
    const n = (JSON.parse(body) as { input_tokens?: unknown }).input_tokens;
    return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

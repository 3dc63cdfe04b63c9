/**
 * The OpenAI front: POST /v1/chat/completions and POST /v1/embeddings, both through the cascade
 * (model groups, breakers, retries, the deadline, a client gone cancels the upstream request).
 * Node and client speak the same API, so replies and stream lines pass through as they came.
 */
import type http from 'node:http';
import type { CascadeRequest } from '../../cascade/engine.js';
import { messagesProblem, type ChatMessage } from '../../protocols/openai/chat.js';
import type { RawJson } from '../../protocols/raw-json.js';
import { readJsonObject } from '../body.js';
import type { Handler, ServeContext } from '../context.js';
import { exchange, type Exchange, type StreamWriter } from '../exchange.js';
import { headerSafe, logField, sendBody } from '../reply.js';
import { sendBodyError, sendError, sendRejected } from './errors.js';
import { resolveModel } from '../model-route.js';

/** Request fields the cascade sets itself; the others pass through to the node. */
const CHAT_FIELDS = new Set(['model', 'messages', 'stream', 'max_tokens']);
const EMBEDDING_FIELDS = new Set(['model']);

/** Everything but what the cascade sets itself, on a prototype-free object (a `__proto__` field is data). */
function passThrough(body: Record<string, unknown>, own: Set<string>): Record<string, unknown> | undefined {
  let extra: Record<string, unknown> | undefined;
  for (const k of Object.keys(body)) if (!own.has(k)) (extra ??= Object.create(null) as Record<string, unknown>)[k] = body[k];
  return extra;
}

/** Answers the client why its request cannot be made (parseRequest's and a Prepare's way out). */
function refuse(res: http.ServerResponse, error: Parameters<typeof sendError>[1]): undefined {
  sendError(res, error);
  return undefined;
}

/** The cascade's request made from a client's, or undefined once the client was answered why not. */
type Prepare = (body: Record<string, unknown>, raw: RawJson, route: Pick<CascadeRequest, 'task' | 'node' | 'model'>, res: http.ServerResponse, ctx: ServeContext) => Prepared | undefined;

/** A request for the cascade, and how the access log names it. */
interface Prepared {
  request: CascadeRequest;
  what: string;
}

/**
 * Reads the body, routes its model and makes the cascade's request with `prepare`; answers
 * 400/404/413 itself and returns undefined on a bad one. The client's parsed body lives only in
 * this call: what follows holds the cascade's request, whose body the cascade lets go once the
 * answer streams (for minutes).
 */
async function parseRequest(req: http.IncomingMessage, res: http.ServerResponse, ctx: ServeContext, prepare: Prepare): Promise<Prepared | undefined> {
  const read = await readJsonObject(req, ctx.bodyLimitBytes);
  if (!read.ok) {
    sendBodyError(res, read.error);
    return undefined;
  }
  // Known names route at once; only an unknown one waits for the nodes to be listed.
  const resolving = resolveModel(ctx, read.value.model);
  const routed = resolving instanceof Promise ? await resolving : resolving;
  if (!routed.ok) return refuse(res, routed.error);
  return prepare(read.value, read.raw, routed.route, res, ctx);
}

/** An OpenAI-style stream goes to the client as the node sent it, line by line. */
const OPENAI_STREAM: StreamWriter = {
  open: (res, headers) => void res.writeHead(200, headers),
  data: (res, line) => void res.write(`${line}\n\n`),
  shutdown: (res, message) => streamError(res, message, 'server_shutting_down', 'server_error'),
};

/** The 503 when no node answered; Retry-After says when the first open breaker lets a trial through. */
function sendNoNode(res: http.ServerResponse, ctx: ServeContext, x: Exchange): void {
  // Routed by the front, so rare here (a node removed by a reload meanwhile): the client's name, not the cluster, is at fault.
  if (x.result.unroutable) return sendError(res, { status: 404, message: x.result.unroutable.message, type: 'invalid_request_error', param: 'model', code: 'model_not_found' });
  const now = ctx.deps.now();
  let soonest = Infinity;
  for (const h of Object.values(ctx.health.nodes)) if (h.breaker.openUntil !== undefined && h.breaker.openUntil > now && h.breaker.openUntil < soonest) soonest = h.breaker.openUntil;
  const retryAfter = soonest === Infinity ? 5 : Math.max(1, Math.ceil((soonest - now) / 1000));
  sendError(res, {
    status: 503,
    message: `no node could answer: ${x.result.error} (attempts: ${x.attempts})`,
    type: 'service_unavailable',
    code: 'all_nodes_failed',
    headers: { 'retry-after': String(retryAfter), 'x-jarvis-attempts': x.attempts },
  });
}

/** Headers that say who answered: the node and the model it answered with. */
function answeredBy(x: Exchange): Record<string, string> {
  const headers: Record<string, string> = { 'x-jarvis-node': x.result.node!, 'x-jarvis-attempts': x.attempts };
  if (x.result.model) headers['x-jarvis-model'] = headerSafe(x.result.model);
  return headers;
}

/** A chat completion's request: its messages and max_tokens checked, its text sent on where it can be. */
const chatRequest: Prepare = (body, raw, route, res) => {
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return refuse(res, { status: 400, message: '`messages` must be a non-empty array', type: 'invalid_request_error', param: 'messages' });
  }
  const problem = messagesProblem(body.messages as unknown[]);
  if (problem) return refuse(res, { status: 400, type: 'invalid_request_error', ...problem });
  if (body.max_tokens !== undefined && body.max_tokens !== null && (typeof body.max_tokens !== 'number' || !Number.isInteger(body.max_tokens) || body.max_tokens < 1)) {
    return refuse(res, { status: 400, message: '`max_tokens` must be a whole number of at least 1', type: 'invalid_request_error', param: 'max_tokens' });
  }
  const stream = body.stream === true;
  const request: CascadeRequest = { messages: body.messages as ChatMessage[], stream };
  if (route.task !== undefined) request.task = route.task;
  if (route.node !== undefined) request.node = route.node;
  if (route.model !== undefined) request.model = route.model;
  if (typeof body.max_tokens === 'number') request.maxTokens = body.max_tokens;
  if (typeof body.user === 'string' && body.user) request.user = body.user;
  // Sent on as the client wrote it when it means what the fields above do (a stream of "yes" or
  // a max_tokens of null are written out as the cascade reads them); else serialised from them,
  // the client's other fields passed through.
  if (raw.model !== 'unknown' && (body.stream === undefined || typeof body.stream === 'boolean') && body.max_tokens !== null) request.raw = raw;
  else {
    const extra = passThrough(body, CHAT_FIELDS);
    if (extra) request.extra = extra;
  }
  return { request, what: `POST /v1/chat/completions model=${typeof body.model === 'string' ? logField(body.model) : 'auto'}` };
};

/**
 * POST /v1/chat/completions. Continuations rather than an async function: a stream lasts minutes,
 * and a suspended frame per open stream would hold what the reply needs only at its end.
 */
export const chatCompletions: Handler = (req, res, ctx) =>
  parseRequest(req, res, ctx, chatRequest).then((prepared) => prepared && exchange(res, ctx, prepared.request, prepared.what, OPENAI_STREAM).then((x) => replyChat(res, ctx, x)));

/** The client's answer once the cascade ran: the end of its stream, the whole reply, or why there is none. */
function replyChat(res: http.ServerResponse, ctx: ServeContext, x: Exchange): void {
  if (res.writableEnded) return;
  const { result } = x;
  if (result.ok) {
    if (x.streaming) return void res.end();
    // Asked to stream, but the node answered whole (or not a stream): send it as one reply.
    const reply = result.raw ?? JSON.stringify({ object: 'chat.completion', model: result.model, choices: [{ index: 0, message: { role: 'assistant', content: result.content }, finish_reason: 'stop' }] });
    return sendBody(res, 200, reply, answeredBy(x));
  }
  if (x.streaming) {
    // The answering node died after the first byte: say so in the stream and end it without [DONE].
    streamError(res, result.error ?? 'the stream broke', 'stream_broken', 'upstream_error');
    return void res.end();
  }
  sendUnavailable(res, ctx, x);
}

/** Why no answer came: the node's word that the request is bad, no route, or every node failed. */
function sendUnavailable(res: http.ServerResponse, ctx: ServeContext, x: Exchange): void {
  if (x.result.rejected) return sendRejected(res, x.result.rejected, answeredBy(x));
  sendNoNode(res, ctx, x);
}

/**
 * POST /v1/embeddings: to the group serving the requested model, failing over only within it
 * (vectors from another model live in another space); with no model named, to the nodes marked
 * `embeddings: true`.
 */
const embeddingsRequest: Prepare = (body, raw, route, res, ctx) => {
  if (body.input === undefined) return refuse(res, { status: 400, message: '`input` is required', type: 'invalid_request_error', param: 'input' });
  if (route.task) return refuse(res, { status: 400, message: 'embeddings take a model or a node, not a task alias', type: 'invalid_request_error', param: 'model' });
  if (!route.node && !route.model && !ctx.config.nodes.some((n) => n.embeddings && n.url)) {
    return refuse(res, { status: 404, message: 'no node serves embeddings: name the embedding model, or set `embeddings: true` on a node', type: 'invalid_request_error', param: 'model', code: 'model_not_found' });
  }
  const extra = raw.model === 'unknown' ? passThrough(body, EMBEDDING_FIELDS) : undefined;
  const request: CascadeRequest = { messages: [], stream: false, endpoint: 'embeddings', ...route, ...(extra ? { extra } : { raw }) };
  return { request, what: `POST /v1/embeddings model=${typeof body.model === 'string' ? logField(body.model) : '(embedding nodes)'}` };
};

export const embeddings: Handler = async (req, res, ctx) => {
  const prepared = await parseRequest(req, res, ctx, embeddingsRequest);
  if (!prepared) return;
  const x = await exchange(res, ctx, prepared.request, prepared.what, OPENAI_STREAM);
  if (res.writableEnded) return;
  if (x.result.ok) return sendBody(res, 200, x.result.raw ?? '{}', answeredBy(x));
  sendUnavailable(res, ctx, x);
};

/** An error event in an OpenAI-style stream (what the openai SDK raises as an APIError). */
function streamError(res: http.ServerResponse, message: string, code: string, type: string): void {
  res.write(`data: ${JSON.stringify({ error: { message, type, code } })}\n\n`);
}

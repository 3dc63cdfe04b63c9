/**
 * Sends one chat completion to one node through its OpenAI-compatible API (Ollama, LM Studio and
 * llama.cpp all serve /v1/chat/completions), streamed or not, and turns every way it can fail into
 * a classified failure. Keep-alive connections: a cascade sends several requests to the same nodes.
 */
import http from 'node:http';
import https from 'node:https';
import type { NodeConfig } from '../config/schema.js';
import { nodeHeaders } from '../config/credentials.js';
import { apiUrl } from '../probe/endpoints.js';
import { classifyFailure, classifyReply, errorMessage, excerpt, parseRetryAfter } from '../probe/classify.js';
import { abortError, Cancel, toAbortSignal, type CancelSignal } from './cancel.js';
import type { Dispatcher } from 'undici';

export type ErrorClass =
  | 'refused'
  | 'unreachable'
  | 'dns'
  | 'timeout'
  | 'server_error'
  | 'loading'
  | 'bad_response'
  | 'throttled'
  | 'bad_request'
  | 'auth'
  | 'model_missing'
  | 'stream_broken'
  | 'aborted';

export interface ChatFailure {
  class: ErrorClass;
  message: string;
  httpStatus?: number;
  retryAfterS?: number;
  /** Tokens already printed when a stream broke. */
  tokens?: number;
}

export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatRequest {
  /** `/v1/chat/completions` (default) or `/v1/embeddings` (the input in `extra`). */
  endpoint?: 'chat' | 'embeddings';
  model?: string;
  messages: ChatMessage[];
  stream: boolean;
  maxTokens?: number;
  /** Other OpenAI parameters passed through as they are (temperature, tools, ...): a proxy's job. */
  extra?: Record<string, unknown>;
}

/** A function call the model asked for (OpenAI's `tool_calls`), arguments as the JSON text it wrote. */
export interface ToolCall {
  id?: string;
  name: string;
  arguments: string;
}

export interface ChatSuccess {
  /** The answer's text ('' when the model only called tools). */
  content: string;
  toolCalls?: ToolCall[];
  model?: string;
  tokens?: number;
  /** The upstream reply body, unparsed (non-streamed replies). */
  raw?: string;
  /** Time to the first token of a stream, in ms (what the latency strategy balances on). */
  firstTokenMs?: number;
}

export type ChatOutcome = { ok: true; value: ChatSuccess } | { ok: false; failure: ChatFailure };

export interface SendOptions {
  timeoutMs: number;
  signal?: CancelSignal;
  onToken?: (text: string) => void;
  /** Every SSE line of a streamed reply, as received (a proxy forwards them). */
  onData?: (line: string) => void;
}

export type SendChat = (node: NodeConfig, request: ChatRequest, options: SendOptions) => Promise<ChatOutcome>;

const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 64 }), https: new https.Agent({ keepAlive: true, maxSockets: 64 }) };

/** Parsed endpoint URLs per node: parsing a URL per request shows up in a proxy's profile. */
const parsedUrls = new WeakMap<NodeConfig, { chat: URL; embeddings: URL } | null>();

function target(node: NodeConfig, endpoint: 'chat' | 'embeddings'): URL | undefined {
  let u = parsedUrls.get(node);
  if (u === undefined) {
    u = node.url ? { chat: new URL(apiUrl(node.url, 'chat/completions')), embeddings: new URL(apiUrl(node.url, 'embeddings')) } : null;
    parsedUrls.set(node, u);
  }
  return u?.[endpoint];
}

/** Classifies an HTTP error reply from a completion endpoint. Pure. */
export function classifyHttpError(status: number, headers: Record<string, string | string[] | undefined>, body: string, now = Date.now()): ChatFailure {
  const message = errorMessage(body) ?? `HTTP ${status}`;
  if (status === 429) {
    const retryAfterS = parseRetryAfter(headers, now);
    return { class: 'throttled', httpStatus: status, message, ...(retryAfterS !== undefined && { retryAfterS }) };
  }
  if (status === 503 && classifyReply('generic', { status, headers, body }).status === 'loading') return { class: 'loading', httpStatus: status, message };
  if (status === 401 || status === 403) return { class: 'auth', httpStatus: status, message: `${message} (check the node's API key and URL)` };
  // LM Studio says "No models loaded" with 400 (newer) or 404 (older); Ollama 404 "model not found".
  if ((status === 404 || status === 400) && /model|no models loaded/i.test(message)) return { class: 'model_missing', httpStatus: status, message };
  if (status >= 500) return { class: 'server_error', httpStatus: status, message };
  return { class: 'bad_request', httpStatus: status, message };
}

function failureFromError(error: unknown, timeoutMs: number, signal?: CancelSignal): ChatFailure {
  if (signal?.aborted) return { class: 'aborted', message: 'interrupted' };
  const c = classifyFailure(error, timeoutMs);
  const cls: ErrorClass = c.status === 'refused' || c.status === 'unreachable' || c.status === 'dns' || c.status === 'timeout' ? c.status : 'bad_response';
  return { class: cls, message: c.detail ?? c.status };
}

/** An HTTP response as the parser needs it, whatever client fetched it. */
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: AsyncIterable<Buffer | string>;
  /** The whole body as text, if the client has a faster way than iterating (undici has). */
  text?: () => Promise<string>;
}

/** Reads a body to its end; with a `limit`, keeps only about that many characters of it. */
async function readText(res: RawResponse, limit = Infinity): Promise<string> {
  if (res.text && limit === Infinity) return res.text();
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of res.body) if (text.length < limit) text += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
  return text.length < limit ? text + decoder.decode() : text;
}

/** Sends a POST; rejects with the socket error (classified by the caller). Aborts on `signal`. */
export type Requester = (url: URL, body: string, headers: Readonly<Record<string, string>>, signal: CancelSignal) => Promise<RawResponse>;

/** node:http with keep-alive: nothing to load, right for one-shot commands (`jarvis ask`). */
export const nodeHttpRequester: Requester = (u, body, headers, signal) =>
  new Promise((resolve, reject) => {
    const lib = u.protocol === 'https:' ? https : http;
    const req = lib.request(u, { method: 'POST', agent: u.protocol === 'https:' ? agents.https : agents.http, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, signal: toAbortSignal(signal) });
    req.on('error', reject);
    req.on('response', (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res }));
    req.end(body);
  });

/**
 * undici's pooled client: much faster per request than node:http (measured: a bare proxy does
 * 8.3k requests/s through it against 5.1k), for `jarvis serve`, which pays its load time once.
 * Driven through `dispatch` with a handler of our own rather than `request()`: no Readable stream
 * per response (measured in-process: 28 µs of CPU per request against 41 µs).
 */
export async function undiciRequester(): Promise<Requester> {
  // Only the pool: the package's index also loads fetch, WebSocket, caches and mocks, about 9 MB
  // of resident memory a long-running proxy would carry for nothing.
  const Pool = (await import('undici/lib/dispatcher/pool.js')).default;
  const pools = new Map<string, InstanceType<typeof Pool>>();
  return (u, body, headers, signal) =>
    new Promise<RawResponse>((resolve, reject) => {
      let pool = pools.get(u.origin);
      if (!pool) {
        pool = new Pool(u.origin, { connections: 128, keepAliveTimeout: 30_000 });
        pools.set(u.origin, pool);
      }
      const exchange = new Exchange(signal);
      pool.dispatch({ path: `${u.pathname}${u.search}`, method: 'POST', headers, body }, exchange.handler(resolve, reject));
    });
}

/**
 * One response as undici hands it over: the body's chunks are kept until read, either whole
 * (`text()`) or one by one (`body`); one or the other, not both. No backpressure: the readers
 * here (a JSON reply, an SSE stream forwarded as it parses) keep up with a model's output.
 */
class Exchange {
  #chunks: (Buffer | undefined)[] = [];
  #read = 0;
  #ended = false;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;
  #controller: Dispatcher.DispatchController | undefined;
  readonly #signal: CancelSignal;
  readonly #onAbort = () => this.#controller?.abort(abortError());

  constructor(signal: CancelSignal) {
    this.#signal = signal;
    signal.addEventListener('abort', this.#onAbort);
  }

  handler(resolve: (r: RawResponse) => void, reject: (e: Error) => void): Dispatcher.DispatchHandler {
    let started = false;
    return {
      onRequestStart: (controller) => {
        this.#controller = controller;
        if (this.#signal.aborted) controller.abort(abortError());
      },
      onResponseStart: (_controller, status, headers) => {
        if (status < 200) return; // 1xx: the real answer follows
        started = true;
        resolve({ status, headers, body: { [Symbol.asyncIterator]: () => this.#iterator() }, text: () => this.#text() });
      },
      onResponseData: (_controller, chunk) => {
        this.#chunks.push(chunk);
        this.#notify();
      },
      onResponseEnd: () => {
        this.#ended = true;
        this.#settle();
      },
      onResponseError: (_controller, error) => {
        this.#failure = error;
        this.#settle();
        if (!started) reject(error);
      },
    };
  }

  #settle(): void {
    this.#signal.removeEventListener('abort', this.#onAbort);
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #wait(): Promise<void> {
    return new Promise((r) => (this.#wake = r));
  }

  async #text(): Promise<string> {
    while (!this.#ended && !this.#failure) await this.#wait();
    if (this.#failure) throw this.#failure;
    const chunks = this.#chunks as Buffer[];
    return chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
  }

  #iterator(): AsyncIterator<Buffer> {
    return {
      next: async () => {
        for (;;) {
          if (this.#read < this.#chunks.length) {
            const value = this.#chunks[this.#read]!;
            this.#chunks[this.#read++] = undefined;
            return { done: false, value };
          }
          if (this.#failure) throw this.#failure;
          if (this.#ended) return { done: true, value: undefined };
          await this.#wait();
        }
      },
      // A reader that stops early (a bad chunk, a client gone) ends the exchange.
      return: () => {
        if (!this.#ended && !this.#failure) this.#controller?.abort(abortError());
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }
}

const JSON_HEADERS = Object.freeze({ 'content-type': 'application/json', accept: 'application/json' });
const SSE_HEADERS = Object.freeze({ 'content-type': 'application/json', accept: 'text/event-stream' });

/** The request headers per node and kind of reply: the node's credentials merged once, not per request. */
const headerCache = new WeakMap<NodeConfig, { json: Readonly<Record<string, string>>; sse: Readonly<Record<string, string>> }>();

function requestHeaders(node: NodeConfig, sse: boolean): Readonly<Record<string, string>> {
  let h = headerCache.get(node);
  if (!h) {
    const own = nodeHeaders(node);
    h = Object.keys(own).length === 0 ? { json: JSON_HEADERS, sse: SSE_HEADERS } : { json: { ...JSON_HEADERS, ...own }, sse: { ...SSE_HEADERS, ...own } };
    headerCache.set(node, h);
  }
  return sse ? h.sse : h.json;
}

interface CompletionJson {
  model?: string;
  choices?: { message?: { content?: unknown; tool_calls?: unknown; refusal?: unknown } }[];
  data?: unknown;
}

interface ChunkJson {
  model?: string;
  choices?: { delta?: { content?: unknown; tool_calls?: unknown; refusal?: unknown }; finish_reason?: unknown }[];
  error?: unknown;
}

/** OpenAI's `tool_calls` as ToolCalls; undefined unless it is a non-empty list of function calls. */
function toolCallsOf(value: unknown): ToolCall[] | undefined {
  if (!Array.isArray(value) || value.length === 0) return undefined;
  const calls: ToolCall[] = [];
  for (const c of value as { id?: unknown; function?: { name?: unknown; arguments?: unknown } }[]) {
    if (typeof c?.function?.name !== 'string') return undefined;
    const args = c.function.arguments;
    calls.push({ ...(typeof c.id === 'string' && { id: c.id }), name: c.function.name, arguments: typeof args === 'string' ? args : JSON.stringify(args ?? {}) });
  }
  return calls;
}

/**
 * Reads a whole (non-streamed) reply: a completion is valid when it carries content, tool calls
 * or a refusal (a model that calls a tool answers `"content": null`); embeddings when they carry
 * their `data` list.
 */
export function readReply(text: string, endpoint: 'chat' | 'embeddings'): { ok: true; value: ChatSuccess } | { ok: false; message: string } {
  let json: CompletionJson;
  try {
    json = JSON.parse(text) as CompletionJson;
  } catch {
    return { ok: false, message: `not JSON: ${excerpt(text)}` };
  }
  const model = typeof json?.model === 'string' ? json.model : undefined;
  if (endpoint === 'embeddings') {
    if (!Array.isArray(json?.data)) return { ok: false, message: `no embeddings (\`data\`) in the reply: ${excerpt(text)}` };
    return { ok: true, value: { content: '', ...(model && { model }), raw: text } };
  }
  const message = json?.choices?.[0]?.message;
  const content = message?.content;
  const toolCalls = toolCallsOf(message?.tool_calls);
  const refusal = typeof message?.refusal === 'string' ? message.refusal : undefined;
  if (typeof content !== 'string' && !toolCalls && refusal === undefined) return { ok: false, message: `no message content, tool calls or refusal: ${excerpt(text)}` };
  return { ok: true, value: { content: typeof content === 'string' ? content : (refusal ?? ''), ...(toolCalls && { toolCalls }), ...(model && { model }), raw: text } };
}

/** Streamed tool calls, put together from their deltas (a name, then the arguments in pieces). */
function mergeToolCallDeltas(calls: ToolCall[], deltas: unknown): boolean {
  if (!Array.isArray(deltas) || deltas.length === 0) return false;
  for (const d of deltas as { index?: unknown; id?: unknown; function?: { name?: unknown; arguments?: unknown } }[]) {
    const i = typeof d?.index === 'number' ? d.index : calls.length;
    const call = (calls[i] ??= { name: '', arguments: '' });
    if (typeof d?.id === 'string') call.id = d.id;
    if (typeof d?.function?.name === 'string') call.name += d.function.name;
    if (typeof d?.function?.arguments === 'string') call.arguments += d.function.arguments;
  }
  return true;
}

/** Sends one completion through `requester`. Never throws: the outcome says how it went. */
export function createSender(requester: Requester): SendChat {
  return async (node, request, options) => {
    const endpoint = request.endpoint ?? 'chat';
    const url = target(node, endpoint);
    if (!url) return { ok: false, failure: { class: 'bad_request', message: `${node.id} has no url to send requests to` } };
    if (options.signal?.aborted) return { ok: false, failure: { class: 'aborted', message: 'interrupted' } };
    const stream = endpoint === 'chat' && request.stream;
    const payload: Record<string, unknown> = request.extra ? { ...request.extra } : {};
    if (request.model) payload.model = request.model;
    if (endpoint === 'chat') {
      payload.messages = request.messages;
      payload.stream = request.stream;
      if (request.maxTokens !== undefined) payload.max_tokens = request.maxTokens;
    }
    const body = JSON.stringify(payload);
    const sentAt = performance.now();
    // One signal ends the exchange: the caller's (Ctrl-C, a client gone) or the timeout.
    const local = new Cancel();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      local.abort();
    }, options.timeoutMs);
    const onAbort = () => local.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    // What the caller already has of a stream: tokens, or any line forwarded to a client.
    let tokens = 0;
    let forwarded = false;
    const failure = (f: ChatFailure): ChatOutcome => ({
      ok: false,
      failure: tokens > 0 || forwarded ? { ...f, class: 'stream_broken', tokens, message: `the stream broke after ${tokens > 0 ? `${tokens} token(s)` : 'its first chunks'}: ${f.message}` } : f,
    });
    const fromError = (error: unknown): ChatOutcome => {
      if (timedOut) return failure({ class: 'timeout', message: `no complete answer within ${options.timeoutMs} ms` });
      if (options.signal?.aborted) return failure({ class: 'aborted', message: 'interrupted' });
      return failure(failureFromError(error, options.timeoutMs));
    };
    // Set once the reply was read to its end: nothing is left to cancel (an abort costs a
    // DOMException with a stack trace and a round of listeners, per request).
    let complete = false;
    try {
      const res = await requester(url, body, requestHeaders(node, stream), local);
      if (res.status < 200 || res.status >= 300) {
        const text = await readText(res, 65536);
        complete = true;
        return { ok: false, failure: classifyHttpError(res.status, res.headers, text) };
      }
      const isSse = stream && /event-stream/.test(String(res.headers['content-type'] ?? ''));
      if (!isSse) {
        const text = await readText(res);
        complete = true;
        const reply = readReply(text, endpoint);
        if (!reply.ok) return failure({ class: 'bad_response', message: reply.message });
        // Not streamed by the server (or asked without streaming): print it whole.
        if (request.stream && reply.value.content) options.onToken?.(reply.value.content);
        return reply;
      }
      let content = '';
      let model: string | undefined;
      let finished = false;
      let pending = '';
      let firstTokenMs: number | undefined;
      const toolCalls: ToolCall[] = [];
      // Lines that carry nothing yet (the role chunk, empty deltas) wait until something does:
      // a stream that dies before its first token can still fail over, with nothing sent.
      let held: string[] | undefined;
      const forward = (line: string) => {
        if (!options.onData) return;
        if (held) for (const h of held.splice(0)) options.onData(h);
        options.onData(line);
        forwarded = true;
      };
      const onLine = (line: string): ChatOutcome | undefined => {
        if (!line.startsWith('data:')) return undefined;
        const data = line.slice(5).trim();
        if (data === '[DONE]') {
          finished = true;
          forward(line);
          return undefined;
        }
        let chunk: ChunkJson;
        try {
          chunk = JSON.parse(data) as ChunkJson;
        } catch {
          return failure({ class: 'bad_response', message: `invalid stream chunk: ${excerpt(data)}` });
        }
        if (chunk.error) return failure({ class: 'server_error', message: `error in the stream: ${errorMessage(JSON.stringify(chunk)) ?? 'unknown'}` });
        model ??= chunk.model;
        const choice = chunk.choices?.[0];
        const delta = choice?.delta?.content;
        let meaningful = false;
        if (typeof delta === 'string' && delta.length > 0) {
          tokens++;
          content += delta;
          options.onToken?.(delta);
          meaningful = true;
        }
        if (mergeToolCallDeltas(toolCalls, choice?.delta?.tool_calls)) meaningful = true;
        if (typeof choice?.delta?.refusal === 'string' && choice.delta.refusal) meaningful = true;
        if (choice?.finish_reason) finished = meaningful = true;
        if (meaningful) firstTokenMs ??= performance.now() - sentAt;
        // Forwarded once it parsed: a proxy's client never sees a chunk we would reject.
        if (meaningful || forwarded) forward(line);
        else (held ??= []).push(line);
        return undefined;
      };
      const decoder = new TextDecoder();
      for await (const chunk of res.body) {
        pending += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
        let nl;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const bad = onLine(pending.slice(0, nl).trim());
          if (bad) return bad;
          pending = pending.slice(nl + 1);
        }
      }
      complete = true;
      if (pending.trim()) {
        const bad = onLine(pending.trim());
        if (bad) return bad;
      }
      if (!finished) return failure({ class: 'bad_response', message: 'the stream ended without finishing' });
      return { ok: true, value: { content, ...(toolCalls.length > 0 && { toolCalls }), ...(model && { model }), tokens, ...(firstTokenMs !== undefined && { firstTokenMs: Math.round(firstTokenMs) }) } };
    } catch (error) {
      return fromError(error);
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      // Whatever is left of the exchange is cancelled (a stream we stopped reading, a timeout).
      if (!complete) local.abort();
    }
  };
}

/** The sender of the one-shot commands. */
export const sendChat: SendChat = createSender(nodeHttpRequester);

/** Lists a node's models (`/v1/models`, Ollama's tags): what the catalog learns a node serves. */
export async function listModels(node: NodeConfig, timeoutMs: number): Promise<string[] | undefined> {
  if (!node.url) return undefined;
  const [{ httpRequest }, { probeUrl }] = await Promise.all([import('../probe/http.js'), import('../probe/probe.js')]);
  const { url, protocol } = probeUrl(node.kind, node.url);
  try {
    const reply = await httpRequest(url, { timeoutMs, headers: nodeHeaders(node), maxBytes: 4 << 20 });
    return classifyReply(protocol, reply).models;
  } catch {
    return undefined;
  }
}

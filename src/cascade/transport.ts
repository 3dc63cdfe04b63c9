/**
 * Sends one chat completion to one node through its OpenAI-compatible API (Ollama, LM Studio and
 * llama.cpp all serve /v1/chat/completions), streamed or not, and turns every way it can fail into
 * a classified failure. Keep-alive connections: a cascade sends several requests to the same nodes.
 */
import http from 'node:http';
import https from 'node:https';
import type { NodeConfig } from '../config/schema.js';
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
  model?: string;
  messages: ChatMessage[];
  stream: boolean;
  maxTokens?: number;
  /** Other OpenAI parameters passed through as they are (temperature, tools, ...): a proxy's job. */
  extra?: Record<string, unknown>;
}

export interface ChatSuccess {
  content: string;
  model?: string;
  tokens?: number;
  /** The upstream reply body, unparsed (non-streamed replies). */
  raw?: string;
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

/** Parsed completion URLs per node: parsing a URL per request shows up in a proxy's profile. */
const parsedUrls = new WeakMap<NodeConfig, URL | null>();

function chatTarget(node: NodeConfig): URL | undefined {
  let u = parsedUrls.get(node);
  if (u === undefined) {
    const url = chatUrl(node);
    u = url ? new URL(url) : null;
    parsedUrls.set(node, u);
  }
  return u ?? undefined;
}

export function chatUrl(node: NodeConfig): string | undefined {
  if (!node.url) return undefined;
  const root = node.url.replace(/\/+$/, '');
  return /\/v1$/.test(root) ? `${root}/chat/completions` : `${root}/v1/chat/completions`;
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

/** Sends one completion through `requester`. Never throws: the outcome says how it went. */
export function createSender(requester: Requester): SendChat {
  return async (node, request, options) => {
    const target = chatTarget(node);
    if (!target) return { ok: false, failure: { class: 'bad_request', message: `${node.id} has no url to send requests to` } };
    if (options.signal?.aborted) return { ok: false, failure: { class: 'aborted', message: 'interrupted' } };
    const payload: Record<string, unknown> = request.extra ? { ...request.extra } : {};
    if (request.model) payload.model = request.model;
    payload.messages = request.messages;
    payload.stream = request.stream;
    if (request.maxTokens !== undefined) payload.max_tokens = request.maxTokens;
    const body = JSON.stringify(payload);
    // One signal ends the exchange: the caller's (Ctrl-C, a client gone) or the timeout.
    const local = new Cancel();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      local.abort();
    }, options.timeoutMs);
    const onAbort = () => local.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    let tokens = 0;
    const failure = (f: ChatFailure): ChatOutcome => ({
      ok: false,
      failure: tokens > 0 ? { ...f, class: 'stream_broken', tokens, message: `the stream broke after ${tokens} token(s): ${f.message}` } : f,
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
      const res = await requester(target, body, request.stream ? SSE_HEADERS : JSON_HEADERS, local);
      if (res.status < 200 || res.status >= 300) {
        const text = await readText(res, 65536);
        complete = true;
        return { ok: false, failure: classifyHttpError(res.status, res.headers, text) };
      }
      const isSse = request.stream && /event-stream/.test(String(res.headers['content-type'] ?? ''));
      if (!isSse) {
        const text = await readText(res);
        complete = true;
        let json: { model?: string; choices?: { message?: { content?: unknown } }[] };
        try {
          json = JSON.parse(text) as typeof json;
        } catch {
          return failure({ class: 'bad_response', message: `not JSON: ${excerpt(text)}` });
        }
        const answer = json.choices?.[0]?.message?.content;
        if (typeof answer !== 'string') return failure({ class: 'bad_response', message: `no message content: ${excerpt(text)}` });
        // Not streamed by the server (or asked without streaming): print it whole.
        if (request.stream && answer) options.onToken?.(answer);
        return { ok: true, value: { content: answer, ...(json.model && { model: json.model }), raw: text } };
      }
      let content = '';
      let model: string | undefined;
      let finished = false;
      let pending = '';
      const onLine = (line: string): ChatOutcome | undefined => {
        if (!line.startsWith('data:')) return undefined;
        const data = line.slice(5).trim();
        if (data === '[DONE]') {
          finished = true;
          options.onData?.(line);
          return undefined;
        }
        let chunk: { model?: string; choices?: { delta?: { content?: unknown }; finish_reason?: unknown }[]; error?: unknown };
        try {
          chunk = JSON.parse(data) as typeof chunk;
        } catch {
          return failure({ class: 'bad_response', message: `invalid stream chunk: ${excerpt(data)}` });
        }
        if (chunk.error) return failure({ class: 'server_error', message: `error in the stream: ${errorMessage(JSON.stringify(chunk)) ?? 'unknown'}` });
        model ??= chunk.model;
        const delta = chunk.choices?.[0]?.delta?.content;
        if (typeof delta === 'string' && delta.length > 0) {
          tokens++;
          content += delta;
          options.onToken?.(delta);
        }
        if (chunk.choices?.[0]?.finish_reason) finished = true;
        // Forwarded once it parsed: a proxy's client never sees a chunk we would reject.
        options.onData?.(line);
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
      return { ok: true, value: { content, ...(model && { model }), tokens } };
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

/** Lists the node's models to map a short configured name to a served id (LM Studio wants exact ids). */
export async function resolveModel(node: NodeConfig, wanted: string, timeoutMs: number): Promise<string | undefined> {
  if (!node.url) return undefined;
  const root = node.url.replace(/\/+$/, '');
  const url = /\/v1$/.test(root) ? `${root}/models` : `${root}/v1/models`;
  const { httpRequest } = await import('../probe/http.js');
  try {
    const reply = await httpRequest(url, { timeoutMs });
    const c = classifyReply('openai', reply, wanted);
    return c.matchedModel ?? (c.models?.length === 1 ? c.models[0] : undefined);
  } catch {
    return undefined;
  }
}


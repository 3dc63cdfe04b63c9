/**
 * Sends one chat completion (or embeddings request) to one node through its OpenAI-compatible
 * API, or the client's own API where the node speaks it (a Wire each), streamed or not, through
 * a requester, and turns every way it can fail into a classified failure. Never throws.
 */
import { StringDecoder } from 'node:string_decoder';
import type { NodeConfig } from '../config/schema.js';
import { forwardedHeaders, nodeHeaders, speaksMessages } from '../config/credentials.js';
import { apiUrl, rootUrl } from '../probe/endpoints.js';
import { Cancel, follow, unfollow, type CancelSignal } from '../system/cancel.js';
import { ChatStream, chatPayload, readReply, type ChatRequest, type ChatSuccess, type StreamRead } from '../protocols/openai/chat.js';
import { MessagesPassStream } from '../protocols/anthropic/events.js';
import { readMessageReply } from '../protocols/anthropic/reply.js';
import { ollamaPayload, OllamaPassStream, readOllamaReply } from '../protocols/ollama/native.js';
import { NdjsonReader } from './ndjson.js';
import { classifyHttpError, failureFromError, type ChatFailure } from './failure.js';
import { isConnectionCut } from '../probe/classify.js';
import { nodeHttpRequester, pipeBody, readText, type BodySink, type RawResponse, type Requester } from './requesters.js';
import { SseReader, type SseEvent } from './sse.js';
import { passBody } from '../protocols/raw-json.js';

export type ChatOutcome = { ok: true; value: ChatSuccess } | { ok: false; failure: ChatFailure };

export interface SendOptions {
  timeoutMs: number;
  signal?: CancelSignal;
  onToken?: (text: string) => void;
  /** Every SSE line of a streamed reply, as received (a proxy forwards them). */
  onData?: (line: string) => void;
  /** false: a streamed answer's text is not put together (a proxy forwards the lines and needs only how it ended). */
  keepText?: boolean;
}

export type SendChat = (node: NodeConfig, request: ChatRequest, options: SendOptions) => Promise<ChatOutcome>;

/** Parsed endpoint URLs per node: parsing a URL per request shows up in a proxy's profile. */
type Endpoint = 'chat' | 'embeddings' | 'messages' | '/api/chat' | '/api/generate';
const parsedUrls = new WeakMap<NodeConfig, Record<Endpoint, URL> | null>();

/** The URL of an endpoint of the node: OpenAI-style ones under its /v1, Ollama's own at its root. */
function target(node: NodeConfig, endpoint: Endpoint): URL | undefined {
  let u = parsedUrls.get(node);
  if (u === undefined) {
    u = node.url
      ? {
          chat: new URL(apiUrl(node.url, 'chat/completions')),
          embeddings: new URL(apiUrl(node.url, 'embeddings')),
          messages: new URL(apiUrl(node.url, 'messages')),
          '/api/chat': new URL(`${rootUrl(node.url)}/api/chat`),
          '/api/generate': new URL(`${rootUrl(node.url)}/api/generate`),
        }
      : null;
    parsedUrls.set(node, u);
  }
  return u?.[endpoint];
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

/** What splits a stream into events: SSE, or NDJSON lines (Ollama's). */
interface EventReader {
  push(text: string): SseEvent[];
  end(): SseEvent[];
}

/**
 * How a request is spoken to a node: OpenAI's chat completions (what every front translates to),
 * or the client's own request passed on as it came (Anthropic's Messages to a node that speaks
 * it, Ollama's to an Ollama node). Each way has its body, its endpoint, its streams' content type
 * and framing, and its replies' readers.
 */
interface Wire {
  payload(request: ChatRequest): string;
  endpoint(request: ChatRequest, endpoint: 'chat' | 'embeddings'): Endpoint;
  headers(node: NodeConfig, request: ChatRequest, stream: boolean): Readonly<Record<string, string>>;
  /** A streamed reply's content type. */
  streamType: RegExp;
  readWhole(text: string, endpoint: 'chat' | 'embeddings'): { ok: true; value: ChatSuccess } | { ok: false; message: string };
  stream(keepText: boolean): StreamRead;
  events(): EventReader;
}

const OPENAI: Wire = {
  payload: chatPayload,
  endpoint: (_request, endpoint) => endpoint,
  headers: (node, _request, stream) => requestHeaders(node, stream),
  streamType: /event-stream/,
  readWhole: readReply,
  stream: (keepText) => new ChatStream(keepText),
  events: () => new SseReader(),
};

const MESSAGES: Wire = {
  // As it came, with the model the node serves when the route names one.
  payload: (request) => passBody(request.messagesApi!.body, request.messagesApi!.raw, request.model || undefined),
  endpoint: () => 'messages',
  // The node's headers, and the client's Anthropic ones (credentials.ts forwardedHeaders) over them.
  headers: (node, request, stream) => ({ ...requestHeaders(node, stream), ...forwardedHeaders(node, request.messagesApi!.headers) }),
  streamType: /event-stream/,
  readWhole: (text) => readMessageReply(text),
  stream: (keepText) => new MessagesPassStream(keepText),
  events: () => new SseReader(),
};

const OLLAMA: Wire = {
  payload: (request) => ollamaPayload(request.ollamaApi!, request.model),
  endpoint: (request) => request.ollamaApi!.path,
  headers: (node, _request, stream) => requestHeaders(node, stream),
  streamType: /ndjson/,
  readWhole: (text) => readOllamaReply(text),
  stream: (keepText) => new OllamaPassStream(keepText),
  events: () => new NdjsonReader(),
};

/** The client's own request goes as it came where the node speaks its API; anything else, and every embeddings request, as OpenAI's. */
function wireFor(node: NodeConfig, request: ChatRequest, endpoint: 'chat' | 'embeddings'): Wire {
  if (endpoint !== 'chat') return OPENAI;
  if (request.messagesApi !== undefined && speaksMessages(node)) return MESSAGES;
  return request.ollamaApi !== undefined && node.kind === 'ollama' ? OLLAMA : OPENAI;
}

/** What the caller already has of a stream when it fails: tokens, or any line forwarded to a client. */
interface Sent {
  tokens: number;
  forwarded: boolean;
}

/** Something of the stream reached the caller: it can no longer fail over. */
function begun(sent: Sent): boolean {
  return sent.tokens > 0 || sent.forwarded;
}

/**
 * A failure, as a broken stream once something of it reached the caller (no failover then). A
 * caller that went away (a client gone, Ctrl-C) is not a broken stream: nothing the node did.
 */
function failed(f: ChatFailure, sent: Sent): ChatOutcome {
  if (f.class === 'aborted') return { ok: false, failure: sent.tokens > 0 ? { ...f, tokens: sent.tokens } : f };
  return {
    ok: false,
    failure: begun(sent) ? { ...f, class: 'stream_broken', tokens: sent.tokens, message: `the stream broke after ${sent.tokens > 0 ? `${sent.tokens} token(s)` : 'its first chunks'}: ${f.message}` } : f,
  };
}

/** The exchange's own signal aborted by its timeout: the reason says so (no closure per request). */
const TIMED_OUT = Object.assign(new Error('timed out'), { name: 'TimeoutError' });
const expire = (c: Cancel) => c.abort(TIMED_OUT);

/**
 * The request sent: its body made here, outside the sender's async frame, so that a stream
 * lasting minutes does not keep the text of the request (as long as the client's conversation)
 * alive in it.
 */
function post(requester: Requester, url: URL, request: ChatRequest, wire: Wire, headers: Readonly<Record<string, string>>, signal: Cancel): Promise<RawResponse> {
  const body = wire.payload(request);
  return requester(url, body, headers, signal).catch((error: unknown) => {
    // Cut before a byte of the answer came, most likely a kept-alive connection the node had just
    // closed (llama.cpp's server closes after each stream): sent again at once, on a connection
    // of its own. Not an attempt, nothing the node did. A node that cuts every connection fails
    // this one too, and that counts.
    if (signal.aborted || !isConnectionCut(error)) throw error;
    return requester(url, body, headers, signal, true);
  });
}

/**
 * One attempt's lifetime: its own signal (ended by the caller's, a client gone or Ctrl-C, or by
 * the timeout), what of the answer the caller already has, and how a thrown error is classified.
 */
class Call {
  readonly local = new Cancel();
  readonly sent: Sent = { tokens: 0, forwarded: false };
  /** Set once the reply was read to its end: nothing is left to cancel (an abort costs a DOMException with a stack trace and a round of listeners, per request). */
  complete = false;
  readonly #timer: NodeJS.Timeout;

  constructor(readonly options: SendOptions) {
    this.#timer = setTimeout(expire, options.timeoutMs, this.local);
    follow(options.signal, this.local);
  }

  /**
   * Something more of a stream that has begun for the caller: from then on the timeout bounds the
   * node's silence, not the answer's length (a long answer streams for minutes; nothing can fail
   * over once it began, and a node that stops sending is still caught).
   */
  heard(): void {
    this.#timer.refresh();
  }

  /** An error from the request or its body, as the failure it means. */
  failure(error: unknown): ChatOutcome {
    if (this.local.reason === TIMED_OUT) {
      return failed({ class: 'timeout', message: begun(this.sent) ? `the node sent nothing for ${this.options.timeoutMs} ms` : `no complete answer within ${this.options.timeoutMs} ms` }, this.sent);
    }
    if (this.options.signal?.aborted) return failed({ class: 'aborted', message: 'interrupted' }, this.sent);
    return failed(failureFromError(error, this.options.timeoutMs), this.sent);
  }

  /** The attempt is over: whatever is left of the exchange is cancelled (a stream we stopped reading, a timeout). */
  close(): void {
    clearTimeout(this.#timer);
    unfollow(this.options.signal, this.local);
    if (!this.complete) this.local.abort();
  }

  /**
   * A streamed reply read as it comes, the attempt closed when it ends. Pushed through an object
   * rather than read in a loop in the sender: no async frame kept per open stream for minutes.
   */
  stream(res: RawResponse, chat: StreamRead, sentAt: number, reader: EventReader): Promise<ChatOutcome> {
    return new Promise((resolve) => pipeBody(res, new StreamedReply(this, chat, sentAt, reader, resolve)));
  }
}

/**
 * A streamed reply's events, each checked as it comes and forwarded once it parsed; those that
 * carry nothing yet (the role chunk, empty deltas) wait until something does, so that a stream
 * that dies before its first token can still fail over with nothing sent. Settles once.
 */
class StreamedReply implements BodySink {
  // StringDecoder, not TextDecoder: no ICU converter per stream, and a multi-byte character
  // split between two chunks is still joined.
  readonly #decoder = new StringDecoder('utf8');
  #held: string[] | undefined;
  #firstTokenMs: number | undefined;
  #settle: ((outcome: ChatOutcome) => void) | undefined;

  constructor(
    private readonly call: Call,
    private readonly chat: StreamRead,
    private readonly sentAt: number,
    private readonly reader: EventReader,
    settle: (outcome: ChatOutcome) => void,
  ) {
    this.#settle = settle;
  }

  chunk(piece: Buffer | string): boolean {
    if (!this.#settle || !this.#take(this.reader.push(typeof piece === 'string' ? piece : this.#decoder.write(piece)))) return false;
    if (begun(this.call.sent)) this.call.heard();
    return true;
  }

  end(): void {
    if (!this.#settle) return;
    this.call.complete = true;
    const tail = this.#decoder.end();
    if (!this.#take(tail ? [...this.reader.push(tail), ...this.reader.end()] : this.reader.end())) return;
    if (!this.chat.finished) return void this.#finish(failed({ class: 'bad_response', message: 'the stream ended without finishing' }, this.call.sent));
    this.#finish({ ok: true, value: this.chat.result(this.#firstTokenMs) });
  }

  fail(error: unknown): void {
    if (this.#settle) this.#finish(this.call.failure(error));
  }

  /** The events read, each in turn; false once the reply settled (a bad event, a listener that threw or cancelled). */
  #take(events: SseEvent[]): boolean {
    try {
      for (const e of events) {
        const bad = this.#event(e);
        if (bad) return this.#finish(bad);
        // Settled meanwhile: the caller cancelled from a listener (the exchange's abort came back as a failure).
        if (!this.#settle) return false;
      }
    } catch (error) {
      // A caller's listener that threw (a client's socket gone mid-write): the attempt ends with it.
      return this.#finish(this.call.failure(error));
    }
    return true;
  }

  #finish(outcome: ChatOutcome): false {
    const settle = this.#settle!;
    this.#settle = undefined;
    this.call.close();
    settle(outcome);
    return false;
  }

  #event(e: SseEvent): ChatOutcome | undefined {
    const { chat, call } = this;
    const read = chat.read(e);
    if (!read.ok) return failed({ class: read.kind === 'error' ? 'server_error' : 'bad_response', message: read.message }, call.sent);
    if (read.token !== undefined) {
      call.sent.tokens = chat.tokens;
      call.options.onToken?.(read.token);
    }
    if (read.meaningful) this.#firstTokenMs ??= performance.now() - this.sentAt;
    // Forwarded once it parsed: a proxy's client never sees a chunk we would reject.
    const line = chat.line(e);
    if (read.meaningful || call.sent.forwarded || chat.isEnd(e)) this.#forward(line);
    else (this.#held ??= []).push(line);
    return undefined;
  }

  #forward(line: string): void {
    const onData = this.call.options.onData;
    if (!onData) return;
    if (this.#held) for (const h of this.#held.splice(0)) onData(h);
    onData(line);
    this.call.sent.forwarded = true;
  }
}

/** The statuses by which a node says the request itself is bad. */
const REJECTS = new Set([400, 413, 422]);

/** Sends one completion through `requester`. Never throws: the outcome says how it went. */
export function createSender(requester: Requester): SendChat {
  return async (node, request, options) => {
    const endpoint = request.endpoint ?? 'chat';
    const wire = wireFor(node, request, endpoint);
    // A node that speaks only Anthropic's API cannot take any other request.
    if (wire !== MESSAGES && node.kind === 'anthropic') return { ok: false, failure: { class: 'bad_request', message: `${node.id} speaks only Anthropic's Messages API (POST /v1/messages)` } };
    const url = target(node, wire.endpoint(request, endpoint));
    if (!url) return { ok: false, failure: { class: 'bad_request', message: `${node.id} has no url to send requests to` } };
    if (options.signal?.aborted) return { ok: false, failure: { class: 'aborted', message: 'interrupted' } };
    const stream = endpoint === 'chat' && request.stream;
    const headers = wire.headers(node, request, stream);
    // Only a stream's first token is timed (a whole reply's time is the attempt's).
    const sentAt = stream ? performance.now() : 0;
    const call = new Call(options);
    // A stream is handed over to its reader, which closes the call when it ends.
    let handedOver = false;
    try {
      const res = await post(requester, url, request, wire, headers, call.local);
      if (res.status < 200 || res.status >= 300) {
        const text = await readText(res, 65536);
        call.complete = true;
        const f = classifyHttpError(res.status, res.headers, text);
        // A node's word that the request itself is bad (invalid, too long, too large) goes to the
        // client as it is: another node would fare no better, and the node did nothing wrong.
        // Claude Code shows Anthropic's, or compacts on "prompt is too long". A 400 that says no
        // model is loaded is the node's state, not the request's (model_missing: fail over).
        if (REJECTS.has(res.status) && (f.class === 'bad_request' || (wire === MESSAGES && node.kind === 'anthropic'))) {
          return { ok: false, failure: { ...f, class: 'rejected', reply: { status: res.status, body: text } } };
        }
        return { ok: false, failure: f };
      }
      if (!stream || !wire.streamType.test(String(res.headers['content-type'] ?? ''))) {
        const text = res.textNow?.() ?? (await readText(res));
        call.complete = true;
        const reply = wire.readWhole(text, endpoint);
        if (!reply.ok) return failed({ class: 'bad_response', message: reply.message }, call.sent);
        // Not streamed by the server (or asked without streaming): print it whole.
        if (request.stream && reply.value.content) options.onToken?.(reply.value.content);
        return reply;
      }
      const keepText = options.keepText !== false;
      handedOver = true;
      return call.stream(res, wire.stream(keepText), sentAt, wire.events());
    } catch (error) {
      return call.failure(error);
    } finally {
      if (!handedOver) call.close();
    }
  };
}

/** The sender of the one-shot commands. */
export const sendChat: SendChat = createSender(nodeHttpRequester);

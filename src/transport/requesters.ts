/**
 * Requesters: one POST to one URL, the response as a RawResponse, whatever the HTTP client. The
 * one-shot commands use node:http (nothing to load); the proxy uses undici's pool.
 */
import http from 'node:http';
import https from 'node:https';
import type { Dispatcher } from 'undici';
import { abortError, toAbortSignal, type CancelSignal } from '../system/cancel.js';

const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 64 }), https: new https.Agent({ keepAlive: true, maxSockets: 64 }) };

/** An HTTP response as the parser needs it, whatever client fetched it. */
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: AsyncIterable<Buffer | string>;
  /** The whole body as text, if the client has a faster way than iterating (undici has). */
  text?: () => Promise<string>;
  /** The whole body as text if all of it is in already (a small reply comes with its head), else undefined: no promise to wait on. */
  textNow?: () => string | undefined;
  /**
   * Hands the body to `sink` chunk by chunk as it comes, in place of iterating `body`: no
   * promise per chunk, and nothing suspended per open stream while it waits for the next one.
   */
  pipe?: (sink: BodySink) => void;
}

/** Where a body's chunks go as they come (see pipeBody). Called until it returns false, ends or fails. */
export interface BodySink {
  /** One chunk; false: nothing more is wanted (the exchange is then cancelled by its owner). */
  chunk(piece: Buffer | string): boolean;
  end(): void;
  fail(error: unknown): void;
}

/** A body into `sink`: pushed by the client where it can (undici), else read through its iterator. */
export function pipeBody(res: RawResponse, sink: BodySink): void {
  if (res.pipe) res.pipe(sink);
  else void iterate(res.body, sink);
}

async function iterate(body: AsyncIterable<Buffer | string>, sink: BodySink): Promise<void> {
  try {
    for await (const piece of body) if (!sink.chunk(piece)) return;
  } catch (error) {
    return sink.fail(error);
  }
  sink.end();
}

/** Reads a body to its end; with a `limit`, keeps only about that many characters of it. */
export function readText(res: RawResponse, limit = Infinity): Promise<string> {
  // The client's own whole-body read as it is: no async wrapper around its promise.
  return res.text && limit === Infinity ? res.text() : readChunks(res, limit);
}

async function readChunks(res: RawResponse, limit: number): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of res.body) if (text.length < limit) text += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
  return text.length < limit ? text + decoder.decode() : text;
}

/**
 * Sends a POST; rejects with the socket error (classified by the caller). Aborts on `signal`.
 * `fresh`: on a new connection of its own, not one kept alive (a retry after a stale one).
 */
export type Requester = (url: URL, body: string, headers: Readonly<Record<string, string>>, signal: CancelSignal, fresh?: boolean) => Promise<RawResponse>;

/** node:http with keep-alive: nothing to load, right for one-shot commands (`jarvis ask`). */
export const nodeHttpRequester: Requester = (u, body, headers, signal, fresh) =>
  new Promise((resolve, reject) => {
    const lib = u.protocol === 'https:' ? https : http;
    const agent = fresh ? false : u.protocol === 'https:' ? agents.https : agents.http;
    const req = lib.request(u, { method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, signal: toAbortSignal(signal) });
    req.on('error', reject);
    req.on('response', (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res }));
    req.end(body);
  });

/**
 * A pool's options. undici's own headers and body timeouts are off: the sender's timer bounds every
 * exchange (the whole reply, or a stream's silence once it began), and undici's kept a timer per
 * connection, re-armed at every chunk. The WebSocket and EventSource options, which each of the
 * pool's clients (one per connection) would otherwise make an empty object for, are shared.
 */
const NO_OPTIONS = Object.freeze({});
const POOL_OPTIONS = (connections: number) => ({ connections, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0, webSocket: NO_OPTIONS, eventSource: NO_OPTIONS });

/**
 * undici's pooled client: much faster per request than node:http (measured: a bare proxy does
 * 8.3k requests/s through it against 5.1k), for `jarvis serve`, which pays its load time once.
 * Driven through `dispatch` with a handler of our own rather than `request()`: no Readable stream
 * per response (measured in-process: 28 µs of CPU per request against 41 µs).
 */
export async function undiciRequester(connectionsPerNode = 128): Promise<Requester> {
  // Only the pool: the package's index also loads fetch, WebSocket, caches and mocks, about 9 MB
  // of resident memory a long-running proxy would carry for nothing.
  const [Pool, Client] = await Promise.all([import('undici/lib/dispatcher/pool.js'), import('undici/lib/dispatcher/client.js')]).then(([p, c]) => [p.default, c.default] as const);
  const pools = new Map<string, InstanceType<typeof Pool>>();
  return (u, body, headers, signal, fresh) =>
    new Promise<RawResponse>((resolve, reject) => {
      const options = { path: `${u.pathname}${u.search}`, method: 'POST' as const, headers, body };
      if (fresh) {
        // A connection of its own, closed once the exchange is over (rare: a retry after a stale one).
        const client = new Client(u.origin, POOL_OPTIONS(1));
        const exchange = new Exchange(signal, resolve, reject);
        exchange.settled = () => void client.close().catch(() => undefined);
        client.dispatch(options, exchange);
        return;
      }
      let pool = pools.get(u.origin);
      if (!pool) {
        pool = new Pool(u.origin, POOL_OPTIONS(connectionsPerNode));
        pools.set(u.origin, pool);
      }
      pool.dispatch(options, new Exchange(signal, resolve, reject));
    });
}

/**
 * A response's head as a record (keys lower-cased, repeated ones as a list). An answer a reader
 * takes as it is (2xx) needs only its content type; an error's other headers (Retry-After,
 * x-should-retry) tell how it failed, so all of them are read then.
 */
function headersOf(raw: Buffer[], status: number): Record<string, string | string[] | undefined> {
  const headers: Record<string, string | string[] | undefined> = {};
  const all = status < 200 || status >= 300;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (!all && name.length !== 12) continue;
    const key = name.toString('latin1').toLowerCase();
    if (!all && key !== 'content-type') continue;
    const value = raw[i + 1]!.toString('utf8');
    const before = headers[key];
    headers[key] = before === undefined ? value : Array.isArray(before) ? [...before, value] : [before, value];
  }
  return headers;
}

/**
 * One response as undici hands it over, the handler undici hands it to and the body's iterator,
 * all one object per exchange: the body's chunks are kept until read, either whole (`text()`) or
 * one by one (`body`), or they go to a sink as they come (`pipe`); one of these, not two. No
 * backpressure: the readers here (a JSON reply, an SSE stream forwarded as it parses) keep up
 * with a model's output.
 *
 * It implements the handler methods undici 7's client calls itself (onConnect, onHeaders, onData,
 * onComplete, onError; typed as deprecated in favour of onRequestStart and the rest, which undici
 * 7 wraps around these). Through the wrapper, every response's head was parsed into an object
 * with every header, and its raw header buffers were kept for the whole exchange, a dozen
 * Buffers per open stream (measured: 1.1 µs of CPU per request in parseHeaders, 1.2 KB of heap
 * per open stream).
 */
class Exchange implements RawResponse, Dispatcher.DispatchHandler, AsyncIterableIterator<Buffer> {
  status = 0;
  /** The head as undici gave it, until its headers are first read (then let go: a stream lasts). */
  #raw: Buffer[] | undefined;
  #headers: Record<string, string | string[] | undefined> | undefined;
  #chunks: (Buffer | undefined)[] = [];
  #read = 0;
  #started = false;
  #ended = false;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;
  #sink: BodySink | undefined;
  #abort: ((error?: Error) => void) | undefined;
  readonly #signal: CancelSignal;
  readonly #resolve: (r: RawResponse) => void;
  readonly #reject: (e: Error) => void;
  readonly #onAbort = () => this.#abort?.(abortError());
  /** Called once the exchange is over, however it ended (a one-off connection is closed then). */
  settled: (() => void) | undefined;

  constructor(signal: CancelSignal, resolve: (r: RawResponse) => void, reject: (e: Error) => void) {
    this.#signal = signal;
    this.#resolve = resolve;
    this.#reject = reject;
    signal.addEventListener('abort', this.#onAbort);
  }

  get body(): AsyncIterable<Buffer> {
    return this;
  }

  /** Decoded when first read: a whole 2xx reply passed on as it is never asks. */
  get headers(): Record<string, string | string[] | undefined> {
    if (!this.#headers) {
      this.#headers = this.#raw ? headersOf(this.#raw, this.status) : {};
      this.#raw = undefined;
    }
    return this.#headers;
  }

  onConnect(abort: (error?: Error) => void): void {
    this.#abort = abort;
    if (this.#signal.aborted) abort(abortError());
  }

  onHeaders(status: number, raw: Buffer[]): boolean {
    if (status < 200) return true; // 1xx: the real answer follows
    this.#started = true;
    this.status = status;
    this.#raw = raw;
    this.#resolve(this);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#sink) {
      if (!this.#sink.chunk(chunk)) this.#stop();
      return true;
    }
    this.#chunks.push(chunk);
    this.#notify();
    return true;
  }

  onComplete(): void {
    this.#ended = true;
    this.#settle();
    this.#sink?.end();
  }

  onError(error: Error): void {
    this.#failure = error;
    this.#settle();
    if (!this.#started) this.#reject(error);
    this.#sink?.fail(error);
  }

  /** The sink wants nothing more: it hears nothing more, and the exchange is cancelled if it is still going. */
  #stop(): void {
    this.#sink = undefined;
    void this.return();
  }

  pipe(sink: BodySink): void {
    // What came before the sink: chunks kept, then how it ended if it did.
    for (let i = this.#read; i < this.#chunks.length; i++) {
      const piece = this.#chunks[i]!;
      this.#chunks[i] = undefined;
      if (!sink.chunk(piece)) return this.#stop();
    }
    this.#chunks.length = this.#read = 0;
    if (this.#failure) sink.fail(this.#failure);
    else if (this.#ended) sink.end();
    else this.#sink = sink;
  }

  #settle(): void {
    this.#signal.removeEventListener('abort', this.#onAbort);
    this.settled?.();
    this.settled = undefined;
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

  /** The whole body; already settled when it came in one piece with its head (no waiting promise then). */
  text(): Promise<string> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (!this.#ended) return this.#wait().then(() => this.text());
    return Promise.resolve(this.#whole());
  }

  textNow(): string | undefined {
    return this.#ended && !this.#failure ? this.#whole() : undefined;
  }

  #whole(): string {
    const chunks = this.#chunks as Buffer[];
    return chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer> {
    return this;
  }

  /** The next chunk: a plain method (no async frame kept per open stream while it waits). */
  next(): Promise<IteratorResult<Buffer>> {
    if (this.#read < this.#chunks.length) {
      const value = this.#chunks[this.#read]!;
      this.#chunks[this.#read++] = undefined;
      // All read: the list starts again (a long answer comes in thousands of chunks).
      if (this.#read === this.#chunks.length) this.#chunks.length = this.#read = 0;
      return Promise.resolve({ done: false, value });
    }
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#ended) return Promise.resolve({ done: true, value: undefined });
    return this.#wait().then(() => this.next());
  }

  /** A reader that stops early (a bad chunk, a client gone) ends the exchange. */
  return(): Promise<IteratorResult<Buffer>> {
    if (!this.#ended && !this.#failure) this.#abort?.(abortError());
    return Promise.resolve({ done: true, value: undefined });
  }
}


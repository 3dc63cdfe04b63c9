/**
 * The one door to HTTP for probes. Built on node:http rather than undici's fetch: a probe is one
 * GET on a fresh connection, and node:http costs nothing to load (the undici package adds about
 * 100 ms to start-up, which `jarvis status` cannot afford), while giving the raw socket error
 * codes the diagnosis needs and telling a connect timeout from a reply timeout.
 */
import http from 'node:http';
import https from 'node:https';

export interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** True when the body was cut at `maxBytes`. */
  truncated: boolean;
}

export interface HttpOptions {
  /** Hard timeout for the whole exchange (connect, headers, body). */
  timeoutMs: number;
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** Bodies past this size are cut (a probe needs the start only). */
  maxBytes?: number;
  method?: 'GET' | 'POST' | 'HEAD';
  body?: string;
}

/** A failed exchange: the socket-level `code` plus the phase it failed in. */
export class HttpFailure extends Error {
  constructor(
    message: string,
    readonly code: string,
    /** `connect`: no TCP connection yet; `reply`: connected, waiting for or reading the reply. */
    readonly phase: 'connect' | 'reply',
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpFailure';
  }
}

/** GETs (or POSTs) `url`; resolves with any HTTP reply, rejects with an HttpFailure. */
export function httpRequest(url: string, options: HttpOptions): Promise<HttpReply> {
  const { timeoutMs, signal, maxBytes = 1 << 20, method = 'GET' } = options;
  return new Promise<HttpReply>((resolve, reject) => {
    // Already cancelled: no request at all (a request destroyed before its error listener is
    // attached would crash the process with an unhandled 'error').
    if (signal?.aborted) return reject(new HttpFailure('aborted', 'ABORTED', 'connect', { cause: signal.reason }));
    let settled = false;
    let connected = false;
    // The hard timeout is an AbortSignal, combined with the caller's (Ctrl-C); whichever fires
    // first ends the exchange and destroys the socket.
    const timeout = AbortSignal.timeout(timeoutMs);
    const abort = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const finish = (error: HttpFailure | null, reply?: HttpReply) => {
      if (settled) return;
      settled = true;
      abort.removeEventListener('abort', onAbort);
      if (error) {
        req.destroy();
        reject(error);
      } else resolve(reply!);
    };
    const u = new URL(url);
    const lib = u.protocol === 'https:' ? https : http;
    const req = lib.request(u, {
      method,
      agent: false,
      headers: {
        accept: 'application/json',
        connection: 'close',
        ...(options.body !== undefined && { 'content-type': 'application/json', 'content-length': Buffer.byteLength(options.body) }),
        ...options.headers,
      },
    });
    const onAbort = () => {
      const phase = connected ? 'reply' : 'connect';
      if (timeout.aborted) {
        const message = connected ? `no reply within ${timeoutMs} ms` : `TCP connect did not complete within ${timeoutMs} ms`;
        finish(new HttpFailure(message, 'TIMEOUT', phase, { cause: timeout.reason }));
      } else finish(new HttpFailure('aborted', 'ABORTED', phase, { cause: signal?.reason }));
    };
    abort.addEventListener('abort', onAbort, { once: true });

    req.on('socket', (socket) => {
      if (!socket.connecting) connected = true;
      else socket.once('connect', () => (connected = true));
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      finish(new HttpFailure(error.message, error.code ?? 'UNKNOWN', connected ? 'reply' : 'connect', { cause: error }));
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      res.on('data', (chunk: Buffer) => {
        if (truncated) return;
        size += chunk.length;
        if (size > maxBytes) {
          truncated = true;
          chunks.push(chunk.subarray(0, chunk.length - (size - maxBytes)));
          // We have what we need; stop reading the rest.
          finish(null, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), truncated });
          res.destroy();
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => finish(null, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), truncated }));
      res.on('error', (error: NodeJS.ErrnoException) =>
        finish(new HttpFailure(`reply cut while reading: ${error.message}`, error.code ?? 'ECONNRESET', 'reply', { cause: error })),
      );
      res.on('aborted', () => finish(new HttpFailure('reply cut while reading (peer closed the connection)', 'ECONNRESET', 'reply')));
    });
    req.end(options.body);
  });
}

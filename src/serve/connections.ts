/**
 * What a client connection may cost the proxy: a cap on how many are open at once (beyond it a new
 * one is closed as it comes, never left to stall), how long a client may take to send its request,
 * how long an idle one is kept, and an answer in the API's own shape when Node's parser refuses a
 * request (a head too large, a bad Content-Length), where Node would send an empty 400.
 *
 * The cap leaves descriptors for what the proxy itself opens: each request in flight holds one
 * connection to a node (so at most one per client connection, and the pool keeps no more than
 * were in flight at once), plus the health probes, the evidence commands, the data files and
 * Redis (64 between them). Under `ulimit -n 1024` that is 480 clients.
 */
import http from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import type { Config } from '../config/schema.js';
import { errorBody } from '../protocols/anthropic/events.js';
import { jsonSafe } from '../system/text.js';

/** Descriptors kept for the proxy's own use (probes, files, Redis, stdio). */
const RESERVED = 64;

/** The client connections allowed at once: the config's, else half of what the open-file limit leaves. */
export function connectionCap(config: Config, fileLimit: number | undefined): number {
  if (config.serve.maxConnections !== undefined) return config.serve.maxConnections;
  // An unknown limit is taken as the common default of 1024.
  return Math.max(16, Math.floor(((fileLimit ?? 1024) - RESERVED) / 2));
}

/** The server's limits from the config (at start and at every reload). */
export function applyLimits(server: Pick<http.Server, 'maxConnections' | 'headersTimeout' | 'requestTimeout' | 'keepAliveTimeout'>, config: Config, cap: number): void {
  const s = config.serve;
  server.maxConnections = cap;
  server.headersTimeout = s.headersTimeoutMs;
  server.requestTimeout = Math.max(s.requestReadTimeoutMs, s.headersTimeoutMs);
  server.keepAliveTimeout = s.keepAliveTimeoutMs;
}

/** How often Node checks the head and request timeouts (its default, 30 s, would let a slow sender stay that much longer). */
export const CONNECTIONS_CHECKING_INTERVAL_MS = 1000;

/** Says once a minute, at most, that the cap turned connections away. */
export function onCapReached(server: NetServer, log: (line: string) => void, now: () => number): void {
  let saidAt = -Infinity;
  let dropped = 0;
  server.on('drop', () => {
    dropped++;
    const t = now();
    if (t - saidAt < 60_000) return;
    saidAt = t;
    log(`connections: at the cap of ${server.maxConnections} client connections; new ones are closed as they come (${dropped} so far; serve.maxConnections)`);
  });
}

/** Why Node's parser refused a request, as a status and a message. */
function refusalOf(error: NodeJS.ErrnoException): { status: number; message: string } {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, message: 'request head too large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, message: 'the request did not arrive in time (serve.headersTimeoutMs, serve.requestReadTimeoutMs)' };
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return { status: 400, message: 'bad Content-Length' };
    case 'HPE_INVALID_TRANSFER_ENCODING':
      return { status: 400, message: 'bad Transfer-Encoding' };
    default:
      return { status: 400, message: `malformed request (${error.code ?? 'parse error'})` };
  }
}

/**
 * Answers a request Node's parser refused, in the shape of the API it was meant for (Anthropic's
 * for /v1/messages, OpenAI's for the rest), then closes the connection. A connection reset or no
 * longer writable is just closed.
 */
export function answerClientError(error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
  const { status, message } = refusalOf(error);
  const head = error.rawPacket?.toString('latin1', 0, 64) ?? '';
  const anthropic = /^[A-Z]+ \/v1\/messages[ ?/]/.test(head);
  const type = status === 431 || status === 413 ? 'request_too_large' : 'invalid_request_error';
  const body = jsonSafe(JSON.stringify(anthropic ? errorBody(type, message) : { error: { message, type: 'invalid_request_error', param: null, code: status === 408 ? 'request_timeout' : type } }));
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

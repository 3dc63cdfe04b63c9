/**
 * The runbook's step 2 vocabulary: what a probe saw, as a value. Pure functions, no I/O: every
 * error code and reply shape the servers in docs/protocols.md produce maps to one status here.
 */
import { oneLine } from '../system/text.js';
import { matchModel } from './model-names.js';

/** The status values of the `--json` contract (docs/development.md, Contracts). */
export const PROBE_STATUSES = ['ok', 'refused', 'timeout', 'http_error', 'unreachable', 'dns', 'bad_response', 'model_missing', 'loading'] as const;
export type ProbeStatus = (typeof PROBE_STATUSES)[number];

/**
 * The word people see for a probe, on every surface (status, check, watch, the page, diagnose):
 * its status, except `throttled` for a 429 (`--json` keeps `status` and adds `throttled: true`).
 */
export function statusWord(p: { status: ProbeStatus; throttled?: boolean | undefined }): string {
  return p.throttled ? 'throttled' : p.status;
}

export function isProbeStatus(s: string): s is ProbeStatus {
  return (PROBE_STATUSES as readonly string[]).includes(s);
}

/** What the wire told us. */
export interface Classification {
  status: ProbeStatus;
  detail?: string;
  httpStatus?: number;
  /** 429: quota or rate limit. */
  throttled?: boolean;
  /** This machine could not even try (out of file descriptors): says nothing about the node. */
  local?: boolean;
  /** Seconds to wait, from Retry-After / retry-after-ms. */
  retryAfterS?: number;
  /** Models the server lists (Ollama: downloaded; LM Studio: loaded). */
  models?: string[];
  /** The served model that matched the configured one. */
  matchedModel?: string;
}

/** Which protocol a reply is read against. */
export type ReplyProtocol = 'ollama' | 'openai' | 'generic';

const REFUSED = new Set(['ECONNREFUSED']);
const UNREACHABLE = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);
const DNS = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NODATA', 'EAI_FAIL', 'EAI_NONAME']);
const TIMEOUT = new Set(['TIMEOUT', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'TimeoutError']);
const LOCAL = new Set(['EMFILE', 'ENFILE']);
const CUT = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE']);

interface ErrorLike {
  name?: string;
  message?: string;
  code?: string;
  phase?: 'connect' | 'reply';
  cause?: unknown;
  errors?: unknown[];
}

/**
 * Classifies a failed exchange: node:http errors (code on the error), fetch's
 * `TypeError('fetch failed', {cause})`, AggregateError from a name with several addresses,
 * AbortSignal.timeout's TimeoutError, undici's UND_ERR_* codes.
 */
export function classifyFailure(error: unknown, timeoutMs?: number): Classification {
  const e = unwrap(error);
  const code = e.code ?? '';
  const msg = oneLine(e.message ?? String(error));
  if (LOCAL.has(code)) return { status: 'bad_response', local: true, detail: `this machine is out of file descriptors (${code}): not the node's doing` };
  if (REFUSED.has(code)) return { status: 'refused', detail: 'connection refused: nothing listens on the port (service stopped?)' };
  if (UNREACHABLE.has(code)) return { status: 'unreachable', detail: `no route to the machine (${code})` };
  if (DNS.has(code)) return { status: 'dns', detail: `name does not resolve (${code})` };
  if (TIMEOUT.has(code)) {
    const within = timeoutMs !== undefined ? ` within ${timeoutMs} ms` : '';
    if (e.phase === 'connect' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') {
      return { status: 'timeout', detail: `TCP connect did not complete${within} (machine down, or packets dropped)` };
    }
    return { status: 'timeout', detail: `connected, but no reply${within} (service hung or overloaded)` };
  }
  if (CUT.has(code) || /socket hang up|other side closed|terminated/i.test(msg)) {
    return { status: 'bad_response', detail: 'the connection was closed before a complete reply' };
  }
  if (code.startsWith('HPE_') || code === 'EPROTO' || /parse error/i.test(msg)) {
    return { status: 'bad_response', detail: `not an HTTP reply (${code || msg})` };
  }
  if (code.startsWith('ERR_TLS') || /certificate|SSL|TLS/i.test(msg)) {
    return { status: 'bad_response', detail: `TLS failure: ${msg}` };
  }
  return { status: 'bad_response', detail: `request failed: ${code ? `${code}: ` : ''}${msg}` };
}

/** Follows `cause` chains and AggregateErrors to the most telling socket error. */
/**
 * Whether a request failed because its connection was closed or reset under it (before any of the
 * answer came, when the caller asks before the response): what a client meets on a keep-alive
 * connection the server had just closed.
 */
export function isConnectionCut(error: unknown): boolean {
  const e = unwrap(error);
  return CUT.has(e.code ?? '') || /socket hang up|other side closed/i.test(e.message ?? '');
}

function unwrap(error: unknown): ErrorLike {
  const phase = (error as ErrorLike | null)?.phase;
  let e = asErrorLike(error);
  for (let depth = 0; depth < 6; depth++) {
    if (Array.isArray(e.errors) && e.errors.length > 0) {
      // Happy eyeballs tried several addresses: prefer a decisive answer over a timeout.
      const inner = e.errors.map((x) => unwrap(x));
      const rank = (x: ErrorLike) => (REFUSED.has(x.code ?? '') ? 0 : DNS.has(x.code ?? '') ? 1 : UNREACHABLE.has(x.code ?? '') ? 2 : 3);
      inner.sort((a, b) => rank(a) - rank(b));
      e = inner[0]!;
      break;
    }
    const code = e.code ?? '';
    const known = REFUSED.has(code) || UNREACHABLE.has(code) || DNS.has(code) || TIMEOUT.has(code) || CUT.has(code) || LOCAL.has(code);
    if (known || typeof e.cause !== 'object' || e.cause === null) break;
    // fetch's TypeError('fetch failed'), an AbortError or our ABORTED wrap the real reason.
    if (e.name === 'TypeError' || e.name === 'AbortError' || code === 'ABORTED' || code === '') e = asErrorLike(e.cause);
    else break;
  }
  return { name: e.name, message: e.message, code: e.code, errors: e.errors, phase: e.phase ?? phase };
}

/** Reads the fields we use without spreading (Error fields are not enumerable). */
function asErrorLike(value: unknown): ErrorLike {
  if (typeof value !== 'object' || value === null) return { message: String(value) };
  const v = value as Record<string, unknown>;
  const name = typeof v.name === 'string' ? v.name : undefined;
  // DOMException has a numeric legacy `code`; its name (TimeoutError, AbortError) is what counts.
  const code = typeof v.code === 'string' ? v.code : name === 'TimeoutError' ? 'TimeoutError' : undefined;
  return {
    ...(name !== undefined && { name }),
    ...(typeof v.message === 'string' && { message: v.message }),
    ...(code !== undefined && { code }),
    ...(v.phase === 'connect' || v.phase === 'reply' ? { phase: v.phase } : {}),
    ...(v.cause !== undefined && { cause: v.cause }),
    ...(Array.isArray(v.errors) && { errors: v.errors as unknown[] }),
  };
}

export interface ReplyLike {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  truncated?: boolean;
}

/** Reads an HTTP reply against the protocol the node should speak (docs/protocols.md). */
export function classifyReply(protocol: ReplyProtocol, reply: ReplyLike, wantedModel?: string, now: number = Date.now()): Classification {
  const { status } = reply;
  const body = reply.body;
  if (status === 503 && /loading model/i.test(body)) {
    return { status: 'loading', httpStatus: 503, detail: 'the server is loading its model' };
  }
  if (status === 429) {
    const retryAfterS = parseRetryAfter(reply.headers, now);
    const message = errorMessage(body);
    return {
      status: 'http_error',
      httpStatus: 429,
      throttled: true,
      ...(retryAfterS !== undefined && { retryAfterS }),
      detail: `throttled (429): quota or rate limit${retryAfterS !== undefined ? `; retry after ${retryAfterS} s` : ''}${message ? ` - ${message}` : ''}`,
    };
  }
  if (status < 200 || status >= 300) {
    const message = errorMessage(body);
    return { status: 'http_error', httpStatus: status, detail: `HTTP ${status}${message ? `: ${message}` : ''}` };
  }
  if (protocol === 'generic') return { status: 'ok', httpStatus: status };
  if (reply.truncated) return { status: 'bad_response', httpStatus: status, detail: 'reply too large to be a model list' };

  const trimmed = body.trimStart();
  if (trimmed.startsWith('<')) return { status: 'bad_response', httpStatus: status, detail: 'answered with HTML, not JSON (another service on this port?)' };
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { status: 'bad_response', httpStatus: status, detail: `invalid JSON: ${excerpt(body)}` };
  }
  const models = protocol === 'ollama' ? ollamaModels(json) : openaiModels(json);
  if (!models) {
    const expected = protocol === 'ollama' ? '{"models":[{"name":...}]} (is this an Ollama server?)' : '{"data":[{"id":...}]} (is this an OpenAI-style server?)';
    return { status: 'bad_response', httpStatus: status, detail: `unexpected JSON: expected ${expected}, got ${excerpt(body)}` };
  }
  if (wantedModel === undefined) return { status: 'ok', httpStatus: status, models };
  const model = matchModel(wantedModel, models);
  if (model === undefined) {
    const served = models.length === 0 ? 'no model is loaded' : `served: ${models.slice(0, 5).map(oneLine).join(', ')}${models.length > 5 ? `, +${models.length - 5} more` : ''}`;
    return { status: 'model_missing', httpStatus: status, models, detail: `model ${wantedModel} not available (${served})` };
  }
  return { status: 'ok', httpStatus: status, models, matchedModel: model };
}

function ollamaModels(json: unknown): string[] | undefined {
  const list = (json as { models?: unknown } | null)?.models;
  if (!Array.isArray(list)) return undefined;
  const names = list.map((m: unknown) => (m as { name?: unknown; model?: unknown } | null)?.name ?? (m as { model?: unknown } | null)?.model);
  return names.every((n) => typeof n === 'string') ? (names) : undefined;
}

function openaiModels(json: unknown): string[] | undefined {
  const list = (json as { data?: unknown } | null)?.data;
  if (!Array.isArray(list)) return undefined;
  const ids = list.map((m: unknown) => (m as { id?: unknown } | null)?.id);
  return ids.every((n) => typeof n === 'string') ? (ids) : undefined;
}

/** Retry-After: seconds or an HTTP date (RFC 9110); `retry-after-ms` first, as the OpenAI SDK does. */
export function parseRetryAfter(headers: Record<string, string | string[] | undefined>, now: number = Date.now()): number | undefined {
  const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  const ms = first(headers['retry-after-ms']);
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.ceil(Number(ms) / 1000);
  const value = first(headers['retry-after'])?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

/**
 * The message of an error body in Ollama's (`{"error":"..."}`) or OpenAI's shape, else an excerpt:
 * one line, secrets scrubbed (a node that echoes its key), controls shown as escapes.
 */
export function errorMessage(body: string): string | undefined {
  if (!body.trim()) return undefined;
  try {
    const json = JSON.parse(body) as { error?: unknown; message?: unknown; detail?: unknown };
    const text = typeof json.error === 'string' ? json.error : json.error && typeof (json.error as { message?: unknown }).message === 'string' ? (json.error as { message: string }).message : typeof json.message === 'string' ? json.message : typeof json.detail === 'string' ? json.detail : undefined;
    if (text !== undefined) return oneLine(text.length > 2000 ? `${text.slice(0, 2000)}…` : text);
  } catch {
    // not JSON: fall through to an excerpt
  }
  return excerpt(body);
}

/** The first line of a text, cut to `max` characters, for messages. */
export function excerpt(text: string, max = 80): string {
  const line = oneLine(text.replace(/\s+/g, ' ').trim());
  return line.length > max ? `${line.slice(0, max - 1)}…` : line || '(empty)';
}

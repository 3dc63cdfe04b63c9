/**
 * How sending a request to a node can fail, as values the cascade decides on (retry, fail over,
 * count against the node), and the classification of an HTTP error reply or a socket error.
 */
import { classifyFailure, classifyReply, errorMessage, parseRetryAfter } from '../probe/classify.js';
import type { CancelSignal } from '../system/cancel.js';

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
  /** The node judged the request itself bad (400, 413, 422): its reply goes to the client; no other node is asked, nothing is charged. */
  | 'rejected'
  | 'model_missing'
  | 'stream_broken'
  /** This machine could not send it (out of file descriptors): not the node's doing, never counted. */
  | 'local'
  | 'aborted';

export interface ChatFailure {
  class: ErrorClass;
  message: string;
  httpStatus?: number;
  retryAfterS?: number;
  /** Tokens already printed when a stream broke. */
  tokens?: number;
  /** A `rejected` request: the node's reply, to answer the client with as it came. */
  reply?: { status: number; body: string };
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

export function failureFromError(error: unknown, timeoutMs: number, signal?: CancelSignal): ChatFailure {
  if (signal?.aborted) return { class: 'aborted', message: 'interrupted' };
  const c = classifyFailure(error, timeoutMs);
  if (c.local) return { class: 'local', message: c.detail ?? 'out of file descriptors' };
  const cls: ErrorClass = c.status === 'refused' || c.status === 'unreachable' || c.status === 'dns' || c.status === 'timeout' ? c.status : 'bad_response';
  return { class: cls, message: c.detail ?? c.status };
}


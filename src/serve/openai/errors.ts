/** Errors in OpenAI's shape (`{"error": {message, type, param, code}}`), which its SDKs read. */
import type http from 'node:http';
import type { BodyError } from '../body.js';
import { errorMessage } from '../../probe/classify.js';
import { isErrorBody, sendBody, sendJson } from '../reply.js';
import { scrub } from '../../system/text.js';

export interface OpenAiError {
  status: number;
  message: string;
  type: string;
  code?: string | null;
  param?: string | null;
  headers?: Record<string, string>;
}

export function sendError(res: http.ServerResponse, e: OpenAiError): void {
  sendJson(res, e.status, { error: { message: e.message, type: e.type, param: e.param ?? null, code: e.code ?? null } }, e.headers);
}

/** A body that could not be read (too large, not JSON, too deep), in OpenAI's shape. */
export function sendBodyError(res: http.ServerResponse, e: BodyError): void {
  sendError(res, { status: e.status, message: e.message, type: 'invalid_request_error', code: e.code });
}

/**
 * A node's word that the request is bad (400, 413, 422), for the client: as the node wrote it when
 * it is an error in JSON (the nodes speak this API), else its text in OpenAI's shape; either way
 * without the configured secrets (a node that echoes its key).
 */
export function sendRejected(res: http.ServerResponse, rejected: { status: number; body: string }, headers: Record<string, string>): void {
  if (isErrorBody(rejected.body)) return sendBody(res, rejected.status, scrub(rejected.body), headers);
  sendError(res, { status: rejected.status, message: errorMessage(rejected.body) ?? `HTTP ${rejected.status}`, type: 'invalid_request_error', headers });
}

/** Writing whole replies: JSON with its length, not chunked (one frame less to write and to parse). */
import type http from 'node:http';
import { jsonSafe } from '../system/text.js';

/**
 * A value from outside (a model id a node chose) as a response header: kept when it is printable
 * ASCII, else percent-encoded (`qwen-%E6%A8%A1%E5%9E%8B`, `a%0D%0Ab`), never a character Node
 * refuses (a 500) or a CR/LF (a header of the node's making). The body keeps the value as written.
 */
export function headerSafe(value: string): string {
  const safe = /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
  return safe.length > 256 ? `${safe.slice(0, 253)}...` : safe;
}

/**
 * A value a client chose (a model name), as one field of a log line: quoted and escaped when it is
 * not a plain word, so that a newline, an ESC sequence or a quote cannot forge or garble a line.
 */
export function logField(value: string): string {
  if (/^[\w.:/@+-]{1,200}$/.test(value)) return value;
  return jsonSafe(JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}...` : value));
}

/** jarvis's own JSON (errors, management, status): no secret in it, whatever a node said. */
export function sendJson(res: http.ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  sendBody(res, status, jsonSafe(JSON.stringify(value)), headers);
}

/** A JSON text already serialised (a node's reply passed through). */
export function sendBody(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** Whether a node's reply is an error object in JSON (`{"error": ...}`, or Anthropic's `{"type":"error"}`), to pass on as it is. */
export function isErrorBody(body: string): boolean {
  try {
    const v = JSON.parse(body) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) && ('error' in v || (v as { type?: unknown }).type === 'error');
  } catch {
    return false;
  }
}

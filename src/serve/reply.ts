/** Writing whole replies: JSON with its length, not chunked (one frame less to write and to parse). */
import type http from 'node:http';

/**
 * A value from outside (a model id a node chose) as a response header: kept when it is printable
 * ASCII, else percent-encoded (`qwen-%E6%A8%A1%E5%9E%8B`, `a%0D%0Ab`), never a character Node
 * refuses (a 500) or a CR/LF (a header of the node's making). The body keeps the value as written.
 */
export function headerSafe(value: string): string {
  const safe = /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
  return safe.length > 256 ? `${safe.slice(0, 253)}...` : safe;
}

export function sendJson(res: http.ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  sendBody(res, status, JSON.stringify(value), headers);
}

/** A JSON text already serialised (a node's reply passed through). */
export function sendBody(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** Writing whole replies: JSON with its length, not chunked (one frame less to write and to parse). */
import type http from 'node:http';

export function sendJson(res: http.ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  sendBody(res, status, JSON.stringify(value), headers);
}

/** A JSON text already serialised (a node's reply passed through). */
export function sendBody(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

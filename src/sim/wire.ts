/**
 * The wire shapes the simulated servers share: JSON replies, request bodies, Ollama's model names
 * and records, OpenAI's model list, tokens as words, a fixed embedding.
 */
import type http from 'node:http';
import type { SimKind } from './node.js';

/** A chat message as the sim reads it. */
export interface ChatMessage {
  role: string;
  content: string;
}

/** The names of the function tools in a request's `tools` (up to three). */
export function toolsToCall(tools: unknown): string[] {
  if (!Array.isArray(tools)) return [];
  return tools
    .map((t) => (t as { function?: { name?: unknown } } | null)?.function?.name)
    .filter((n): n is string => typeof n === 'string')
    .slice(0, 3);
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function parseJson(body: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(body);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 1 << 20) chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(''));
  });
}

/** Ollama names carry a tag; `qwen3` means `qwen3:latest`. */
export function ollamaName(name: string): string {
  return name.includes(':') ? name : `${name}:latest`;
}

export function ollamaModel(name: string) {
  const full = ollamaName(name);
  return {
    name: full,
    model: full,
    modified_at: '2026-10-01T12:00:00.000Z',
    size: 4683075271,
    digest: 'sha256:' + '0'.repeat(64),
    details: { format: 'gguf', family: 'qwen2', parameter_size: '7.6B', quantization_level: 'Q4_K_M' },
  };
}

export function openaiList(ids: string[], owner: string) {
  return { object: 'list', data: ids.map((id) => ({ id, object: 'model', created: 1730000000, owned_by: owner })) };
}

export function words(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}

export function embedding(): number[] {
  return Array.from({ length: 8 }, (_, i) => Math.round(Math.sin(i) * 1000) / 1000);
}

/** An error in the shape of the node's API: Anthropic's, Ollama's native `{"error": "..."}`, or OpenAI's. */
export function sendError(kind: SimKind, res: http.ServerResponse, status: number, message: string): void {
  if (kind === 'anthropic') {
    const type = ({ 400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error', 413: 'request_too_large', 429: 'rate_limit_error', 529: 'overloaded_error' } as Record<number, string>)[status] ?? 'api_error';
    return sendJson(res, status, { type: 'error', error: { type, message: status === 529 ? 'Overloaded' : message } });
  }
  // Ollama's native errors are {"error":"..."}; the OpenAI-style ones {"error":{...}}.
  if (kind === 'ollama') return sendJson(res, status, { error: message });
  return sendJson(res, status, { error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code: null } });
}

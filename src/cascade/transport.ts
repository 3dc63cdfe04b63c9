/**
 * Sends one chat completion to one node through its OpenAI-compatible API (Ollama, LM Studio and
 * llama.cpp all serve /v1/chat/completions), streamed or not, and turns every way it can fail into
 * a classified failure. Keep-alive connections: a cascade sends several requests to the same nodes.
 */
import http from 'node:http';
import https from 'node:https';
import type { NodeConfig } from '../config/schema.js';
import { classifyFailure, classifyReply, errorMessage, excerpt, matchModel, parseRetryAfter } from '../probe/classify.js';

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
  | 'model_missing'
  | 'stream_broken'
  | 'aborted';

export interface ChatFailure {
  class: ErrorClass;
  message: string;
  httpStatus?: number;
  retryAfterS?: number;
  /** Tokens already printed when a stream broke. */
  tokens?: number;
}

export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatRequest {
  model?: string;
  messages: ChatMessage[];
  stream: boolean;
  maxTokens?: number;
  /** Other OpenAI parameters passed through as they are (temperature, tools, ...): a proxy's job. */
  extra?: Record<string, unknown>;
}

export interface ChatSuccess {
  content: string;
  model?: string;
  tokens?: number;
  /** The upstream reply body, unparsed (non-streamed replies). */
  raw?: string;
}

export type ChatOutcome = { ok: true; value: ChatSuccess } | { ok: false; failure: ChatFailure };

export interface SendOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  onToken?: (text: string) => void;
  /** Every SSE line of a streamed reply, as received (a proxy forwards them). */
  onData?: (line: string) => void;
}

export type SendChat = (node: NodeConfig, request: ChatRequest, options: SendOptions) => Promise<ChatOutcome>;

const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 64 }), https: new https.Agent({ keepAlive: true, maxSockets: 64 }) };

export function chatUrl(node: NodeConfig): string | undefined {
  if (!node.url) return undefined;
  const root = node.url.replace(/\/+$/, '');
  return /\/v1$/.test(root) ? `${root}/chat/completions` : `${root}/v1/chat/completions`;
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

function failureFromError(error: unknown, timeoutMs: number, signal?: AbortSignal): ChatFailure {
  if (signal?.aborted) return { class: 'aborted', message: 'interrupted' };
  const c = classifyFailure(error, timeoutMs);
  const cls: ErrorClass = c.status === 'refused' || c.status === 'unreachable' || c.status === 'dns' || c.status === 'timeout' ? c.status : 'bad_response';
  return { class: cls, message: c.detail ?? c.status };
}

/** Sends one completion. Never throws: the outcome says how it went. */
export const sendChat: SendChat = (node, request, options) => {
  const url = chatUrl(node);
  if (!url) return Promise.resolve({ ok: false, failure: { class: 'bad_request', message: `${node.id} has no url to send requests to` } });
  const body = JSON.stringify({
    ...request.extra,
    ...(request.model && { model: request.model }),
    messages: request.messages,
    stream: request.stream,
    ...(request.maxTokens !== undefined && { max_tokens: request.maxTokens }),
  });
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  if (options.signal?.aborted) return Promise.resolve({ ok: false, failure: { class: 'aborted', message: 'interrupted' } });
  return new Promise<ChatOutcome>((resolve) => {
    let settled = false;
    let tokens = 0;
    const done = (outcome: ChatOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (!outcome.ok) req.destroy();
      resolve(outcome);
    };
    const fail = (failure: ChatFailure) => done({ ok: false, failure: tokens > 0 ? { ...failure, class: 'stream_broken', tokens, message: `the stream broke after ${tokens} token(s): ${failure.message}` } : failure });
    const req = lib.request(u, {
      method: 'POST',
      agent: u.protocol === 'https:' ? agents.https : agents.http,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), accept: request.stream ? 'text/event-stream' : 'application/json' },
    });
    const timer = setTimeout(() => fail({ class: 'timeout', message: `no complete answer within ${options.timeoutMs} ms` }), options.timeoutMs);
    const onAbort = () => fail({ class: 'aborted', message: 'interrupted' });
    options.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (error) => fail(failureFromError(error, options.timeoutMs, options.signal)));
    req.on('response', (res) => {
      res.setEncoding('utf8');
      let text = '';
      if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) {
        res.on('data', (d: string) => (text += d.length + text.length < 65536 ? d : ''));
        res.on('end', () => done({ ok: false, failure: classifyHttpError(res.statusCode ?? 0, res.headers, text) }));
        res.on('error', (error) => fail(failureFromError(error, options.timeoutMs, options.signal)));
        return;
      }
      const isSse = request.stream && /event-stream/.test(String(res.headers['content-type'] ?? ''));
      let content = '';
      let model: string | undefined;
      let finished = false;
      let pending = '';
      const onSseLine = (line: string) => {
        if (!line.startsWith('data:')) return;
        const data = line.slice(5).trim();
        if (data === '[DONE]') {
          finished = true;
          options.onData?.(line);
          return;
        }
        let chunk: { model?: string; choices?: { delta?: { content?: unknown }; finish_reason?: unknown }[]; error?: unknown };
        try {
          chunk = JSON.parse(data) as typeof chunk;
        } catch {
          return fail({ class: 'bad_response', message: `invalid stream chunk: ${excerpt(data)}` });
        }
        if (chunk.error) return fail({ class: 'server_error', message: `error in the stream: ${errorMessage(JSON.stringify(chunk)) ?? 'unknown'}` });
        model ??= chunk.model;
        const delta = chunk.choices?.[0]?.delta?.content;
        if (typeof delta === 'string' && delta.length > 0) {
          tokens++;
          content += delta;
          options.onToken?.(delta);
        }
        // Forwarded once it parsed: a proxy's client never sees a chunk we would reject.
        options.onData?.(line);
        if (chunk.choices?.[0]?.finish_reason) finished = true;
      };
      res.on('data', (d: string) => {
        if (!isSse) {
          text += d;
          return;
        }
        pending += d;
        let nl;
        while ((nl = pending.indexOf('\n')) >= 0) {
          onSseLine(pending.slice(0, nl).trim());
          pending = pending.slice(nl + 1);
          if (settled) return;
        }
      });
      res.on('error', (error) => fail(failureFromError(error, options.timeoutMs, options.signal)));
      res.on('aborted', () => fail({ class: 'bad_response', message: 'the connection closed mid-reply' }));
      res.on('end', () => {
        if (isSse) {
          if (pending.trim()) onSseLine(pending.trim());
          if (!finished) return fail({ class: 'bad_response', message: 'the stream ended without finishing' });
          return done({ ok: true, value: { content, ...(model && { model }), tokens } });
        }
        let json: { model?: string; choices?: { message?: { content?: unknown } }[] };
        try {
          json = JSON.parse(text) as typeof json;
        } catch {
          return fail({ class: 'bad_response', message: `not JSON: ${excerpt(text)}` });
        }
        const answer = json.choices?.[0]?.message?.content;
        if (typeof answer !== 'string') return fail({ class: 'bad_response', message: `no message content: ${excerpt(text)}` });
        // Not streamed by the server (or asked without streaming): print it whole.
        if (request.stream && answer) options.onToken?.(answer);
        done({ ok: true, value: { content: answer, ...(json.model && { model: json.model }), raw: text } });
      });
    });
    req.end(body);
  });
};

/** Lists the node's models to map a short configured name to a served id (LM Studio wants exact ids). */
export async function resolveModel(node: NodeConfig, wanted: string, timeoutMs: number): Promise<string | undefined> {
  if (!node.url) return undefined;
  const root = node.url.replace(/\/+$/, '');
  const url = /\/v1$/.test(root) ? `${root}/models` : `${root}/v1/models`;
  const { httpRequest } = await import('../probe/http.js');
  try {
    const reply = await httpRequest(url, { timeoutMs });
    const c = classifyReply('openai', reply, wanted);
    return c.matchedModel ?? (c.models?.length === 1 ? c.models[0] : undefined);
  } catch {
    return undefined;
  }
}

export { matchModel };

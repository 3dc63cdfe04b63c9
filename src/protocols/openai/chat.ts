/**
 * OpenAI's chat completions (and embeddings) wire format, as pure code: the request payload, a
 * whole reply, and a streamed reply read chunk by chunk. Ollama, LM Studio and llama.cpp all
 * speak it on /v1.
 */
import { errorMessage, excerpt } from '../../probe/classify.js';
import { withModel, type RawJson } from '../raw-json.js';

export interface ChatMessage {
  role: string;
  /** Text, or content parts (text, image_url); null on an assistant turn that only calls tools. */
  content: string | null | readonly unknown[];
  tool_calls?: readonly unknown[];
  tool_call_id?: string;
}

export interface ChatRequest {
  endpoint?: 'chat' | 'embeddings';
  model?: string;
  messages: ChatMessage[];
  stream: boolean;
  maxTokens?: number;
  /** Fields passed through as they are (tools, temperature, an embeddings `input`, ...). */
  extra?: Record<string, unknown>;
  /**
   * The client's body as it came, when it says what the fields above say: sent as it is, with
   * the node's model, rather than serialised again. `extra` is only needed beside it when its
   * model is `unknown` (the only case where the fields are serialised instead).
   */
  raw?: RawJson;
  /** The client's own Anthropic Messages request: sent as it is to nodes that speak that API. */
  messagesApi?: { body: Record<string, unknown>; headers: Record<string, string>; raw?: RawJson };
  /** The client's own Ollama request (`/api/chat`, `/api/generate`): sent as it is to Ollama nodes. */
  ollamaApi?: { path: '/api/chat' | '/api/generate'; body: Record<string, unknown>; raw?: RawJson };
}

/** A function call the model asked for (OpenAI's `tool_calls`), arguments as the JSON text it wrote. */
export interface ToolCall {
  id?: string;
  name: string;
  arguments: string;
}

export interface ChatSuccess {
  content: string;
  toolCalls?: ToolCall[];
  model?: string;
  /** Streamed: how many content chunks came. */
  tokens?: number;
  /** The reply's JSON as received (a proxy answers with it). */
  raw?: string;
  /** Streamed: ms from sending to the first meaningful chunk. */
  firstTokenMs?: number;
}

/** What is wrong with a chat request's messages, in OpenAI's words (its param and code), if anything. */
export interface MessageProblem {
  param: string;
  message: string;
  code: 'invalid_type' | 'invalid_value' | 'missing_required_parameter';
}

const ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'];

/** The JSON type of a value as OpenAI's errors name it. */
function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a decimal';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

/**
 * Checks each message's shape (an object, a known role, content as text, null or a list of typed
 * parts, tool calls as a list), as OpenAI itself does before any model sees it: a request no node
 * can take is the client's error, answered 400 at once rather than sent to every node in turn.
 * What each node makes of the rest (an image to a text model) is the node's to say.
 */
export function messagesProblem(messages: readonly unknown[]): MessageProblem | undefined {
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    const at = `messages[${i}]`;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return { param: at, code: 'invalid_type', message: `Invalid type for '${at}': expected an object, but got ${typeName(m)} instead.` };
    const { role, content, tool_calls: calls } = m as Record<string, unknown>;
    if (role === undefined) return { param: `${at}.role`, code: 'missing_required_parameter', message: `Missing required parameter: '${at}.role'.` };
    if (typeof role !== 'string') return { param: `${at}.role`, code: 'invalid_type', message: `Invalid type for '${at}.role': expected a string, but got ${typeName(role)} instead.` };
    if (!ROLES.includes(role)) return { param: `${at}.role`, code: 'invalid_value', message: `Invalid value: ${JSON.stringify(role.slice(0, 40))}. Supported values are: ${ROLES.map((r) => `'${r}'`).join(', ')}.` };
    if (content === undefined || content === null) {
      // Only an assistant turn may leave its content out (it calls tools instead).
      if (role !== 'assistant') return { param: `${at}.content`, code: 'missing_required_parameter', message: `Missing required parameter: '${at}.content'.` };
    } else if (Array.isArray(content)) {
      for (let j = 0; j < content.length; j++) {
        const part = content[j] as unknown;
        const pat = `${at}.content[${j}]`;
        if (typeof part !== 'object' || part === null || Array.isArray(part)) return { param: pat, code: 'invalid_type', message: `Invalid type for '${pat}': expected an object, but got ${typeName(part)} instead.` };
        const { type, text } = part as Record<string, unknown>;
        if (typeof type !== 'string') return { param: `${pat}.type`, code: 'missing_required_parameter', message: `Missing required parameter: '${pat}.type'.` };
        if (type === 'text' && typeof text !== 'string') return { param: `${pat}.text`, code: 'invalid_type', message: `Invalid type for '${pat}.text': expected a string, but got ${typeName(text)} instead.` };
      }
    } else if (typeof content !== 'string') {
      return { param: `${at}.content`, code: 'invalid_type', message: `Invalid type for '${at}.content': expected one of a string or an array of objects, but got ${typeName(content)} instead.` };
    }
    if (calls !== undefined && calls !== null && !Array.isArray(calls)) return { param: `${at}.tool_calls`, code: 'invalid_type', message: `Invalid type for '${at}.tool_calls': expected an array, but got ${typeName(calls)} instead.` };
  }
  return undefined;
}

/** The request body for a node. */
export function chatPayload(request: ChatRequest): string {
  const text = request.raw && withModel(request.raw, request.model || undefined);
  if (text !== undefined) return text;
  const payload: Record<string, unknown> = request.extra ? { ...request.extra } : {};
  if (request.model) payload.model = request.model;
  if ((request.endpoint ?? 'chat') === 'chat') {
    payload.messages = request.messages;
    payload.stream = request.stream;
    if (request.maxTokens !== undefined) payload.max_tokens = request.maxTokens;
  }
  return JSON.stringify(payload);
}

interface CompletionJson {
  model?: string;
  choices?: { message?: { content?: unknown; tool_calls?: unknown; refusal?: unknown } }[];
  data?: unknown;
}

interface ChunkJson {
  model?: string;
  choices?: { delta?: { content?: unknown; tool_calls?: unknown; refusal?: unknown }; finish_reason?: unknown }[];
  error?: unknown;
}

/** OpenAI's `tool_calls` as ToolCalls; undefined unless it is a non-empty list of function calls. */
function toolCallsOf(value: unknown): ToolCall[] | undefined {
  if (!Array.isArray(value) || value.length === 0) return undefined;
  const calls: ToolCall[] = [];
  for (const c of value as { id?: unknown; function?: { name?: unknown; arguments?: unknown } }[]) {
    if (typeof c?.function?.name !== 'string') return undefined;
    const args = c.function.arguments;
    calls.push({ ...(typeof c.id === 'string' && { id: c.id }), name: c.function.name, arguments: typeof args === 'string' ? args : JSON.stringify(args ?? {}) });
  }
  return calls;
}

/**
 * Reads a whole (non-streamed) reply: a completion is valid when it carries content, tool calls
 * or a refusal (a model that calls a tool answers `"content": null`); embeddings when they carry
 * their `data` list.
 */
export function readReply(text: string, endpoint: 'chat' | 'embeddings'): { ok: true; value: ChatSuccess } | { ok: false; message: string } {
  let json: CompletionJson;
  try {
    json = JSON.parse(text) as CompletionJson;
  } catch {
    return { ok: false, message: `not JSON: ${excerpt(text)}` };
  }
  const model = typeof json?.model === 'string' ? json.model : undefined;
  if (endpoint === 'embeddings') {
    if (!Array.isArray(json?.data)) return { ok: false, message: `no embeddings (\`data\`) in the reply: ${excerpt(text)}` };
    return { ok: true, value: { content: '', ...(model && { model }), raw: text } };
  }
  const message = json?.choices?.[0]?.message;
  const content = message?.content;
  const toolCalls = toolCallsOf(message?.tool_calls);
  const refusal = typeof message?.refusal === 'string' ? message.refusal : undefined;
  if (typeof content !== 'string' && !toolCalls && refusal === undefined) return { ok: false, message: `no message content, tool calls or refusal: ${excerpt(text)}` };
  // Set one by one, not spread: one shape for every reply (this runs once per proxied request).
  const value: ChatSuccess = { content: typeof content === 'string' ? content : (refusal ?? ''), raw: text };
  if (toolCalls) value.toolCalls = toolCalls;
  if (model) value.model = model;
  return { ok: true, value };
}

/** Streamed tool calls, put together from their deltas (a name, then the arguments in pieces). */
function mergeToolCallDeltas(calls: ToolCall[], deltas: unknown): boolean {
  if (!Array.isArray(deltas) || deltas.length === 0) return false;
  for (const d of deltas as { index?: unknown; id?: unknown; function?: { name?: unknown; arguments?: unknown } }[]) {
    const i = typeof d?.index === 'number' ? d.index : calls.length;
    const call = (calls[i] ??= { name: '', arguments: '' });
    if (typeof d?.id === 'string') call.id = d.id;
    if (typeof d?.function?.name === 'string') call.name += d.function.name;
    if (typeof d?.function?.arguments === 'string') call.arguments += d.function.arguments;
  }
  return true;
}

/** What one streamed chunk was. */
export type ChunkRead =
  /** `meaningful`: it carried something (content, a tool call, a refusal, the finish); the role chunk does not. */
  | { ok: true; meaningful: boolean; token?: string }
  | { ok: false; kind: 'bad_chunk' | 'error'; message: string };

/** A streamed reply read event by event (OpenAI's chunks, or Anthropic's events passed through). */
export interface StreamRead {
  tokens: number;
  finished: boolean;
  read(event: { event?: string; data: string }): ChunkRead;
  /** The event as a proxy forwards it (its SSE text without the blank line). */
  line(event: { event?: string; data: string }): string;
  /** The event that ends a stream cleanly is always forwarded ([DONE], message_stop). */
  isEnd(event: { event?: string; data: string }): boolean;
  result(firstTokenMs: number | undefined): ChatSuccess;
}

/**
 * A streamed completion, put together from its chunks (each SSE event's data). A proxy, which
 * forwards the chunks as they come, has no use for the text put together (`keepText: false`):
 * a long answer would be held twice per open stream.
 */
export class ChatStream implements StreamRead {
  content = '';
  model: string | undefined;
  tokens = 0;
  finished = false;
  readonly toolCalls: ToolCall[] = [];

  constructor(private readonly keepText = true) {}

  line(e: { data: string }): string {
    return `data: ${e.data}`;
  }

  isEnd(e: { data: string }): boolean {
    return e.data === '[DONE]';
  }

  read(e: { data: string } | string): ChunkRead {
    const data = typeof e === 'string' ? e : e.data;
    if (data === '[DONE]') {
      this.finished = true;
      return { ok: true, meaningful: false };
    }
    let chunk: ChunkJson;
    try {
      chunk = JSON.parse(data) as ChunkJson;
    } catch {
      return { ok: false, kind: 'bad_chunk', message: `invalid stream chunk: ${excerpt(data)}` };
    }
    if (chunk.error) return { ok: false, kind: 'error', message: `error in the stream: ${errorMessage(JSON.stringify(chunk)) ?? 'unknown'}` };
    this.model ??= chunk.model;
    const choice = chunk.choices?.[0];
    const delta = choice?.delta?.content;
    let meaningful = false;
    let token: string | undefined;
    if (typeof delta === 'string' && delta.length > 0) {
      this.tokens++;
      if (this.keepText) this.content += delta;
      token = delta;
      meaningful = true;
    }
    if (mergeToolCallDeltas(this.toolCalls, choice?.delta?.tool_calls)) meaningful = true;
    if (typeof choice?.delta?.refusal === 'string' && choice.delta.refusal) meaningful = true;
    if (choice?.finish_reason) this.finished = meaningful = true;
    return token === undefined ? { ok: true, meaningful } : { ok: true, meaningful, token };
  }

  result(firstTokenMs: number | undefined): ChatSuccess {
    return { content: this.content, ...(this.toolCalls.length > 0 && { toolCalls: this.toolCalls }), ...(this.model && { model: this.model }), tokens: this.tokens, ...(firstTokenMs !== undefined && { firstTokenMs: Math.round(firstTokenMs) }) };
  }
}

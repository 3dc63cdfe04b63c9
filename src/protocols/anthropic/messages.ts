/**
 * Anthropic's Messages API as pure code, and its translation to and from OpenAI's chat
 * completions (docs/protocols.md, "Anthropic Messages API"): a request becomes a chat request, a
 * completion becomes a message, and a streamed completion, chunk by chunk, becomes the Messages
 * event sequence. No I/O here.
 */
import { randomBytes } from 'node:crypto';

/** What the translation hands the cascade: chat messages and the fields passed through. */
interface TranslatedRequest {
  messages: Record<string, unknown>[];
  maxTokens: number;
  stream: boolean;
  extra: Record<string, unknown>;
}

export type Translation = { ok: true; value: TranslatedRequest } | { ok: false; message: string };

type Block = Record<string, unknown> & { type?: unknown };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Text of a `system` or a `tool_result` content: a string, or text blocks joined. */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .filter((b): b is Block => isObject(b) && b.type === 'text' && typeof b.text === 'string')
    .map((b) => b.text as string)
    .join('\n');
}

/** An image block as OpenAI's `image_url` part (a data URI for base64 sources). */
function imagePart(b: Block): Record<string, unknown> | undefined {
  const src = b.source;
  if (!isObject(src)) return undefined;
  if (src.type === 'base64' && typeof src.media_type === 'string' && typeof src.data === 'string') return { type: 'image_url', image_url: { url: `data:${src.media_type};base64,${src.data}` } };
  if (src.type === 'url' && typeof src.url === 'string') return { type: 'image_url', image_url: { url: src.url } };
  return undefined;
}

/**
 * A Messages request as a chat request for an OpenAI-style node. `cache_control`, `thinking`
 * (the request's and the blocks'), `context_management`, `output_config`, `metadata` and
 * `top_k` have no counterpart and are dropped; so are block types this does not know.
 */
export function toChatRequest(body: Record<string, unknown>): Translation {
  if (typeof body.max_tokens !== 'number' || !Number.isInteger(body.max_tokens) || body.max_tokens < 1) return { ok: false, message: 'max_tokens: Field required (a whole number of at least 1)' };
  if (!Array.isArray(body.messages) || body.messages.length === 0) return { ok: false, message: 'messages: Field required (a non-empty list)' };
  const out: Record<string, unknown>[] = [];
  const system = textOf(body.system);
  if (system) out.push({ role: 'system', content: system });
  for (const [i, m] of (body.messages as unknown[]).entries()) {
    if (!isObject(m) || typeof m.role !== 'string') return { ok: false, message: `messages.${i}: expected {role, content}` };
    const bad = contentProblem(m.content, `messages.${i}.content`);
    if (bad) return { ok: false, message: bad };
    const blocks: Block[] = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : (m.content as Block[]);
    if (m.role === 'system') {
      // Claude Code puts a system message mid-conversation.
      const text = textOf(m.content);
      if (text) out.push({ role: 'system', content: text });
      continue;
    }
    if (m.role === 'assistant') {
      const text = blocks.filter((b) => b.type === 'text' && typeof b.text === 'string').map((b) => b.text as string).join('');
      const calls = blocks
        .filter((b) => b.type === 'tool_use')
        .map((b) => ({ id: str(b.id), type: 'function', function: { name: str(b.name), arguments: JSON.stringify(b.input ?? {}) } }));
      out.push({ role: 'assistant', content: text || null, ...(calls.length > 0 && { tool_calls: calls }) });
      continue;
    }
    if (m.role !== 'user') return { ok: false, message: `messages.${i}.role: expected user, assistant or system, got "${m.role}"` };
    // Tool results first, one `tool` message each, then the user's own text and images.
    for (const b of blocks) {
      if (b.type !== 'tool_result') continue;
      const text = textOf(b.content);
      out.push({ role: 'tool', tool_call_id: str(b.tool_use_id), content: b.is_error === true ? `Error: ${text}` : text });
    }
    const parts: Record<string, unknown>[] = [];
    for (const b of blocks) {
      if (b.type === 'text' && typeof b.text === 'string') parts.push({ type: 'text', text: b.text });
      else if (b.type === 'image') {
        const part = imagePart(b);
        if (part) parts.push(part);
      }
    }
    if (parts.length === 0) continue;
    out.push({ role: 'user', content: parts.every((p) => p.type === 'text') ? parts.map((p) => p.text as string).join('\n') : parts });
  }
  const extra: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    extra.tools = (body.tools as unknown[]).filter(isObject).map((t) => ({ type: 'function', function: { name: t.name, ...(typeof t.description === 'string' && { description: t.description }), parameters: t.input_schema ?? { type: 'object', properties: {} } } }));
  }
  const choice = body.tool_choice;
  if (isObject(choice)) {
    if (choice.type === 'any') extra.tool_choice = 'required';
    else if (choice.type === 'tool' && typeof choice.name === 'string') extra.tool_choice = { type: 'function', function: { name: choice.name } };
    else if (choice.type === 'none') extra.tool_choice = 'none';
    else if (choice.type === 'auto') extra.tool_choice = 'auto';
  }
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) extra.stop = body.stop_sequences;
  for (const k of ['temperature', 'top_p'] as const) if (typeof body[k] === 'number') extra[k] = body[k];
  const stream = body.stream === true;
  // Usage arrives in a last chunk only when asked for (llama.cpp, Ollama, LM Studio honour it).
  if (stream) extra.stream_options = { include_usage: true };
  return { ok: true, value: { messages: out, maxTokens: body.max_tokens, stream, extra } };
}

/** The fields each known content block needs, as strings (`source`: an object). Block types not listed pass as they are. */
const BLOCK_FIELDS: Record<string, readonly string[]> = { text: ['text'], tool_use: ['id', 'name'], tool_result: ['tool_use_id'], image: ['source'] };

/**
 * What is wrong with a message's content (text, or a list of typed blocks whose known types carry
 * their fields), in the API's words; a request no node can take is answered 400 at once.
 */
function contentProblem(content: unknown, at: string): string | undefined {
  if (typeof content === 'string') return undefined;
  if (!Array.isArray(content)) return `${at}: Input should be a valid string or a valid list`;
  for (let j = 0; j < content.length; j++) {
    const b = content[j] as unknown;
    if (!isObject(b) || typeof b.type !== 'string') return `${at}.${j}: Input should be an object with a \`type\``;
    for (const field of BLOCK_FIELDS[b.type] ?? []) {
      const ok = field === 'source' ? isObject(b[field]) : typeof b[field] === 'string';
      if (!ok) return `${at}.${j}.${field}: Field required${b[field] === undefined ? '' : ` (expected ${field === 'source' ? 'an object' : 'a string'})`}`;
    }
  }
  return undefined;
}

type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'refusal';

function stopReasonOf(finish: unknown): StopReason {
  switch (finish) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

function messageId(): string {
  return `msg_${randomBytes(12).toString('hex')}`;
}

export type Message = { ok: true; value: Record<string, unknown> } | { ok: false; message: string };

/** Tool arguments as the `input` object Anthropic's clients expect; invalid JSON is a failure, not an empty input. */
function toolInput(name: string, args: string): { ok: true; value: unknown } | { ok: false; message: string } {
  if (args.trim() === '') return { ok: true, value: {} };
  try {
    const value: unknown = JSON.parse(args);
    if (isObject(value)) return { ok: true, value };
  } catch {
    // reported below
  }
  return { ok: false, message: `the model called tool "${name}" with arguments that are not a JSON object: ${args.slice(0, 200)}` };
}

/** A whole chat completion (its JSON text) as a Messages reply. */
export function toMessage(raw: string, model: string): Message {
  let json: { model?: unknown; choices?: { message?: Record<string, unknown>; finish_reason?: unknown }[]; usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } };
  try {
    json = JSON.parse(raw) as typeof json;
  } catch {
    return { ok: false, message: 'the node answered with something that is not JSON' };
  }
  const choice = json.choices?.[0];
  const msg = choice?.message ?? {};
  const content: Record<string, unknown>[] = [];
  if (typeof msg.reasoning_content === 'string' && msg.reasoning_content) content.push({ type: 'thinking', thinking: msg.reasoning_content, signature: '' });
  if (typeof msg.content === 'string' && msg.content) content.push({ type: 'text', text: msg.content });
  if (typeof msg.refusal === 'string' && msg.refusal) content.push({ type: 'text', text: msg.refusal });
  if (Array.isArray(msg.tool_calls)) {
    for (const c of msg.tool_calls as { id?: unknown; function?: { name?: unknown; arguments?: unknown } }[]) {
      const name = typeof c?.function?.name === 'string' ? c.function.name : '';
      if (!name) continue;
      const args = c.function?.arguments;
      const input = typeof args === 'string' ? toolInput(name, args) : { ok: true as const, value: args ?? {} };
      if (!input.ok) return input;
      content.push({ type: 'tool_use', id: typeof c.id === 'string' && c.id ? c.id : `toolu_${randomBytes(8).toString('hex')}`, name, input: input.value });
    }
  }
  const stop = content.some((b) => b.type === 'tool_use') ? 'tool_use' : stopReasonOf(choice?.finish_reason);
  return {
    ok: true,
    value: {
      id: messageId(),
      type: 'message',
      role: 'assistant',
      model: typeof json.model === 'string' ? json.model : model,
      content,
      stop_reason: stop,
      stop_sequence: null,
      usage: { input_tokens: numberOr(json.usage?.prompt_tokens, 0), output_tokens: numberOr(json.usage?.completion_tokens, 0) },
    },
  };
}

const numberOr = (v: unknown, d: number) => (typeof v === 'number' && Number.isFinite(v) ? v : d);

/** One server-sent event in Anthropic's framing. */
/** The Messages API's keep-alive event; it may come at any point of a stream. */
export const PING_EVENT = 'event: ping\ndata: {"type":"ping"}\n\n';

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** An error in Anthropic's shape, as a body or inside a stream. */
export function errorBody(type: string, message: string): { type: 'error'; error: { type: string; message: string } } {
  return { type: 'error', error: { type, message } };
}

type Open = { kind: 'text' | 'thinking' } | { kind: 'tool'; name: string; args: string };

/**
 * A streamed chat completion, chunk by chunk, as Messages events: `message_start` first, then
 * one open block at a time (thinking, text, each tool call) with indices from 0, tool arguments
 * as `input_json_delta`, and at the end `message_delta` (stop reason, usage) and
 * `message_stop`. A tool call is opened once its name is known (a first delta may carry only an
 * id); arguments that are not a JSON object make `end()` an `error` event instead.
 */
export class MessagesStream {
  #started = false;
  #index = -1;
  #open: Open | undefined;
  /** OpenAI's tool call index -> what is known of it before its block opens, or that it is open. */
  #tools = new Map<number, { id?: string; name: string; args: string; block?: number }>();
  #finish: unknown;
  #usage = { input_tokens: 0, output_tokens: 0 };
  #failure: string | undefined;
  readonly id = messageId();

  constructor(readonly model: string) {}

  /** The events that open the message (sent when the first chunk arrives). */
  start(): string {
    this.#started = true;
    return (
      sse('message_start', { type: 'message_start', message: { id: this.id, type: 'message', role: 'assistant', model: this.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 } } }) +
      PING_EVENT
    );
  }

  /** Reads one chunk's JSON (`[DONE]` and unparsable data give nothing); returns the events it makes. */
  chunk(data: string): string {
    if (data === '[DONE]' || this.#failure) return '';
    let json: { model?: unknown; choices?: { delta?: Record<string, unknown>; finish_reason?: unknown }[]; usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } | null };
    try {
      json = JSON.parse(data) as typeof json;
    } catch {
      return '';
    }
    let out = this.#started ? '' : this.start();
    if (json.usage) this.#usage = { input_tokens: numberOr(json.usage.prompt_tokens, this.#usage.input_tokens), output_tokens: numberOr(json.usage.completion_tokens, this.#usage.output_tokens) };
    const choice = json.choices?.[0];
    const delta = choice?.delta ?? {};
    if (typeof delta.reasoning_content === 'string' && delta.reasoning_content) {
      out += this.#ensure('thinking') + sse('content_block_delta', { type: 'content_block_delta', index: this.#index, delta: { type: 'thinking_delta', thinking: delta.reasoning_content } });
    }
    if (typeof delta.content === 'string' && delta.content) {
      out += this.#ensure('text') + sse('content_block_delta', { type: 'content_block_delta', index: this.#index, delta: { type: 'text_delta', text: delta.content } });
    }
    if (Array.isArray(delta.tool_calls)) {
      for (const d of delta.tool_calls as { index?: unknown; id?: unknown; function?: { name?: unknown; arguments?: unknown } }[]) out += this.#toolDelta(d);
    }
    if (choice?.finish_reason) this.#finish = choice.finish_reason;
    return out;
  }

  #toolDelta(d: { index?: unknown; id?: unknown; function?: { name?: unknown; arguments?: unknown } }): string {
    const key = typeof d.index === 'number' ? d.index : this.#tools.size;
    const t = this.#tools.get(key) ?? { name: '', args: '' };
    this.#tools.set(key, t);
    if (typeof d.id === 'string' && d.id) t.id = d.id;
    if (typeof d.function?.name === 'string') t.name += d.function.name;
    const piece = typeof d.function?.arguments === 'string' ? d.function.arguments : '';
    let out = '';
    if (t.block === undefined) {
      t.args += piece;
      if (!t.name) return '';
      // Its name is known: open its block, with the arguments that came before.
      out += this.#close();
      t.block = ++this.#index;
      this.#open = { kind: 'tool', name: t.name, args: '' };
      out += sse('content_block_start', { type: 'content_block_start', index: t.block, content_block: { type: 'tool_use', id: t.id ?? `toolu_${randomBytes(8).toString('hex')}`, name: t.name, input: {} } });
      if (t.args) out += this.#args(t.args);
      return out;
    }
    // A call whose block was closed by another one cannot take more arguments in order.
    if (piece && this.#open?.kind === 'tool' && this.#index === t.block) out += this.#args(piece);
    else if (piece) this.#failure = `the model interleaved the arguments of two tool calls; cannot stream them in order`;
    return out;
  }

  #args(piece: string): string {
    if (this.#open?.kind === 'tool') this.#open.args += piece;
    return sse('content_block_delta', { type: 'content_block_delta', index: this.#index, delta: { type: 'input_json_delta', partial_json: piece } });
  }

  #ensure(kind: 'text' | 'thinking'): string {
    if (this.#open?.kind === kind) return '';
    const out = this.#close();
    this.#index++;
    this.#open = { kind };
    return out + sse('content_block_start', { type: 'content_block_start', index: this.#index, content_block: kind === 'text' ? { type: 'text', text: '' } : { type: 'thinking', thinking: '', signature: '' } });
  }

  #close(): string {
    const open = this.#open;
    if (!open) return '';
    this.#open = undefined;
    if (open.kind === 'tool') {
      const input = toolInput(open.name, open.args);
      if (!input.ok) this.#failure = input.message;
    }
    return sse('content_block_stop', { type: 'content_block_stop', index: this.#index });
  }

  /** The events that end the message, or an `error` event when the reply cannot be given as Messages. */
  end(): string {
    let out = this.#started ? '' : this.start();
    out += this.#close();
    const unopened = [...this.#tools.values()].find((t) => t.block === undefined);
    if (unopened) this.#failure ??= 'the model sent a tool call without a name';
    if (this.#failure) return out + sse('error', errorBody('api_error', this.#failure));
    const stop = [...this.#tools.values()].length > 0 ? 'tool_use' : stopReasonOf(this.#finish);
    return out + sse('message_delta', { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: this.#usage.output_tokens } }) + sse('message_stop', { type: 'message_stop' });
  }

  /** The reply could not be finished (the node broke off): an `error` event, never a clean end. */
  fail(type: 'overloaded_error' | 'api_error', message: string): string {
    return sse('error', errorBody(type, message));
  }
}

/** A whole Messages reply as the event sequence (a client that asked to stream, a node that answered whole). */
export function messageEvents(message: Record<string, unknown>): string {
  let out = sse('message_start', { type: 'message_start', message: { ...message, content: [], stop_reason: null, usage: { input_tokens: (message.usage as { input_tokens?: number } | undefined)?.input_tokens ?? 0, output_tokens: 0 } } });
  for (const [index, b] of (message.content as Record<string, unknown>[]).entries()) {
    if (b.type === 'text') {
      out += sse('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      out += sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: b.text } });
    } else if (b.type === 'thinking') {
      out += sse('content_block_start', { type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } });
      out += sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: b.thinking } });
    } else {
      out += sse('content_block_start', { type: 'content_block_start', index, content_block: { ...b, input: {} } });
      out += sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(b.input ?? {}) } });
    }
    out += sse('content_block_stop', { type: 'content_block_stop', index });
  }
  const usage = message.usage as { output_tokens?: number } | undefined;
  return out + sse('message_delta', { type: 'message_delta', delta: { stop_reason: message.stop_reason, stop_sequence: null }, usage: { output_tokens: usage?.output_tokens ?? 0 } }) + sse('message_stop', { type: 'message_stop' });
}

/**
 * An estimate of a request's input tokens (system, messages, tools), for `count_tokens` when no
 * node can count: about four characters a token, as tokenizers of English and code average.
 */
export function estimateInputTokens(body: Record<string, unknown>): number {
  const text = [JSON.stringify(body.system ?? ''), JSON.stringify(body.messages ?? []), JSON.stringify(body.tools ?? [])].join('');
  return Math.max(1, Math.ceil(text.length / 4));
}

/** A whole Messages reply from a node that speaks the API: valid when it is a `message` with content. */
export function readMessageReply(text: string): { ok: true; value: { content: string; model?: string; raw: string } } | { ok: false; message: string } {
  let json: { type?: unknown; content?: unknown; model?: unknown };
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    return { ok: false, message: `not JSON: ${text.slice(0, 200)}` };
  }
  if (json?.type !== 'message' || !Array.isArray(json.content)) return { ok: false, message: `not a Messages reply: ${text.slice(0, 200)}` };
  const content = (json.content as { type?: unknown; text?: unknown }[]).filter((b) => b?.type === 'text' && typeof b.text === 'string').map((b) => b.text as string).join('');
  return { ok: true, value: { content, ...(typeof json.model === 'string' && { model: json.model }), raw: text } };
}

/**
 * A Messages stream from a node that speaks the API, read only to know where it stands (it is
 * forwarded as it came): `message_start` and `ping` are not yet an answer (a failover may still
 * happen); the first content block is; `message_stop` finishes it; an `error` event is a failure.
 */
export class MessagesPassStream {
  tokens = 0;
  finished = false;
  #content = '';
  #model: string | undefined;

  /** `keepText: false` for a proxy, which forwards the events and has no use for the text (see ChatStream). */
  constructor(private readonly keepText = true) {}

  read(e: { event?: string; data: string }): { ok: true; meaningful: boolean; token?: string } | { ok: false; kind: 'bad_chunk' | 'error'; message: string } {
    let json: { type?: unknown; message?: { model?: unknown }; delta?: { type?: unknown; text?: unknown }; error?: { type?: unknown; message?: unknown } };
    try {
      json = JSON.parse(e.data) as typeof json;
    } catch {
      return { ok: false, kind: 'bad_chunk', message: `invalid stream event: ${e.data.slice(0, 200)}` };
    }
    const type = e.event ?? json.type;
    if (type === 'error') return { ok: false, kind: 'error', message: `error in the stream: ${typeof json.error?.type === 'string' ? `${json.error.type}: ` : ''}${typeof json.error?.message === 'string' ? json.error.message : 'unknown'}` };
    if (type === 'message_start') {
      if (typeof json.message?.model === 'string') this.#model = json.message.model;
      return { ok: true, meaningful: false };
    }
    if (type === 'ping') return { ok: true, meaningful: false };
    if (type === 'message_stop') this.finished = true;
    if (type === 'content_block_delta' && json.delta?.type === 'text_delta' && typeof json.delta.text === 'string') {
      this.tokens++;
      if (this.keepText) this.#content += json.delta.text;
      return { ok: true, meaningful: true, token: json.delta.text };
    }
    return { ok: true, meaningful: true };
  }

  line(e: { event?: string; data: string }): string {
    return e.event ? `event: ${e.event}\ndata: ${e.data}` : `data: ${e.data}`;
  }

  isEnd(e: { event?: string; data: string }): boolean {
    return e.event === 'message_stop';
  }

  result(firstTokenMs: number | undefined): { content: string; model?: string; tokens: number; firstTokenMs?: number } {
    return { content: this.#content, ...(this.#model && { model: this.#model }), tokens: this.tokens, ...(firstTokenMs !== undefined && { firstTokenMs: Math.round(firstTokenMs) }) };
  }
}

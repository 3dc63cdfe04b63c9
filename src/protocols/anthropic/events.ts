/**
 * Messages API streams as pure code: a streamed OpenAI completion, chunk by chunk, becomes the
 * Messages event sequence (MessagesStream); a whole reply its events (messageEvents); and a node's
 * own Messages stream is read only to know where it stands (MessagesPassStream). No I/O here.
 */
import { messageId, numberOr, stopReasonOf, toolInput, toolUseId } from './reply.js';

/** The Messages API's keep-alive event; it may come at any point of a stream. */
export const PING_EVENT = 'event: ping\ndata: {"type":"ping"}\n\n';

/** One server-sent event in Anthropic's framing. */
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
      out += sse('content_block_start', { type: 'content_block_start', index: t.block, content_block: { type: 'tool_use', id: t.id ?? toolUseId(), name: t.name, input: {} } });
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
 * A Messages stream from a node that speaks the API, read only to know where it stands (it is
 * forwarded as it came): `message_start` and `ping` are not yet an answer (a failover may still
 * happen); the first content block is; `message_stop` finishes it; an `error` event is a failure.
 */
export class MessagesPassStream {
  tokens = 0;
  finished = false;
  #content = '';
  #model: string | undefined;
  /** The answer's tool calls (`tool_use` blocks, their input from its JSON deltas): what affinity hashes of an answer. */
  readonly #calls: { name: string; arguments: string }[] = [];
  #call: { name: string; arguments: string } | undefined;

  /** `keepText: false` for a proxy, which forwards the events and has no use for the text (see ChatStream). */
  constructor(private readonly keepText = true) {}

  read(e: { event?: string; data: string }): { ok: true; meaningful: boolean; token?: string } | { ok: false; kind: 'bad_chunk' | 'error'; message: string } {
    let json: { type?: unknown; message?: { model?: unknown }; delta?: { type?: unknown; text?: unknown; partial_json?: unknown }; content_block?: { type?: unknown; name?: unknown }; error?: { type?: unknown; message?: unknown } };
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
    if (type === 'content_block_start') {
      this.#call = json.content_block?.type === 'tool_use' && typeof json.content_block.name === 'string' ? { name: json.content_block.name, arguments: '' } : undefined;
      if (this.#call) this.#calls.push(this.#call);
    } else if (type === 'content_block_delta' && json.delta?.type === 'input_json_delta' && typeof json.delta.partial_json === 'string' && this.#call) this.#call.arguments += json.delta.partial_json;
    return { ok: true, meaningful: true };
  }

  line(e: { event?: string; data: string }): string {
    return e.event ? `event: ${e.event}\ndata: ${e.data}` : `data: ${e.data}`;
  }

  isEnd(e: { event?: string; data: string }): boolean {
    return e.event === 'message_stop';
  }

  result(firstTokenMs: number | undefined): { content: string; model?: string; tokens: number; firstTokenMs?: number; toolCalls?: { name: string; arguments: string }[] } {
    return { content: this.#content, ...(this.#model && { model: this.#model }), tokens: this.tokens, ...(firstTokenMs !== undefined && { firstTokenMs: Math.round(firstTokenMs) }), ...(this.#calls.length > 0 && { toolCalls: this.#calls }) };
  }
}

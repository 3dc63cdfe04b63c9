/**
 * Ollama's own API spoken to an Ollama node (the client's body as sent, the node's model name in
 * it), pure: the payload, a whole reply read, and a stream read line by line to know where it
 * stands (each line is forwarded as it came): text (or thinking, or tool calls) is an answer, a
 * line with `done: true` finishes it, an `{"error": ...}` line is a failure.
 */
import type { ChatRequest, ChatSuccess, ChunkRead, StreamRead, ToolCall } from '../openai/chat.js';
import { withModel } from '../raw-json.js';

/** The client's body with the node's name for the model: its own text where the model can be put in as text, else serialised. */
export function ollamaPayload(api: NonNullable<ChatRequest['ollamaApi']>, model: string | undefined): string {
  return (api.raw && withModel(api.raw, model)) ?? JSON.stringify(model ? { ...api.body, model } : api.body);
}

interface Line {
  model?: unknown;
  message?: { content?: unknown; thinking?: unknown; tool_calls?: unknown };
  response?: unknown;
  thinking?: unknown;
  done?: unknown;
  error?: unknown;
}

/** A reply's text: `/api/chat`'s `message.content`, or `/api/generate`'s `response`. */
const textOf = (json: Line | null | undefined): string | undefined => (typeof json?.message?.content === 'string' ? json.message.content : typeof json?.response === 'string' ? json.response : undefined);

const toolCallsOf = (calls: unknown): ToolCall[] | undefined =>
  Array.isArray(calls) && calls.length > 0 ? (calls as { function?: { name?: unknown; arguments?: unknown } }[]).map((c) => ({ name: typeof c.function?.name === 'string' ? c.function.name : '', arguments: JSON.stringify(c.function?.arguments ?? {}) })) : undefined;

/** A whole reply from an Ollama node (`/api/chat` or `/api/generate`). */
export function readOllamaReply(text: string): { ok: true; value: ChatSuccess } | { ok: false; message: string } {
  let json: Line;
  try {
    json = JSON.parse(text) as Line;
  } catch {
    return { ok: false, message: `not JSON: ${text.slice(0, 200)}` };
  }
  const content = textOf(json);
  if (content === undefined) return { ok: false, message: `no message or response in the reply: ${text.slice(0, 200)}` };
  const value: ChatSuccess = { content, raw: text };
  const calls = toolCallsOf(json.message?.tool_calls);
  if (calls) value.toolCalls = calls;
  if (typeof json.model === 'string') value.model = json.model;
  return { ok: true, value };
}

export class OllamaPassStream implements StreamRead {
  tokens = 0;
  finished = false;
  #content = '';
  #model: string | undefined;
  readonly #calls: ToolCall[] = [];

  /** `keepText: false` for a proxy, which forwards the lines (see ChatStream). */
  constructor(private readonly keepText = true) {}

  read(e: { data: string }): ChunkRead {
    let json: Line;
    try {
      json = JSON.parse(e.data) as Line;
    } catch {
      return { ok: false, kind: 'bad_chunk', message: `invalid stream line: ${e.data.slice(0, 200)}` };
    }
    if (json.error !== undefined) return { ok: false, kind: 'error', message: `error in the stream: ${typeof json.error === 'string' ? json.error : JSON.stringify(json.error)}` };
    if (typeof json.model === 'string') this.#model = json.model;
    const text = textOf(json) ?? '';
    const calls = toolCallsOf(json.message?.tool_calls);
    if (calls) this.#calls.push(...calls);
    const thinking = json.message?.thinking ?? json.thinking;
    if (json.done === true) this.finished = true;
    if (text) {
      this.tokens++;
      if (this.keepText) this.#content += text;
      return { ok: true, meaningful: true, token: text };
    }
    return { ok: true, meaningful: json.done === true || calls !== undefined || (typeof thinking === 'string' && thinking !== '') };
  }

  line(e: { data: string }): string {
    return e.data;
  }

  isEnd(e: { data: string }): boolean {
    return /"done"\s*:\s*true/.test(e.data);
  }

  result(firstTokenMs: number | undefined): ChatSuccess {
    const value: ChatSuccess = { content: this.#content, tokens: this.tokens };
    if (this.#calls.length > 0) value.toolCalls = this.#calls;
    if (this.#model) value.model = this.#model;
    if (firstTokenMs !== undefined) value.firstTokenMs = Math.round(firstTokenMs);
    return value;
  }
}

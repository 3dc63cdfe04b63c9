/**
 * Chat completions back into Ollama's replies, pure: a whole answer as one object, a stream as
 * NDJSON (one object a line, the last `done: true` with `done_reason` and the durations Ollama
 * gives, in nanoseconds), tool calls with `arguments` as an object, reasoning as
 * `message.thinking`. Durations and counts come from the node's usage and llama.cpp's `timings`
 * when it sends them, else from what jarvis timed.
 */

/** What jarvis timed of the answer (ms), for the durations a node did not report. */
export interface Timing {
  totalMs: number;
  firstTokenMs?: number;
}

interface Usage {
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
}

interface Timings {
  prompt_ms?: unknown;
  predicted_ms?: unknown;
  prompt_n?: unknown;
  predicted_n?: unknown;
}

const ns = (ms: number) => Math.max(0, Math.round(ms * 1_000_000));
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Ollama's `done_reason` for a chat completion's finish_reason. */
function doneReason(finish: unknown): string {
  return finish === 'length' ? 'length' : 'stop';
}

/** The closing fields: done, why, and the durations and counts. */
function closing(finish: unknown, usage: Usage | undefined, timings: Timings | undefined, t: Timing): Record<string, unknown> {
  const promptMs = num(timings?.prompt_ms) ?? t.firstTokenMs ?? 0;
  const evalMs = num(timings?.predicted_ms) ?? Math.max(0, t.totalMs - promptMs);
  return {
    done_reason: doneReason(finish),
    done: true,
    total_duration: ns(t.totalMs),
    load_duration: 0,
    prompt_eval_count: num(usage?.prompt_tokens) ?? num(timings?.prompt_n) ?? 0,
    prompt_eval_duration: ns(promptMs),
    eval_count: num(usage?.completion_tokens) ?? num(timings?.predicted_n) ?? 0,
    eval_duration: ns(evalMs),
  };
}

/** OpenAI's tool calls in Ollama's shape: `arguments` parsed into an object (a string that is not JSON is kept as it came, under `_raw`). */
function ollamaToolCalls(calls: readonly { id?: string; name: string; arguments: string }[]): { function: { name: string; arguments: Record<string, unknown> } }[] {
  return calls.map((c) => {
    let args: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(c.arguments || '{}');
      args = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : { _raw: c.arguments };
    } catch {
      args = { _raw: c.arguments };
    }
    return { function: { name: c.name, arguments: args } };
  });
}

/** A whole chat completion (the node's body) as Ollama's `/api/chat` reply. */
export function chatReply(raw: string | undefined, fallback: { content?: string; toolCalls?: { name: string; arguments: string }[] }, model: string, t: Timing, createdAt: string): Record<string, unknown> {
  let body: { choices?: { message?: { content?: unknown; reasoning_content?: unknown; tool_calls?: { function?: { name?: unknown; arguments?: unknown } }[] }; finish_reason?: unknown }[]; usage?: Usage; timings?: Timings } = {};
  try {
    if (raw) body = JSON.parse(raw) as typeof body;
  } catch {
    // not JSON: what the cascade read of it
  }
  const choice = body.choices?.[0];
  const m = choice?.message;
  const content = typeof m?.content === 'string' ? m.content : (fallback.content ?? '');
  const calls = Array.isArray(m?.tool_calls) ? m.tool_calls.map((c) => ({ name: typeof c.function?.name === 'string' ? c.function.name : '', arguments: typeof c.function?.arguments === 'string' ? c.function.arguments : '{}' })) : fallback.toolCalls;
  const message: Record<string, unknown> = { role: 'assistant', content };
  if (typeof m?.reasoning_content === 'string' && m.reasoning_content) message.thinking = m.reasoning_content;
  if (calls && calls.length > 0) message.tool_calls = ollamaToolCalls(calls);
  return { model, created_at: createdAt, message, ...closing(choice?.finish_reason, body.usage, body.timings, t) };
}

/** `/api/generate`'s reply from `/api/chat`'s: `response` (and `thinking`) rather than a message. */
export function generateReply(chat: Record<string, unknown>): Record<string, unknown> {
  const { message, ...rest } = chat as { message?: { content?: string; thinking?: string } } & Record<string, unknown>;
  return { ...rest, response: message?.content ?? '', ...(message?.thinking && { thinking: message.thinking }) };
}

/**
 * A chat-completion stream (SSE data payloads, in order) as Ollama's NDJSON: a line per piece of
 * text or thinking, the tool calls once their arguments are whole, then the closing line. For
 * `/api/generate`, `response` rather than `message`.
 */
export class OllamaStream {
  #finish: unknown;
  #usage: Usage | undefined;
  #timings: Timings | undefined;
  readonly #tools = new Map<number, { name: string; args: string }>();
  #closed = false;
  /** Pieces of text sent: the eval count when the node reports no usage. */
  #pieces = 0;

  constructor(
    readonly model: string,
    readonly createdAt: string,
    readonly generate = false,
  ) {}

  #line(message: { content: string; thinking?: string; tool_calls?: unknown[] }): string {
    const head = { model: this.model, created_at: this.createdAt };
    if (this.generate) return `${JSON.stringify({ ...head, response: message.content, ...(message.thinking && { thinking: message.thinking }), done: false })}\n`;
    return `${JSON.stringify({ ...head, message: { role: 'assistant', ...message }, done: false })}\n`;
  }

  /** One SSE data payload (`[DONE]` and unparsable data give nothing); returns the lines it makes. */
  chunk(data: string): string {
    if (data === '[DONE]' || this.#closed) return '';
    let json: { choices?: { delta?: Record<string, unknown>; finish_reason?: unknown }[]; usage?: Usage | null; timings?: Timings };
    try {
      json = JSON.parse(data) as typeof json;
    } catch {
      return '';
    }
    if (json.usage) this.#usage = json.usage;
    if (json.timings) this.#timings = json.timings;
    const choice = json.choices?.[0];
    const delta = choice?.delta ?? {};
    let out = '';
    if (typeof delta.reasoning_content === 'string' && delta.reasoning_content) out += this.#line({ content: '', thinking: delta.reasoning_content });
    if (typeof delta.content === 'string' && delta.content) {
      this.#pieces++;
      out += this.#line({ content: delta.content });
    }
    if (Array.isArray(delta.tool_calls)) {
      for (const d of delta.tool_calls as { index?: unknown; function?: { name?: unknown; arguments?: unknown } }[]) {
        const key = typeof d.index === 'number' ? d.index : this.#tools.size;
        const t = this.#tools.get(key) ?? { name: '', args: '' };
        if (typeof d.function?.name === 'string') t.name += d.function.name;
        if (typeof d.function?.arguments === 'string') t.args += d.function.arguments;
        this.#tools.set(key, t);
      }
    }
    if (choice?.finish_reason) this.#finish = choice.finish_reason;
    return out;
  }

  /** The tool calls (whole) and the closing `done: true` line. */
  end(t: Timing): string {
    if (this.#closed) return '';
    this.#closed = true;
    let out = '';
    if (this.#tools.size > 0) {
      const calls = [...this.#tools.entries()].sort(([a], [b]) => a - b).map(([, c]) => ({ name: c.name, arguments: c.args }));
      out += this.#line({ content: '', tool_calls: ollamaToolCalls(calls) });
    }
    const head = { model: this.model, created_at: this.createdAt };
    return `${out}${JSON.stringify({ ...head, ...(this.generate ? { response: '' } : { message: { role: 'assistant', content: '' } }), ...closing(this.#finish, this.#usage ?? { completion_tokens: this.#pieces }, this.#timings, t) })}\n`;
  }

  /** A stream that broke after its first line ends with Ollama's error line, never a clean `done`. */
  error(message: string): string {
    this.#closed = true;
    return `${JSON.stringify({ error: message })}\n`;
  }
}

/**
 * Prompt processing in a simulated node, as a llama.cpp server's slots do it: each slot keeps
 * the last conversation it processed (prompt and answer), a request takes the slot sharing the
 * longest start with its prompt, and only the tokens beyond that start are processed again,
 * at `msPer1k` milliseconds per thousand (time to first token grows with them). With no cost
 * set (the default), no slot is kept. A token is about
 * four characters of the prompt as rendered here (its roles, texts and tool calls).
 */

/** What processing a prompt cost: tokens found in a slot, tokens processed, and the time it took. */
export interface Prefill {
  cached: number;
  processed: number;
  ms: number;
}

const CHARS_PER_TOKEN = 4;

type Part = { type?: unknown; text?: unknown; name?: unknown; input?: unknown; content?: unknown };

/** The text of a content (a string, OpenAI's parts, Anthropic's blocks: text, tool calls, tool results). */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return (content as Part[])
    .map((b) => {
      if (typeof b?.text === 'string') return b.text;
      if (b?.type === 'tool_use') return `${String(b.name)}(${JSON.stringify(b.input ?? {})})`;
      if (b?.type === 'tool_result') return contentText(b.content);
      return '';
    })
    .join('');
}

const callsText = (calls: unknown): string =>
  Array.isArray(calls) ? (calls as { function?: { name?: unknown; arguments?: unknown } }[]).map((c) => `${String(c?.function?.name)}(${typeof c?.function?.arguments === 'string' ? c.function.arguments : JSON.stringify(c?.function?.arguments ?? {})})`).join('') : '';

/** One message as the model reads it. */
function renderMessage(m: { role?: unknown; content?: unknown; tool_calls?: unknown }): string {
  return `<|${String(m.role)}|>${contentText(m.content)}${callsText(m.tool_calls)}\n`;
}

/** A request's prompt: its system text (Anthropic's `system`) and its messages, rendered. */
export function renderPrompt(messages: readonly unknown[], system?: unknown): string {
  const head = system === undefined ? '' : renderMessage({ role: 'system', content: system });
  return head + messages.map((m) => renderMessage((m ?? {}) as { role?: unknown })).join('');
}

/** An answer as the next turn's prompt will have it. */
export function renderAnswer(text: string, calls?: readonly { function: { name: string; arguments: string } }[]): string {
  return renderMessage({ role: 'assistant', content: text, tool_calls: calls });
}

function commonStart(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

export class PromptCache {
  /** Each slot's conversation, the most recently used last. */
  readonly #slots: string[] = [];

  constructor(
    private readonly slots: number,
    private readonly msPer1k: number,
  ) {}

  /**
   * Processes `prompt` (waiting the time its uncached tokens take), then keeps it with `answer` in
   * the slot it used. Without a prefill cost nothing is kept or compared (the load benchmarks' sim
   * stays as cheap as it was): every token counts as processed.
   */
  async prefill(prompt: string, answer: string): Promise<Prefill> {
    if (this.msPer1k === 0) return { cached: 0, processed: Math.ceil(prompt.length / CHARS_PER_TOKEN), ms: 0 };
    let best = -1;
    let shared = 0;
    this.#slots.forEach((s, i) => {
      const n = commonStart(s, prompt);
      if (n > shared) [best, shared] = [i, n];
    });
    // The slot it shares most with, else a free one, else the least recently used.
    if (best >= 0) this.#slots.splice(best, 1);
    else if (this.#slots.length >= this.slots) this.#slots.shift();
    this.#slots.push(prompt + answer);
    const total = Math.ceil(prompt.length / CHARS_PER_TOKEN);
    const cached = Math.min(total, Math.floor(shared / CHARS_PER_TOKEN));
    const processed = total - cached;
    const ms = (processed * this.msPer1k) / 1000;
    if (ms > 0) await new Promise((r) => setTimeout(r, ms));
    return { cached, processed, ms };
  }
}

/**
 * A completion as a Messages reply: its content blocks (text, thinking, tool calls with their
 * arguments as objects), its stop reason and usage; and a node's own Messages reply read. No I/O.
 */
import { randomBytes } from 'node:crypto';

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'refusal';

export function stopReasonOf(finish: unknown): StopReason {
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

/** A tool call's id when the node gave none. */
export function toolUseId(): string {
  return `toolu_${randomBytes(8).toString('hex')}`;
}

export function messageId(): string {
  return `msg_${randomBytes(12).toString('hex')}`;
}

export type Message = { ok: true; value: Record<string, unknown> } | { ok: false; message: string };

/** Tool arguments as the `input` object Anthropic's clients expect; invalid JSON is a failure, not an empty input. */
export function toolInput(name: string, args: string): { ok: true; value: unknown } | { ok: false; message: string } {
  if (args.trim() === '') return { ok: true, value: {} };
  try {
    const value: unknown = JSON.parse(args);
    if (isObject(value)) return { ok: true, value };
  } catch {
    // reported below
  }
  return { ok: false, message: `the model called tool "${name}" with arguments that are not a JSON object: ${args.slice(0, 200)}` };
}

/** A chat completion as read (or as the cascade collected it from a stream). */
export interface Completion {
  model?: unknown;
  choices?: { message?: Record<string, unknown>; finish_reason?: unknown }[];
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown };
}

/** A whole chat completion (its JSON text) as a Messages reply. */
export function toMessage(raw: string, model: string): Message {
  let json: Completion;
  try {
    json = JSON.parse(raw) as Completion;
  } catch {
    return { ok: false, message: 'the node answered with something that is not JSON' };
  }
  return messageOf(json, model);
}

/** A chat completion, already an object, as a Messages reply. */
export function messageOf(json: Completion, model: string): Message {
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
      content.push({ type: 'tool_use', id: typeof c.id === 'string' && c.id ? c.id : toolUseId(), name, input: input.value });
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

export const numberOr = (v: unknown, d: number) => (typeof v === 'number' && Number.isFinite(v) ? v : d);


/** A whole Messages reply from a node that speaks the API: valid when it is a `message` with content. */
export function readMessageReply(text: string): { ok: true; value: { content: string; model?: string; raw: string; toolCalls?: { name: string; arguments: string }[] } } | { ok: false; message: string } {
  let json: { type?: unknown; content?: unknown; model?: unknown };
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    return { ok: false, message: `not JSON: ${text.slice(0, 200)}` };
  }
  if (json?.type !== 'message' || !Array.isArray(json.content)) return { ok: false, message: `not a Messages reply: ${text.slice(0, 200)}` };
  const blocks = json.content as { type?: unknown; text?: unknown; name?: unknown; input?: unknown }[];
  const content = blocks.filter((b) => b?.type === 'text' && typeof b.text === 'string').map((b) => b.text as string).join('');
  const toolCalls = blocks.filter((b) => b?.type === 'tool_use' && typeof b.name === 'string').map((b) => ({ name: b.name as string, arguments: JSON.stringify(b.input ?? {}) }));
  return { ok: true, value: { content, ...(typeof json.model === 'string' && { model: json.model }), raw: text, ...(toolCalls.length > 0 && { toolCalls }) } };
}

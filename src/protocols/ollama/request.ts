/**
 * Ollama's native requests (`/api/chat`, `/api/generate`) as chat completions, for the cascade,
 * pure: messages with `images` (base64) and tool calls (`arguments` an object) and tool results
 * (`role: "tool"` with `tool_name`), `tools`, `format` (`"json"` or a JSON schema), `options`
 * (temperature, top_p, top_k, seed, stop, num_predict -> max_tokens; num_ctx is the server's own
 * and is dropped, said in `dropped`), `stream` on unless false, `think`, `keep_alive` (Ollama's
 * own: dropped for the others).
 */
import type { ChatMessage } from '../openai/chat.js';

export interface OllamaChat {
  messages: ChatMessage[];
  stream: boolean;
  maxTokens?: number;
  /** Chat-completion fields beside messages (temperature, tools, response_format, ...). */
  extra: Record<string, unknown>;
  /** Fields that have no meaning for a chat completion, for a debug note. */
  dropped: string[];
}

export type Parsed = { ok: true; value: OllamaChat } | { ok: false; error: string };

interface OllamaMessage {
  role?: unknown;
  content?: unknown;
  images?: unknown;
  tool_calls?: unknown;
  tool_name?: unknown;
  thinking?: unknown;
}

/** The image's type from its first bytes (Ollama sends bare base64); JPEG when it cannot tell. */
function imageUrl(base64: string): string {
  const type = base64.startsWith('iVBOR') ? 'png' : base64.startsWith('R0lGOD') ? 'gif' : base64.startsWith('UklGR') ? 'webp' : 'jpeg';
  return `data:image/${type};base64,${base64}`;
}

/** One Ollama message as a chat-completion message; `calls` names the tool calls seen so far (a tool result answers the last of that name). */
function message(m: OllamaMessage, i: number, calls: { id: string; name: string }[]): ChatMessage | string {
  const role = m.role;
  if (role !== 'system' && role !== 'user' && role !== 'assistant' && role !== 'tool') return `messages[${i}].role: expected system, user, assistant or tool`;
  if (m.content !== undefined && m.content !== null && typeof m.content !== 'string') return `messages[${i}].content: expected a string`;
  const text = typeof m.content === 'string' ? m.content : '';
  if (role === 'tool') {
    const name = typeof m.tool_name === 'string' ? m.tool_name : undefined;
    const call = [...calls].reverse().find((c) => name === undefined || c.name === name);
    return { role: 'tool', content: text, tool_call_id: call?.id ?? `call_${i}`, ...(name && { name }) };
  }
  if (m.images !== undefined) {
    if (!Array.isArray(m.images) || !m.images.every((x) => typeof x === 'string')) return `messages[${i}].images: expected base64 strings`;
    if (m.images.length > 0) return { role, content: [...(text ? [{ type: 'text', text }] : []), ...(m.images).map((b) => ({ type: 'image_url', image_url: { url: imageUrl(b) } }))] };
  }
  if (role === 'assistant' && Array.isArray(m.tool_calls) && m.tool_calls.length > 0) {
    const toolCalls = (m.tool_calls as { function?: { name?: unknown; arguments?: unknown } }[]).map((c, j) => {
      const id = `call_${i}_${j}`;
      const name = typeof c.function?.name === 'string' ? c.function.name : '';
      calls.push({ id, name });
      return { id, type: 'function', function: { name, arguments: typeof c.function?.arguments === 'string' ? c.function.arguments : JSON.stringify(c.function?.arguments ?? {}) } };
    });
    return { role, content: text || null, tool_calls: toolCalls };
  }
  return { role, content: text };
}

/** `options` and `format` as chat-completion fields. */
function settings(body: Record<string, unknown>, out: OllamaChat): string | undefined {
  const o = body.options;
  if (o !== undefined && (typeof o !== 'object' || o === null || Array.isArray(o))) return 'options: expected an object';
  const options = (o ?? {}) as Record<string, unknown>;
  for (const [from, to] of [['temperature', 'temperature'], ['top_p', 'top_p'], ['top_k', 'top_k'], ['seed', 'seed'], ['stop', 'stop'], ['frequency_penalty', 'frequency_penalty'], ['presence_penalty', 'presence_penalty']] as const) {
    if (options[from] !== undefined) out.extra[to] = options[from];
  }
  if (options.num_predict !== undefined) {
    if (typeof options.num_predict !== 'number' || !Number.isInteger(options.num_predict)) return 'options.num_predict: expected a whole number';
    // -1 and -2 are Ollama's "no limit" and "fill the context".
    if (options.num_predict > 0) out.maxTokens = options.num_predict;
  }
  for (const k of Object.keys(options)) if (!['temperature', 'top_p', 'top_k', 'seed', 'stop', 'frequency_penalty', 'presence_penalty', 'num_predict'].includes(k)) out.dropped.push(`options.${k}`);
  if (body.format === 'json') out.extra.response_format = { type: 'json_object' };
  else if (typeof body.format === 'object' && body.format !== null) out.extra.response_format = { type: 'json_schema', json_schema: { name: 'format', schema: body.format } };
  else if (body.format !== undefined && body.format !== '') return 'format: expected "json" or a JSON schema';
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) return 'tools: expected an array';
    out.extra.tools = body.tools;
  }
  for (const k of ['keep_alive', 'think']) if (body[k] !== undefined) out.dropped.push(k);
  return undefined;
}

/** POST /api/chat's body as a chat completion. */
export function chatFromOllama(body: Record<string, unknown>): Parsed {
  if (body.messages !== undefined && !Array.isArray(body.messages)) return { ok: false, error: 'messages: expected an array' };
  const out: OllamaChat = { messages: [], stream: body.stream !== false, extra: {}, dropped: [] };
  const calls: { id: string; name: string }[] = [];
  for (const [i, m] of ((body.messages ?? []) as unknown[]).entries()) {
    if (typeof m !== 'object' || m === null) return { ok: false, error: `messages[${i}]: expected an object` };
    const made = message(m, i, calls);
    if (typeof made === 'string') return { ok: false, error: made };
    out.messages.push(made);
  }
  const problem = settings(body, out);
  return problem ? { ok: false, error: problem } : { ok: true, value: out };
}

/** POST /api/generate's body (prompt, system, images) as a chat completion; `context`, `suffix`, `raw` and `template` are Ollama's own. */
export function generateFromOllama(body: Record<string, unknown>): Parsed {
  if (body.prompt !== undefined && typeof body.prompt !== 'string') return { ok: false, error: 'prompt: expected a string' };
  if (body.system !== undefined && typeof body.system !== 'string') return { ok: false, error: 'system: expected a string' };
  const user: OllamaMessage = { role: 'user', content: body.prompt ?? '', ...(body.images !== undefined && { images: body.images }) };
  const chat = chatFromOllama({ ...body, messages: [...(body.system ? [{ role: 'system', content: body.system }] : []), user] });
  if (chat.ok) for (const k of ['context', 'suffix', 'raw', 'template']) if (body[k] !== undefined) chat.value.dropped.push(k);
  return chat;
}

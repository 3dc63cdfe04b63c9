/**
 * A Messages API request as pure code: checked, and translated to an OpenAI-style chat request
 * for the cascade (docs/protocols.md, "Anthropic Messages API"); and an estimate of its input
 * tokens for `count_tokens` when no node can count. No I/O here.
 */

import { isObject } from './reply.js';

/** What the translation hands the cascade: chat messages and the fields passed through. */
interface TranslatedRequest {
  messages: Record<string, unknown>[];
  maxTokens: number;
  stream: boolean;
  extra: Record<string, unknown>;
}

export type Translation = { ok: true; value: TranslatedRequest } | { ok: false; message: string };

type Block = Record<string, unknown> & { type?: unknown };

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


/**
 * An estimate of a request's input tokens (system, messages, tools), for `count_tokens` when no
 * node can count: about four characters a token, as tokenizers of English and code average.
 */
export function estimateInputTokens(body: Record<string, unknown>): number {
  const text = [JSON.stringify(body.system ?? ''), JSON.stringify(body.messages ?? []), JSON.stringify(body.tools ?? [])].join('');
  return Math.max(1, Math.ceil(text.length / 4));
}

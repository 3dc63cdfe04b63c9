/**
 * Conversation fingerprints for KV-cache affinity (docs/proxy.md, "Affinity"). A conversation's
 * key is a hash of its model group and its messages in order; the key of a request's history up
 * to its last assistant turn is the key the previous turn's request and answer made, so a
 * lookup finds the node that answered exactly that turn. Only hashes are kept, never text.
 *
 * The text is the messages the front already parsed (OpenAI's shape, whichever front), written
 * once into a scratch buffer and hashed by zlib's CRC-32 (native, one call per key) beside a
 * 32-bit hash of the structure (roles, lengths, tool calls): 53 bits in all, a JavaScript number.
 * An assistant turn is written as the model's words without whitespace and its tool calls
 * (name, arguments without whitespace): what a client sends back of an answer differs from what
 * the node sent in its spacing at most (a trimmed reply, arguments parsed and written again).
 * Characters beyond Latin-1 are hashed by their low byte; an image by its length and ends.
 */
import { crc32 } from 'node:zlib';
import type { ChatMessage, ToolCall } from '../protocols/openai/chat.js';

/** 21 bits of structure over 32 bits of CRC-32: an exact integer in a double. */
export type ConversationKey = number;

/** What a request's messages give: the key to look up (its history to the last answer) and the state an answer extends. */
export interface RequestPrint {
  /** The history up to and including the last assistant turn; undefined for a first turn. */
  lookup: ConversationKey | undefined;
  /** The whole request, for the answer to extend (AnswerPrint). */
  crc: number;
  shape: number;
}

const WHITESPACE = /\s+/g;
/** Roles as one letter each; `developer` is a system prompt by another name. */
const ROLE: Record<string, number> = { system: 0x73, developer: 0x73, user: 0x75, assistant: 0x61, tool: 0x74, function: 0x74 };
const ASSISTANT = 0x61;
/** Of an image (a data URI may be megabytes): its length and this many characters at each end. */
const IMAGE_ENDS = 64;

const mix = (h: number, x: number): number => Math.imul(h ^ x, 0x01000193);
const keyOf = (shape: number, crc: number): ConversationKey => (shape & 0x1fffff) * 0x1_0000_0000 + (crc >>> 0);

/** The bytes a fingerprint hashes, written once per request (one module-wide buffer: the proxy is single-threaded). */
let scratch = Buffer.allocUnsafe(1 << 16);
let used = 0;

function reserve(more: number): void {
  if (used + more <= scratch.length) return;
  const grown = Buffer.allocUnsafe(Math.max(scratch.length * 2, used + more));
  scratch.copy(grown, 0, 0, used);
  scratch = grown;
}

function writeByte(b: number): void {
  reserve(1);
  scratch[used++] = b;
}

/** `s` by its low bytes (Latin-1: one byte a character, no encoding work). */
function writeText(s: string): void {
  reserve(s.length);
  used += scratch.write(s, used, 'latin1');
}

/** Text of a message's content; `strip` for a model's own words. Returns the characters written. */
function writeContent(content: ChatMessage['content'], strip: boolean): number {
  if (typeof content === 'string') {
    const text = strip ? content.replace(WHITESPACE, '') : content;
    writeText(text);
    return text.length;
  }
  if (!Array.isArray(content)) return 0;
  let n = 0;
  for (const part of content as { type?: unknown; text?: unknown; image_url?: { url?: unknown } }[]) {
    if (typeof part?.text === 'string') {
      const text = strip ? part.text.replace(WHITESPACE, '') : part.text;
      writeText(text);
      n += text.length;
    } else if (typeof part?.image_url?.url === 'string') {
      const url = part.image_url.url;
      writeByte(0x03);
      writeText(url.length > 2 * IMAGE_ENDS ? `${url.length}:${url.slice(0, IMAGE_ENDS)}${url.slice(-IMAGE_ENDS)}` : url);
      n += 1;
    }
  }
  return n;
}

/** An assistant turn's tool calls: each name and its arguments without whitespace. */
function writeCalls(calls: readonly { name: string; arguments: unknown }[]): void {
  for (const c of calls) {
    writeByte(0x01);
    writeText(c.name);
    writeByte(0x02);
    writeText((typeof c.arguments === 'string' ? c.arguments : (JSON.stringify(c.arguments) ?? '')).replace(WHITESPACE, ''));
  }
}

/** OpenAI's `tool_calls` entries as name and arguments (anything else left out). */
function callsOf(calls: readonly unknown[] | undefined): { name: string; arguments: unknown }[] {
  if (!calls) return [];
  const out: { name: string; arguments: unknown }[] = [];
  for (const c of calls as { function?: { name?: unknown; arguments?: unknown } }[]) {
    if (typeof c?.function?.name === 'string') out.push({ name: c.function.name, arguments: c.function.arguments ?? '' });
  }
  return out;
}

/** One message written; returns the shape hash extended. */
function writeMessage(m: ChatMessage, shape: number): number {
  const role = ROLE[m.role] ?? 0x3f;
  writeByte(0x00);
  writeByte(role);
  const assistant = role === ASSISTANT;
  const length = writeContent(m.content, assistant);
  const calls = assistant ? callsOf(m.tool_calls) : [];
  if (calls.length > 0) writeCalls(calls);
  return mix(mix(mix(shape, role), length), calls.length);
}

/** The seed of a group's keys: its name. */
function seed(group: string): { crc: number; shape: number } {
  return { crc: crc32(group), shape: mix(0x811c9dc5, group.length) };
}

/** A request's fingerprint in `group` (a model name, a node, a task): its lookup key and the state its answer extends. */
export function printRequest(group: string, messages: readonly ChatMessage[]): RequestPrint {
  let last = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]!.role === 'assistant') {
      last = i;
      break;
    }
  }
  const s = seed(group);
  used = 0;
  let shape = s.shape;
  let cut = 0;
  let cutShape = shape;
  for (let i = 0; i < messages.length; i++) {
    shape = writeMessage(messages[i]!, shape);
    if (i === last) [cut, cutShape] = [used, shape];
  }
  const head = crc32(scratch.subarray(0, cut), s.crc);
  const crc = cut === used ? head : crc32(scratch.subarray(cut, used), head);
  return { lookup: last >= 0 ? keyOf(cutShape, head) : undefined, crc, shape };
}

/** A key the client names (`x-jarvis-session`, its user id), in `group`. */
export function namedKey(group: string, kind: 'session' | 'user', name: string): ConversationKey {
  const s = seed(group);
  return keyOf(mix(s.shape, kind === 'session' ? 0x5e55 : 0x05e2), crc32(`${kind}\u0000${name}`, s.crc));
}

/**
 * An answer as it comes (a stream's text piece by piece, or whole), extending its request's
 * fingerprint into the key its next turn looks up. Holds at most a few KB of text at a time.
 */
export class AnswerPrint {
  #crc: number;
  #pending = '';
  #length = 0;
  #opened = false;

  constructor(private readonly request: RequestPrint) {
    this.#crc = request.crc;
  }

  /** More of the model's words. */
  text(t: string): void {
    const s = t.replace(WHITESPACE, '');
    if (s === '') return;
    this.#pending += s;
    this.#length += s.length;
    if (this.#pending.length >= 4096) this.#flush();
  }

  /** The key of the conversation with this answer in it, once the answer is whole. */
  key(calls: readonly ToolCall[] | undefined): ConversationKey {
    this.#flush();
    used = 0;
    const list = calls ?? [];
    if (list.length > 0) writeCalls(list);
    const crc = crc32(scratch.subarray(0, used), this.#crc);
    return keyOf(mix(mix(mix(this.request.shape, ASSISTANT), this.#length), list.length), crc);
  }

  #flush(): void {
    used = 0;
    if (!this.#opened) {
      // The message's head, as writeMessage writes an assistant turn.
      writeByte(0x00);
      writeByte(ASSISTANT);
      this.#opened = true;
    }
    writeText(this.#pending);
    this.#pending = '';
    this.#crc = crc32(scratch.subarray(0, used), this.#crc);
  }
}

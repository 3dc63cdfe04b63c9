/**
 * Conversation fingerprints for KV-cache affinity (docs/proxy.md, "Affinity"). A conversation's
 * key is a hash of its model group and its messages in order; the key of a request's history up
 * to its last assistant turn is the key the previous turn's request and answer made, so a
 * lookup finds the node that answered exactly that turn. Only hashes are kept, never text.
 *
 * The text is the messages the front already parsed (OpenAI's shape, whichever front), written
 * once into a scratch buffer and hashed by zlib's CRC-32 (native, one call per key) beside a
 * 32-bit hash of the structure (roles, lengths, tool calls): 53 bits in all, a JavaScript number.
 * An assistant turn is written as the model's words without the whitespace at either end or a
 * leading `<think>` block, and its tool calls (name, arguments without whitespace): what a
 * client sends back of an answer differs from what the node sent in those at most (a trimmed
 * reply, reasoning left out, arguments parsed and written again by the client or jarvis's own
 * Anthropic front).
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

/** What a JSON serialiser may put between tokens. */
const WHITESPACE = /[ \t\n\r]+/g;
/** Roles as one letter each; `developer` is a system prompt by another name. */
const ROLE: Record<string, number> = Object.assign(Object.create(null) as Record<string, number>, { system: 0x73, developer: 0x73, user: 0x75, assistant: 0x61, tool: 0x74, function: 0x74 });
const ASSISTANT = 0x61;
/** Of an image (a data URI may be megabytes): its length and this many characters at each end. */
const IMAGE_ENDS = 64;

const mix = (h: number, x: number): number => Math.imul(h ^ x, 0x01000193);
const keyOf = (shape: number, crc: number): ConversationKey => (shape & 0x1fffff) * 0x1_0000_0000 + (crc >>> 0);

/** The bytes a fingerprint hashes, written once per request (one module-wide buffer: the proxy is single-threaded). */
let scratch = Buffer.allocUnsafe(1 << 16);
let used = 0;

/** Beyond this the buffer is not kept once a key is made: one huge conversation does not hold its size for the proxy's life. */
const KEPT = 1 << 20;

function reserve(more: number): void {
  if (used + more <= scratch.length) return;
  const grown = Buffer.allocUnsafe(Math.max(scratch.length * 2, used + more));
  scratch.copy(grown, 0, 0, used);
  scratch = grown;
}

/** The bytes hashed: a buffer grown past KEPT goes back to its first size. */
function hashed(from: number, crc: number): number {
  const value = crc32(scratch.subarray(from, used), crc);
  if (scratch.length > KEPT) scratch = Buffer.allocUnsafe(1 << 16);
  return value;
}

function writeByte(b: number): void {
  reserve(1);
  scratch[used++] = b;
}

/** Below this length a string is copied by a loop here: cheaper than the call into Buffer's writer. */
const SHORT = 48;

/** `s` by its low bytes (Latin-1: one byte a character, no encoding work). */
function writeText(s: string): void {
  const n = s.length;
  reserve(n);
  if (n < SHORT) for (let i = 0; i < n; i++) scratch[used++] = s.charCodeAt(i);
  else used += scratch.write(s, used, 'latin1');
}

/** `s` without its whitespace (space, tab, line breaks; what a JSON serialiser may put between tokens). */
function writeTight(s: string): void {
  if (s.length >= 256) return writeText(s.replace(WHITESPACE, ''));
  reserve(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) scratch[used++] = c;
  }
}

const THINK_OPEN = '<think>';
const THINK_CLOSE = '</think>';

/**
 * A model's words as a client may send them back: trimmed, and without the reasoning a model
 * writes first inside `<think>…</think>` (clients and chat templates often leave it out of the
 * history). An unclosed block is all reasoning.
 */
function spoken(text: string): string {
  const t = text.trimStart();
  if (!t.startsWith(THINK_OPEN)) return t.trimEnd();
  const end = t.indexOf(THINK_CLOSE);
  return end < 0 ? '' : t.slice(end + THINK_CLOSE.length).trim();
}

/** The text parts of a content, joined (a model's words may come back as parts). */
function partsText(parts: readonly unknown[]): string {
  let text = '';
  for (const part of parts as { text?: unknown }[]) if (typeof part?.text === 'string') text += part.text;
  return text;
}

/**
 * Text of a message's content; `spokenOnly` for a model's own words, read as `spoken` (text or
 * parts alike). Returns the characters written.
 */
function writeContent(content: ChatMessage['content'], spokenOnly: boolean): number {
  if (spokenOnly) {
    const text = spoken(typeof content === 'string' ? content : Array.isArray(content) ? partsText(content) : '');
    writeText(text);
    return text.length;
  }
  if (typeof content === 'string') {
    writeText(content);
    return content.length;
  }
  if (!Array.isArray(content)) return 0;
  let n = 0;
  for (const part of content as { text?: unknown; image_url?: { url?: unknown } }[]) {
    if (typeof part?.text === 'string') {
      writeText(part.text);
      n += part.text.length;
    } else if (typeof part?.image_url?.url === 'string') {
      const url = part.image_url.url;
      writeByte(0x03);
      writeText(url.length > 2 * IMAGE_ENDS ? `${url.length}:${url.slice(0, IMAGE_ENDS)}${url.slice(-IMAGE_ENDS)}` : url);
      n += 1;
    }
  }
  return n;
}

/** One tool call: its name and its arguments without whitespace. */
function writeCall(name: string, args: unknown): void {
  writeByte(0x01);
  writeText(name);
  writeByte(0x02);
  writeTight(typeof args === 'string' ? args : (JSON.stringify(args) ?? ''));
}

/** An assistant turn's OpenAI-style `tool_calls` written (entries without a function name left out); returns how many. */
function writeToolCalls(calls: readonly unknown[] | undefined): number {
  if (!calls) return 0;
  let n = 0;
  for (const c of calls as { function?: { name?: unknown; arguments?: unknown } }[]) {
    const f = c?.function;
    if (typeof f?.name !== 'string') continue;
    writeCall(f.name, f.arguments ?? '');
    n++;
  }
  return n;
}

/** One message written; returns the shape hash extended. */
function writeMessage(m: ChatMessage, shape: number): number {
  const role = ROLE[m.role] ?? 0x3f;
  writeByte(0x00);
  writeByte(role);
  const assistant = role === ASSISTANT;
  const length = writeContent(m.content, assistant);
  const calls = assistant ? writeToolCalls(m.tool_calls) : 0;
  return mix(mix(mix(shape, role), length), calls);
}

/** The seed of a group's keys: its name (a proxy asks for the same few names all day; at most 1,024 kept). */
const seeds = new Map<string, { crc: number; shape: number }>();
function seed(group: string): { crc: number; shape: number } {
  let s = seeds.get(group);
  if (!s) {
    if (seeds.size >= 1024) seeds.clear();
    seeds.set(group, (s = { crc: crc32(group), shape: mix(0x811c9dc5, group.length) }));
  }
  return s;
}

/** A request's fingerprint in `group` (a model name, a node, a task): its lookup key and the state its answer extends. */
export function printRequest(group: string, messages: readonly ChatMessage[]): RequestPrint {
  const s = seed(group);
  used = 0;
  let shape = s.shape;
  // Where the last assistant turn ends (none yet: a first turn).
  let cut = -1;
  let cutShape = shape;
  for (const m of messages) {
    shape = writeMessage(m, shape);
    if (m.role === 'assistant') [cut, cutShape] = [used, shape];
  }
  const head = cut <= 0 ? s.crc : crc32(scratch.subarray(0, cut), s.crc);
  const crc = hashed(Math.max(0, cut), head);
  return { lookup: cut >= 0 ? keyOf(cutShape, head) : undefined, crc, shape };
}

/** A key the client names (`x-jarvis-session`, its user id), in `group`. */
export function namedKey(group: string, kind: 'session' | 'user', name: string): ConversationKey {
  const s = seed(group);
  return keyOf(mix(s.shape, kind === 'session' ? 0x5e55 : 0x05e2), crc32(`${kind}\u0000${name}`, s.crc));
}

/**
 * An answer as it comes (a stream's text piece by piece, or whole), extending its request's
 * fingerprint into the key its next turn looks up: written as writeMessage writes an assistant
 * turn (`spoken`). Holds at most about 1 KB of text at a time (a stream may last minutes).
 */
export class AnswerPrint {
  #crc: number;
  #pending = '';
  /** Whitespace after the last word so far: written only if more words follow. */
  #space = '';
  #length = 0;
  /** Where the answer is: its start (maybe `<think>`), inside the reasoning, just after it, in its words. */
  #state: 'start' | 'thinking' | 'after' | 'words' = 'start';
  /** A start not known yet (`<thi`), or the end of the reasoning so far (where `</think>` may begin). */
  #held = '';
  #opened = false;

  constructor(private readonly request: RequestPrint) {
    this.#crc = request.crc;
  }

  /**
   * More of the model's words, read as `spoken` reads a whole answer: the start is held until it
   * is plainly not `<think>`; a reasoning block is skipped to its end (its tag may be cut across pieces).
   */
  text(t: string): void {
    if (this.#state === 'words') return this.#words(t);
    if (this.#state === 'thinking') {
      const seen = this.#held + t;
      const end = seen.indexOf(THINK_CLOSE);
      if (end < 0) {
        this.#held = seen.slice(-(THINK_CLOSE.length - 1));
        return;
      }
      this.#held = '';
      this.#state = 'after';
      t = seen.slice(end + THINK_CLOSE.length);
    }
    const head = (this.#held + t).trimStart();
    if (head === '') {
      this.#held = '';
      return;
    }
    if (this.#state === 'start' && head.length < THINK_OPEN.length && THINK_OPEN.startsWith(head)) {
      this.#held = head; // `<th`: not known yet
      return;
    }
    this.#held = '';
    if (this.#state === 'start' && head.startsWith(THINK_OPEN)) {
      this.#state = 'thinking';
      return this.text(head.slice(THINK_OPEN.length));
    }
    this.#state = 'words';
    this.#words(head);
  }

  /** Words after the start: whitespace at the end held until more words follow. */
  #words(t: string): void {
    const words = t.trimEnd();
    if (words === '') {
      this.#space += t;
      return;
    }
    const piece = this.#space === '' ? words : this.#space + words;
    this.#space = words.length === t.length ? '' : t.slice(words.length);
    this.#pending += piece;
    this.#length += piece.length;
    if (this.#pending.length >= 1024) this.#flush();
  }

  /** The key of the conversation with this answer in it, once the answer is whole. */
  key(calls: readonly ToolCall[] | undefined): ConversationKey {
    // A start still held (`<th` and nothing more) was words after all.
    if (this.#state === 'start' && this.#held !== '') this.#words(this.#held);
    this.#flush();
    const n = calls?.length ?? 0;
    if (n > 0) {
      used = 0;
      for (const c of calls!) writeCall(c.name, c.arguments);
      this.#crc = hashed(0, this.#crc);
    }
    return keyOf(mix(mix(mix(this.request.shape, ASSISTANT), this.#length), n), this.#crc);
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
    this.#crc = hashed(0, this.#crc);
  }
}

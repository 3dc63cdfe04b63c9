/**
 * A client's JSON body kept as the text it came as, with where its top-level `model` member is,
 * so that a proxy sends it on to a node with the node's model in place of the client's without
 * serialising the whole request again (an agent's request carries its whole conversation: tens
 * to hundreds of KB, re-written per attempt). Found in the same pass that bounds its nesting.
 */

/** The top-level `"model": "..."` member, as positions in the text. */
interface ModelMember {
  /** The key's opening quote. */
  keyAt: number;
  /** The value's quotes: [valueAt, valueEnd) is the JSON string, quotes included. */
  valueAt: number;
  valueEnd: number;
  /** The value between its quotes, which has no escapes (a value written with them is not editable). */
  written: string;
  /** The comma before the key (-1 when it is the first member), and the one after the value (-1 when last). */
  commaBefore: number;
  commaAfter: number;
}

export interface RawJson {
  text: string;
  /**
   * The `model` member; `none` when the object has none; `unknown` when it cannot be edited as
   * text (not a string, written twice however its key is spelt, escapes in its value): the
   * caller serialises the parsed object.
   */
  model: ModelMember | 'none' | 'unknown';
  /** Members of the top-level object. */
  members: number;
}

export interface JsonScan {
  /** The deepest nesting of arrays and objects (strings skipped), up to one past `stopAt`. */
  depth: number;
  raw: RawJson;
}

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;

/**
 * Scans JSON text without parsing it: how deep it nests (stopping once past `stopAt`), and where
 * the top-level object's `model` member is. Text that is not a JSON object scans to nonsense
 * positions, which is harmless: the caller parses it and throws it away.
 */
export function scanJson(text: string, stopAt = Infinity): JsonScan {
  let depth = 0;
  let max = 0;
  let members = 0;
  let model: ModelMember | 'none' | 'unknown' = 'none';
  // At depth 1: whether a key comes next, where the member's key began, and whether it is `model`.
  let expectKey = false;
  let keyAt = -1;
  let keyIsModel = false;
  let lastComma = -1;
  let open: ModelMember | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // A string is skipped whole, to its first unescaped quote (most of a chat body is strings:
      // searched natively, not walked character by character).
      let end = text.indexOf('"', i + 1);
      while (end > 0 && escaped(text, end)) end = text.indexOf('"', end + 1);
      if (end < 0) break; // unterminated: JSON.parse says so
      if (depth === 1) {
        if (expectKey) {
          members++;
          keyAt = i;
          // A key written with escapes is decoded (rare): `mod\u0065l` is `model` too.
          keyIsModel = end - i === 6 ? text.startsWith('model', i + 1) : end - i > 6 && hasBackslash(text, i, end) && decodes(text.slice(i, end + 1), 'model');
          expectKey = false;
        } else if (keyIsModel) {
          const member: ModelMember = { keyAt, valueAt: i, valueEnd: end + 1, written: text.slice(i + 1, end), commaBefore: lastComma, commaAfter: -1 };
          // A second `model`, or a value written with escapes (its text is not the name): not editable.
          model = model === 'none' && !hasBackslash(text, i, end) ? member : 'unknown';
          open = member;
          keyIsModel = false;
        }
      }
      i = end;
    } else if (c === 123 || c === 91) {
      if (++depth > max) {
        max = depth;
        if (max > stopAt) return { depth: max, raw: { text, model: 'unknown', members } };
      }
      if (depth === 1) expectKey = c === 123;
      else if (depth === 2 && keyIsModel) {
        // An object or an array as `model`: not editable as text.
        model = 'unknown';
        keyIsModel = false;
      }
    } else if (c === 125 || c === 93) depth--;
    else if (depth === 1 && c > 32 && c !== COLON) {
      if (c === COMMA) {
        if (open) open.commaAfter = i;
        open = undefined;
        lastComma = i;
        expectKey = true;
      } else if (keyIsModel) model = 'unknown'; // a number, true, false or null
      keyIsModel = false;
    }
  }
  return { depth: max, raw: { text, model, members } };
}

function hasBackslash(text: string, from: number, to: number): boolean {
  for (let k = from; k < to; k++) if (text.charCodeAt(k) === BACKSLASH) return true;
  return false;
}

/** Whether a JSON string literal says `value`. */
function decodes(literal: string, value: string): boolean {
  try {
    return JSON.parse(literal) === value;
  } catch {
    return false;
  }
}

/** Whether the quote at `at` is escaped: an odd run of backslashes before it. */
function escaped(text: string, at: number): boolean {
  let n = 0;
  while (text.charCodeAt(at - 1 - n) === BACKSLASH) n++;
  return n % 2 === 1;
}

/**
 * The text with `model` as its top-level model (the member removed when `model` is undefined);
 * undefined when the text cannot be edited so (the caller serialises the parsed object then).
 */
export function withModel(raw: RawJson, model: string | undefined): string | undefined {
  const { text, model: member } = raw;
  if (member === 'unknown') return undefined;
  if (member === 'none') {
    if (model === undefined) return text;
    const brace = text.indexOf('{');
    return `${text.slice(0, brace + 1)}"model":${JSON.stringify(model)}${raw.members > 0 ? ',' : ''}${text.slice(brace + 1)}`;
  }
  if (model === undefined) {
    // With the comma after it, or else the one before it (the last member), or alone.
    if (member.commaAfter >= 0) return text.slice(0, member.keyAt) + text.slice(member.commaAfter + 1);
    return text.slice(0, member.commaBefore >= 0 ? member.commaBefore : member.keyAt) + text.slice(member.valueEnd);
  }
  if (model === member.written) return text;
  return text.slice(0, member.valueAt) + JSON.stringify(model) + text.slice(member.valueEnd);
}

/**
 * Whether the scan agrees with the parsed object's `model`: a guard, as the scan and JSON.parse
 * should never disagree; if they do, the text is not edited.
 */
export function checked(raw: RawJson, parsed: Record<string, unknown>): RawJson {
  const value = parsed.model;
  const agrees = raw.model === 'none' ? !Object.hasOwn(parsed, 'model') : raw.model === 'unknown' || (typeof value === 'string' && raw.model.written === value);
  return agrees ? raw : { ...raw, model: 'unknown' };
}

/** A body a node takes as the client sent it: its text, with `model` in place of the client's when given. */
export function passBody(body: Record<string, unknown>, raw: RawJson | undefined, model: string | undefined): string {
  const text = raw && (model === undefined ? raw.text : withModel(raw, model));
  return text ?? JSON.stringify(model === undefined ? body : { ...body, model });
}

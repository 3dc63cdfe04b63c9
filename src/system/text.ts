/**
 * Text from outside (a node's reply, a command's output, a log, a file, a client) on its way to a
 * terminal, a log, a file or a webhook: the configured secrets scrubbed, control characters made
 * visible. One module, so that every door applies the same rule.
 *
 * Secrets: the values the config points at (node keys from the environment, header values, client
 * keys, the Redis password, webhook paths), remembered once the config is loaded
 * (config/secrets.ts). An upstream that echoes its key in an error must not get it into
 * incidents.json, a terminal or an alert.
 *
 * Control characters: an ESC sequence from a node can retitle a terminal, clear it or hide what
 * follows; a newline can forge a line of output or of a log. Shown as escapes (`\x1b`, `\n`).
 */

const REDACTED = '***';

/** Shorter values are not scrubbed: they would take ordinary words with them (schema keys are at least 8). */
const MIN_SECRET = 6;

const secrets = new Set<string>();
let pattern: RegExp | undefined;

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Values to scrub from here on, each also as it reads percent-encoded and inside a JSON string. */
export function rememberSecrets(values: Iterable<string | undefined>): void {
  let added = false;
  for (const v of values) {
    if (!v || v.length < MIN_SECRET) continue;
    for (const form of [v, encodeURIComponent(v), JSON.stringify(v).slice(1, -1)]) {
      if (secrets.has(form)) continue;
      secrets.add(form);
      added = true;
    }
  }
  // Longest first: a key that contains another is scrubbed whole.
  if (added) pattern = new RegExp([...secrets].sort((a, b) => b.length - a.length).map(escapeRegExp).join('|'), 'g');
}

/** `text` with every remembered secret replaced by `***`. */
export function scrub(text: string): string {
  return pattern && text ? text.replace(pattern, REDACTED) : text;
}

// Matching control characters is what these patterns are for.
/* eslint-disable no-control-regex */
/** C0 controls but tab and newline, DEL, C1 controls, and the Unicode line and paragraph separators. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g;
/** The same, newline and tab included. */
const CONTROL_OR_BREAK = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
/** What a terminal may get from jarvis's own colours (chalk's SGR sequences), else any control but newline and tab. */
const TERMINAL = /\u001b\[[0-9;]*m|[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g;
/* eslint-enable no-control-regex */
/** What JSON.stringify leaves raw that a terminal or a JavaScript parser of old would take as a control. */
const JSON_RAW = /[\u007f-\u009f\u2028\u2029]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\x1b' };

/** A control character as an escape a person can read. */
function visible(c: string): string {
  const named = NAMED[c];
  if (named) return named;
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** Text from outside for one line (a node's error, a model id, a GPU name): secrets scrubbed, every control character and line break shown as an escape. */
export function oneLine(text: string): string {
  return scrub(text).replace(CONTROL_OR_BREAK, visible);
}

/** Text from outside kept as lines (a model's answer, a log excerpt): secrets scrubbed, newlines and tabs kept, other controls shown as escapes. */
export function printable(text: string): string {
  return scrub(text).replace(/\r\n/g, '\n').replace(CONTROL, visible);
}

/**
 * The last guard before a terminal or a log: secrets scrubbed, jarvis's own colours kept, any
 * other control but newline and tab shown as an escape (what a renderer forgot to clean cannot
 * move the cursor, clear the screen or retitle the window).
 */
export function terminalSafe(text: string): string {
  return scrub(text).replace(TERMINAL, (m) => (m.length > 1 ? m : visible(m)));
}

/** JSON text for a terminal or a file: secrets scrubbed, and what JSON.stringify leaves raw (DEL, C1, U+2028/9) escaped. */
export function jsonSafe(json: string): string {
  return scrub(json).replace(JSON_RAW, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Edit distance (insert, delete, substitute, swap of neighbours), case-insensitive. */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const d: number[][] = Array.from({ length: x.length + 1 }, (_, i) => Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[x.length]![y.length]!;
}

/** The candidate closest to `word` when it is close enough to be a typo of it (a third of its letters, at least 1, at most 3). */
export function nearest(word: string, candidates: Iterable<string>): string | undefined {
  const limit = Math.min(3, Math.max(1, Math.floor(word.length / 3)));
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = distance(word, c);
    if (d <= limit && (!best || d < best.d)) best = { c, d };
  }
  return best?.c;
}

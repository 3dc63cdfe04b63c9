/**
 * Where human output goes and how it looks: colour only when wanted (NO_COLOR, --no-color, a
 * TTY, FORCE_COLOR), spinners only on a TTY and never with --json.
 */
import { Chalk, type ChalkInstance } from 'chalk';
import { jsonSafe, oneLine, printable, terminalSafe } from '../system/text.js';

export interface OutputOptions {
  json: boolean;
  color: boolean;
}

export interface Output {
  json: boolean;
  color: ChalkInstance;
  /** Whether stderr is an interactive terminal (spinners, live progress). */
  interactive: boolean;
  /** Terminal width for tables, when stdout is a terminal. */
  columns: number | undefined;
  out: (text: string) => void;
  err: (text: string) => void;
}

function wantsColor(flag: boolean, env: NodeJS.ProcessEnv, isTTY: boolean): boolean {
  if (!flag) return false;
  // https://no-color.org: any non-empty value disables colour.
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false') return true;
  if (env.TERM === 'dumb') return false;
  return isTTY;
}

/**
 * The width of a terminal that reports a usable one. A pty made by `script -qc`, `docker -t` or an
 * agent's shell is a TTY of 0 columns: a spinner redrawn there (it clears ceil(width / 0) lines)
 * writes without end, so it counts as no terminal at all.
 */
const MIN_COLUMNS = 20;
function usableColumns(stream: { isTTY?: boolean; columns?: number }): number | undefined {
  return stream.isTTY && typeof stream.columns === 'number' && stream.columns >= MIN_COLUMNS ? stream.columns : undefined;
}

export function createOutput(options: OutputOptions, env: NodeJS.ProcessEnv = process.env): Output {
  const colored = wantsColor(options.color, env, Boolean(process.stdout.isTTY));
  return {
    json: options.json,
    color: new Chalk({ level: colored ? 1 : 0 }),
    interactive: usableColumns(process.stderr) !== undefined && !options.json && env.CI !== 'true',
    columns: usableColumns(process.stdout),
    // The last guard: what a renderer forgot to clean (a node's text) cannot reach the terminal raw.
    out: (text) => void process.stdout.write(terminalSafe(text.endsWith('\n') ? text : `${text}\n`)),
    err: (text) => void process.stderr.write(terminalSafe(text.endsWith('\n') ? text : `${text}\n`)),
  };
}

/** A spinner on stderr when interactive; a no-op otherwise. Loaded lazily (ora is not free). */
export interface Spinner {
  stop(): void;
}

export async function startSpinner(output: Output, text: string): Promise<Spinner> {
  if (!output.interactive) return { stop: () => undefined };
  const { default: ora } = await import('ora');
  const spinner = ora({ text, stream: process.stderr, discardStdin: false }).start();
  return {
    stop: () => void spinner.stop(),
  };
}

/** Fields whose text is lines (a command's output, a model's answer): their newlines are kept. */
const MULTILINE = new Set(['output', 'content']);

/**
 * A result as a renderer may lay it out: every string in it (from a node, a command, a file, the
 * config) one line, secrets scrubbed, control characters shown as escapes, so that no field can
 * forge a line or steer the terminal; the fields in MULTILINE keep their newlines. The JSON view
 * gets the data as it is (JSON escapes it).
 */
export function forTerminal<T>(value: T, key?: string): T {
  if (typeof value === 'string') return (key !== undefined && MULTILINE.has(key) ? printable(value) : oneLine(value)) as T;
  if (Array.isArray(value)) return (value as unknown[]).map((v) => forTerminal(v, key)) as T;
  if (value !== null && typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = forTerminal(v, k);
    return out as T;
  }
  return value;
}

/** Prints a command's result: as JSON with --json (the contract), else as `render` makes it of the result made safe for a terminal (nothing when it makes ''). */
export function show<T>(output: Output, result: T, render: (result: T, output: Output) => string, asJson: (result: T) => unknown = (r) => r): void {
  if (output.json) printJson(asJson(result));
  else {
    const text = render(forTerminal(result), output);
    if (text) output.out(text);
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${jsonSafe(JSON.stringify(value, null, 2))}\n`);
}

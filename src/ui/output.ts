/**
 * Where human output goes and how it looks: colour only when wanted (NO_COLOR, --no-color, a
 * TTY, FORCE_COLOR), spinners only on a TTY and never with --json.
 */
import { Chalk, type ChalkInstance } from 'chalk';

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
    out: (text) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    err: (text) => void process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
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

/** Prints a command's result: as JSON with --json (the contract), else as `render` makes it (nothing when it makes ''). */
export function show<T>(output: Output, result: T, render: (result: T, output: Output) => string, asJson: (result: T) => unknown = (r) => r): void {
  if (output.json) printJson(asJson(result));
  else {
    const text = render(result, output);
    if (text) output.out(text);
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

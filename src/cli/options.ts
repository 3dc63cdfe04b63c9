/** Parsing of option values: each bad value is a UsageError (exit 2) that names its flag. */
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';

/** A whole-number option within bounds. */
export function wholeNumber(value: string, flag: string, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag}: expected a whole number${max === Number.MAX_SAFE_INTEGER ? ` of at least ${min}` : ` from ${min} to ${max}`}, got "${value}"`);
  }
  return n;
}

/** `--tools FILE`: a JSON list of OpenAI-style tools. */
export function readToolsFile(file: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`--tools ${file}: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) throw new UsageError(`--tools ${file}: expected a JSON list of tools ([{"type": "function", "function": {...}}])`);
  return parsed;
}

/** A repeatable option's values, in order. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

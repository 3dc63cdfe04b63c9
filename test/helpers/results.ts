/** Recorded-shape results for unit tests of code that reads command output. */
import type { CommandResult } from '../../src/system/process.js';

export function commandResult(over: Partial<CommandResult>): CommandResult {
  return { argv: ['cmd'], exitCode: 0, stdout: '', stderr: '', timedOut: false, canceled: false, notFound: false, durationMs: 5, ...over };
}

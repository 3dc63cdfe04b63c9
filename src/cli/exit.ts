/**
 * Errors to exit codes, in one place: what reaches the top of a run is printed once and mapped
 * to the code docs/commands.md names (ExitCode in errors.ts).
 */
import { CommanderError } from 'commander';
import { ExitCode, isJarvisError } from '../errors.js';

/** `check --nagios` could not check: the plugin's UNKNOWN line on stdout, exit 3. */
export class NagiosUnknown extends Error {}

export interface ErrorReport {
  code: number;
  stdout?: string;
  stderr?: string;
}

export function reportFor(error: unknown, interrupted: boolean): ErrorReport {
  if (error instanceof CommanderError) {
    // commander has printed its own message (or the help) already.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return { code: ExitCode.ok };
    return { code: ExitCode.usage };
  }
  if (error instanceof NagiosUnknown) {
    return { code: ExitCode.config, stdout: `JARVIS UNKNOWN - ${error.message.split('\n').map((l) => l.trim()).filter(Boolean).join(' ')}\n` };
  }
  if (isJarvisError(error)) return { code: error.exitCode, stderr: `jarvis: ${error.message}\n` };
  if ((error as { isLockBusy?: unknown } | null)?.isLockBusy === true) {
    return { code: ExitCode.config, stderr: `jarvis: a data file is locked by another jarvis process: ${(error as Error).message}\n` };
  }
  if (interrupted) return { code: ExitCode.interrupted, stderr: 'jarvis: interrupted\n' };
  // The bundle is minified; its source maps ship beside it.
  const hint = process.sourceMapsEnabled ? '' : 'jarvis: NODE_OPTIONS=--enable-source-maps shows source lines in this trace\n';
  return { code: ExitCode.internal, stderr: `jarvis: internal error: ${(error as Error)?.stack ?? String(error)}\n${hint}` };
}

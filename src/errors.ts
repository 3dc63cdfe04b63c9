/**
 * Errors that reach the top level. Each carries the exit code the CLI maps it to;
 * expected failures (a node that is down) are values, never these.
 */

/** Exit codes shared by every command (docs/commands.md). */
export const ExitCode = {
  ok: 0,
  /** Something the command checks is not healthy. */
  unhealthy: 1,
  usage: 2,
  /** Config or data file problem. */
  config: 3,
  /** A bug: an error nothing expected (sysexits' EX_SOFTWARE). */
  internal: 70,
  /** Stopped by Ctrl-C or SIGTERM (128 + SIGINT). */
  interrupted: 130,
} as const;

/** An error the CLI prints as is (no stack) and exits with `exitCode`. */
export class JarvisError extends Error {
  readonly isJarvisError = true;
  constructor(
    message: string,
    readonly exitCode: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'JarvisError';
  }
}

/** Bad arguments: unknown node id, malformed option. Exit 2. */
export class UsageError extends JarvisError {
  constructor(message: string) {
    super(message, ExitCode.usage);
    this.name = 'UsageError';
  }
}

/** A config file that is missing, unreadable or invalid. Exit 3. */
export class ConfigError extends JarvisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.config, options);
    this.name = 'ConfigError';
  }
}

/** A data file (incidents, state) that is corrupt or foreign. Exit 3; the file is left untouched. */
export class DataError extends JarvisError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, ExitCode.config, options);
    this.name = 'DataError';
  }
}

/**
 * Ctrl-C or SIGTERM cut the work short: what was seen is not a fact about the nodes (an aborted
 * probe reads as a failure), so nothing of it is recorded or shown as a diagnosis. Exit 130.
 */
class Interrupted extends JarvisError {
  constructor() {
    super('interrupted: nothing was recorded', ExitCode.interrupted);
    this.name = 'Interrupted';
  }
}

/** Throws Interrupted when `signal` has fired: call it after a wait, before anything is recorded. */
export function stopIfInterrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new Interrupted();
}

export function isJarvisError(error: unknown): error is JarvisError {
  return typeof error === 'object' && error !== null && (error as { isJarvisError?: unknown }).isJarvisError === true;
}

/**
 * What a command gets from the edge that runs it (the CLI builds one per run: src/cli/context.ts).
 * Everything with a side effect comes through here, lazily, so a test or another edge can give
 * its own; commands return results and the edge renders them.
 */
import type { CancelSignal } from '../system/cancel.js';
import type { Config } from '../config/schema.js';
import type { ProbeDeps } from '../probe/probe.js';
import type { ExecutorDeps } from '../runbook/executor.js';
import type { Runbook } from '../runbook/runbook.js';
import type { Records } from '../store/records.js';
import type { Clock } from '../system/clock.js';
import type { Output } from '../ui/output.js';

/** A sleep that a cancel signal cuts short (rejects with an AbortError). */
export type Sleep = (ms: number, signal?: CancelSignal) => Promise<void>;

export interface CommandContext {
  /** Where human output goes (and whether --json was asked for). */
  out: Output;
  /** The data directory (--data-dir, $JARVIS_DATA_DIR, ./data), absolute; what is in it, through `records()`. */
  dataDir: string;
  /** The one clock: wall time (`now`) for records, monotonic for durations. */
  clock: Clock;
  /** Aborted on Ctrl-C / SIGTERM. */
  signal: AbortSignal;
  env: NodeJS.ProcessEnv;
  /** What the user ran, for lock owners ("held by pid 42 … (jarvis recover ol1)"). */
  commandLine: string;
  /** This machine's name, for records. */
  hostname: string;
  /** The config (--config or the usual lookup), loaded once. */
  config(): Promise<Config>;
  /** The config read anew (for a reload); `config()` keeps the first one. */
  reloadConfig(): Promise<Config>;
  runbook(): Promise<Runbook>;
  /** The saved data (store/records.ts), opened once with the config. */
  records(): Promise<Records>;
  probeDeps(): Promise<ProbeDeps>;
  executorDeps(): Promise<ExecutorDeps>;
  sleep(): Promise<Sleep>;
  /** All of stdin, when it is not a terminal; '' otherwise. */
  readStdin(): Promise<string>;
  /** Shows `text` with a spinner (on a terminal) while `work` runs. */
  busy<T>(text: string, work: () => Promise<T>): Promise<T>;
  /** Closes what the run opened (the records' Redis connection); the edge calls it once the command is done. */
  close(): Promise<void>;
  /** Calls `listener` on SIGHUP until the returned function is called. */
  onHangup(listener: () => void): () => void;
}

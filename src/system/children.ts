/**
 * Child processes that announce themselves: `jarvis sim` and `jarvis serve --json` print one JSON
 * line when ready. The one way to wait for that line and to stop such a child, used by the demo,
 * the tests (test/helpers/cli.ts) and the benchmarks (bench/lib.js, through dist/system/children.js).
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ReadyOptions {
  /** The child's name in messages ("the simulated cluster"). */
  what: string;
  /** The `event` field the line must carry (`ready`, `listening`). */
  event: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Its stderr so far, for the error message when it fails to start. */
  stderr?: () => string;
}

/**
 * The child's first line on stdout, parsed, once it is the JSON event expected. The child is
 * stopped if it exits first, prints something else, is not ready within the timeout (15 s), or
 * the signal aborts.
 */
export async function startReady<T extends { event: string } = { event: string } & Record<string, unknown>>(child: ChildProcess, options: ReadyOptions): Promise<T> {
  const { what, event, timeoutMs = 15_000 } = options;
  if (!child.stdout) throw new Error(`${what}: no stdout to read`);
  const lines = createInterface({ input: child.stdout });
  const said = () => (options.stderr?.() ? `: ${options.stderr()}` : '');
  try {
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what} did not start within ${timeoutMs / 1000} s${said()}`)), timeoutMs);
      const fail = (error: Error) => {
        clearTimeout(timer);
        reject(error);
      };
      options.signal?.addEventListener('abort', () => fail(new Error('interrupted')), { once: true });
      child.once('exit', (code) => fail(new Error(`${what} exited (code ${code})${said()}`)));
      lines.once('line', (line) => {
        let ready: T | undefined;
        try {
          ready = JSON.parse(line) as T;
        } catch {
          // reported below
        }
        if (ready?.event === event) {
          clearTimeout(timer);
          resolve(ready);
        } else fail(new Error(`unexpected output from ${what}: ${line}`));
      });
    });
  } catch (error) {
    await stopChild(child);
    throw error;
  } finally {
    lines.close();
  }
}

/** SIGTERM, then SIGKILL if it lingers past `graceMs`; resolves with its exit code once it is gone. */
export function stopChild(child: ChildProcess, graceMs = 3000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    child.kill('SIGTERM');
  });
}

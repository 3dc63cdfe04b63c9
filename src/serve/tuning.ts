/**
 * `jarvis serve --low-memory`: V8 settings for less peak memory under many open streams, applied
 * at run time so that neither a unit file nor PM2 needs NODE_OPTIONS (the figures behind them:
 * bench/NOTES.md). Not the default: they cost throughput under load (docs/benchmarks.md has the figures).
 *
 * - `--liftoff-only`: keeps V8 from recompiling undici's WebAssembly HTTP parser with TurboFan,
 *   a large transient allocation during the first burst of traffic.
 * - `--semi-space-growth-factor=1`: the young generation stays at its starting size.
 * - `--heap-growing-percent=25`: the old generation's next GC limit grows more slowly.
 *
 * They trade throughput at high concurrency (the young generation's size) for peak memory under
 * many open streams. V8 reads them when it decides, not at
 * start-up, so they must be set before undici's parser is compiled (before the upstream client
 * is loaded). An unknown flag (a future V8 that renamed one) only prints a warning.
 */
export const SERVE_V8_FLAGS = ['--liftoff-only', '--semi-space-growth-factor=1', '--heap-growing-percent=25'] as const;

export async function tuneV8ForServe(): Promise<readonly string[]> {
  const v8 = await import('node:v8');
  for (const flag of SERVE_V8_FLAGS) v8.setFlagsFromString(flag);
  return SERVE_V8_FLAGS;
}

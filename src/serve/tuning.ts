/**
 * V8 settings for a long-running `jarvis serve`, applied at run time so that neither the unit
 * file nor PM2 needs NODE_OPTIONS. Measured with 1000 concurrent streams (the memory
 * target is 100 MB; the kernel's high-water mark, Node 20 on x64):
 *
 * - `--liftoff-only`: undici parses HTTP with a WebAssembly build of llhttp; once it is hot V8
 *   recompiles it with TurboFan, about 25 MB of transient compiler memory at the worst moment (the
 *   first burst). Liftoff's baseline code parses the same bytes; no throughput change measurable
 *   here. `--no-wasm-tier-up` and `--no-wasm-dynamic-tiering` do not prevent that compile.
 * - `--semi-space-growth-factor=1`: the young generation stays at its starting size instead of
 *   doubling up to 32 MB under load (which V8 then keeps).
 * - `--optimize-for-size`: V8's smaller-heap heuristics.
 *
 * Together (bench/serve.js, three runs): peak 92-94 MB from a cold start and 96-98 MB after a
 * burst of full-speed traffic, against 134-139 and 146-149 MB on V8's defaults; throughput and
 * latency through the proxy unchanged within the machine's noise.
 *
 * They must be set before undici's parser is compiled, that is before the upstream client is
 * loaded: V8 reads them when it decides, not at start-up, and Node leaves its flags writable.
 * An unknown flag (a future V8 that renamed one) only prints a warning on stderr.
 */
export const SERVE_V8_FLAGS = ['--liftoff-only', '--semi-space-growth-factor=1', '--optimize-for-size'] as const;

export async function tuneV8ForServe(): Promise<readonly string[]> {
  const v8 = await import('node:v8');
  for (const flag of SERVE_V8_FLAGS) v8.setFlagsFromString(flag);
  return SERVE_V8_FLAGS;
}

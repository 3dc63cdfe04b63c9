/**
 * V8 settings for a long-running `jarvis serve`, applied at run time so that neither the unit
 * file nor PM2 needs NODE_OPTIONS. Measured with 1000 concurrent streams (the memory
 * target is 100 MB; the kernel's high-water mark, Node 20 on x64):
 *
 * - `--liftoff-only`: undici parses HTTP with a WebAssembly build of llhttp; once it is hot V8
 *   recompiles it with TurboFan, about 25 MB of transient compiler memory at the worst moment (the
 *   first burst). Liftoff's baseline code parses the same bytes at no measurable cost here.
 *   `--no-wasm-tier-up` and `--no-wasm-dynamic-tiering` do not prevent that compile.
 * - `--semi-space-growth-factor=1`: the young generation stays at its starting size instead of
 *   doubling up to 32 MB under load (which V8 then keeps). Without it: 127 MB.
 * - `--heap-growing-percent=25`: the old generation's next GC limit is 1.25 times what survived
 *   instead of V8's up to 2 to 4 times. 10 % saves nothing more and costs throughput; 50 % peaks at
 *   98-100 MB.
 *
 * Together: peak 93-96 MB cold and 97-100 MB after a burst of full-speed traffic (five runs),
 * against 131-139 and 145-149 MB on V8's defaults; throughput at concurrency 16 is 94-108 % of
 * the defaults' (four runs, the two servers taking turns in 1 s rounds), that is noise; at 64 it
 * is 70-74 %, mostly from the small young generation (one run at 64: 2.6k req/s with all three,
 * 3.1k without --heap-growing-percent, 4.0k without --semi-space-growth-factor=1, 3.8k defaults).
 * V8 fixes the young generation's maximum at start-up, so no middle size can be chosen here.
 * `--v8-defaults` is the way out for a proxy with memory to spare and many clients.
 * `--optimize-for-size`, used before, saved 2-3 MB more but cost 20-25 % of the throughput: it
 * also makes V8's compilers favour smaller code. `--no-concurrent-recompilation` saves nothing.
 * The same three flags given on the node command line peaked at 126 MB here (not investigated):
 * set them here, not in NODE_OPTIONS.
 *
 * They must be set before undici's parser is compiled, that is before the upstream client is
 * loaded: V8 reads them when it decides, not at start-up, and Node leaves its flags writable.
 * An unknown flag (a future V8 that renamed one) only prints a warning on stderr.
 */
export const SERVE_V8_FLAGS = ['--liftoff-only', '--semi-space-growth-factor=1', '--heap-growing-percent=25'] as const;

export async function tuneV8ForServe(): Promise<readonly string[]> {
  const v8 = await import('node:v8');
  for (const flag of SERVE_V8_FLAGS) v8.setFlagsFromString(flag);
  return SERVE_V8_FLAGS;
}

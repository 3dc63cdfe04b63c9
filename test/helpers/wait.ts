/** The one poll loop of the tests: waits until `check` holds, or fails saying what never happened. */
export async function waitFor(check: () => boolean | Promise<boolean>, options: { what: string; timeoutMs?: number; intervalMs?: number }): Promise<void> {
  const { timeoutMs = 30_000, intervalMs = 100 } = options;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (performance.now() > deadline) throw new Error(`waited ${timeoutMs} ms: ${options.what} never happened`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// Loaded with `node --expose-gc --import` by the serve benchmark: on SIGUSR2, two full GCs, then
// the process's memory as JSON into $JARVIS_BENCH_HEAP: what it keeps alive (heap used, external
// and array buffers) apart from what V8 sized its heap to (RSS).
import { writeFileSync } from 'node:fs';

const file = process.env.JARVIS_BENCH_HEAP;
if (file && typeof globalThis.gc === 'function') {
  process.on('SIGUSR2', () => {
    globalThis.gc();
    globalThis.gc();
    const m = process.memoryUsage();
    writeFileSync(file, JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers }));
  });
}

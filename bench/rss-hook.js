// Loaded with `node --import` by the benchmarks: writes the process's peak RSS (KiB) on exit.
import { writeFileSync } from 'node:fs';

const file = process.env.JARVIS_BENCH_RSS;
if (file) process.on('exit', () => writeFileSync(file, String(process.resourceUsage().maxRSS)));

/** The process's limits, as the kernel states them (Linux's /proc; elsewhere, unknown). */
import { readFileSync } from 'node:fs';

/** The soft limit on open files (`ulimit -n`), or undefined where it cannot be read. */
export function openFileLimit(file = '/proc/self/limits'): number | undefined {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(file, 'utf8'));
    if (!line) return undefined;
    return line[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(line[1]);
  } catch {
    return undefined;
  }
}

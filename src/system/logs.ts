/** Reading the end of a service's log file (what a failed start printed). */
import { open } from 'node:fs/promises';
import { oneLine } from './text.js';

const STACK_FRAME = /^\s+at\s|^\s*\^+\s*$|^Node\.js v\d/;
const ERROR_LINE = /\b(error|fatal|panic|failed|failure|cannot|can't|unable|refused|denied|not found|no such|EADDRINUSE|EACCES|ENOENT|exception|out of memory|killed)\b/i;

/**
 * The lines of a program's output that say what went wrong: error lines first (a Node crash ends
 * in stack frames and `Node.js v20`, which say nothing), else the last lines, at most `n`, each
 * cut to 160 characters.
 */
export function meaningfulLines(text: string, n = 3): string {
  const lines = text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() && !STACK_FRAME.test(l));
  const errors = lines.filter((l) => ERROR_LINE.test(l));
  const picked = errors.length > 0 ? errors.slice(0, n) : lines.slice(-n);
  // Each line as a line of jarvis's output: no secret, no control character a terminal obeys.
  return picked.map((l) => oneLine(l.length > 160 ? `${l.slice(0, 159)}…` : l)).join('\n');
}

/** The last `lines` lines of a file (reads at most its last 8 KiB); '' if it cannot be read. */
export async function readLogTail(file: string, lines = 20): Promise<string> {
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 8192);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      return buffer
        .toString('utf8')
        .split('\n')
        .map((l) => l.trimEnd())
        .filter(Boolean)
        .slice(-lines)
        .join('\n');
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}

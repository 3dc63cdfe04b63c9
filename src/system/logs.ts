/** Reading the end of a service's log file (what a failed start printed). */
import { open } from 'node:fs/promises';

/** The last `lines` lines of a file (reads at most its last 8 KiB); '' if it cannot be read. */
export async function readLogTail(file: string, lines = 5): Promise<string> {
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

/** `<data>/check.log`: one JSON line per `jarvis check`, rotated once it is large (one previous file kept). */
import { appendFile, rename, stat } from 'node:fs/promises';
import { ensureDir, ioError } from '../system/files.js';
import { jsonSafe } from '../system/text.js';
import path from 'node:path';

const LOG_MAX_BYTES = 5 << 20;

export async function appendCheckLog(file: string, entry: Record<string, unknown>, maxBytes = LOG_MAX_BYTES): Promise<void> {
  await ensureDir(path.dirname(file));
  const size = await stat(file).then((s) => s.size, () => 0);
  if (size > maxBytes) await rename(file, `${file}.1`);
  await appendFile(file, `${jsonSafe(JSON.stringify(entry))}\n`).catch((error: unknown) => {
    throw ioError(error, file, 'append to');
  });
}

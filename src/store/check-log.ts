/** `<data>/check.log`: one JSON line per `jarvis check`, rotated once it is large (one previous file kept). */
import { appendFile, mkdir, rename, stat } from 'node:fs/promises';
import path from 'node:path';

const LOG_MAX_BYTES = 5 << 20;

export async function appendCheckLog(file: string, entry: Record<string, unknown>, maxBytes = LOG_MAX_BYTES): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const size = await stat(file).then((s) => s.size, () => 0);
  if (size > maxBytes) await rename(file, `${file}.1`);
  await appendFile(file, `${JSON.stringify(entry)}\n`);
}

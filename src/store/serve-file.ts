/** `<data>/serve.json`: where a running `jarvis serve` on this data dir listens, for `jarvis watch`. */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface ServeFile {
  url: string;
  pid: number;
  startedAt: string;
}

export async function writeServeFile(file: string, info: ServeFile): Promise<void> {
  // A serve on a fresh data dir has written nothing there yet.
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(info)}\n`);
}

/** The running serve's record; undefined when there is none or its process is gone. */
export async function readServeFile(file: string): Promise<ServeFile | undefined> {
  try {
    const info = JSON.parse(await readFile(file, 'utf8')) as ServeFile;
    if (typeof info.url !== 'string' || typeof info.pid !== 'number') return undefined;
    process.kill(info.pid, 0);
    return info;
  } catch {
    return undefined;
  }
}

/** Removed at shutdown, only by the process it names. */
export async function removeServeFile(file: string, pid: number): Promise<void> {
  const info = await readServeFile(file);
  if (info?.pid === pid) await rm(file, { force: true });
}

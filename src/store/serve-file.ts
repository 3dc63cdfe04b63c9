/** `<data>/serve.json`: where a running `jarvis serve` on this data dir listens, for `jarvis watch`. */
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface ServeFile {
  url: string;
  pid: number;
  startedAt: string;
}

const fileOf = (dataDir: string) => path.join(dataDir, 'serve.json');

export async function writeServeFile(dataDir: string, info: ServeFile): Promise<void> {
  await writeFile(fileOf(dataDir), `${JSON.stringify(info)}\n`);
}

/** The running serve's record; undefined when there is none or its process is gone. */
export async function readServeFile(dataDir: string): Promise<ServeFile | undefined> {
  try {
    const info = JSON.parse(await readFile(fileOf(dataDir), 'utf8')) as ServeFile;
    if (typeof info.url !== 'string' || typeof info.pid !== 'number') return undefined;
    process.kill(info.pid, 0);
    return info;
  } catch {
    return undefined;
  }
}

/** Removed at shutdown, only by the process it names. */
export async function removeServeFile(dataDir: string, pid: number): Promise<void> {
  const info = await readServeFile(dataDir);
  if (info?.pid === pid) await rm(fileOf(dataDir), { force: true });
}

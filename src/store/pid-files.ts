/**
 * `<data>/run/<node>.pid`: what jarvis started for a node (pid, command line, when), written when
 * a recovery starts the node's server, so that the next recovery can show the process holding
 * the port is the one it started (the same pid with the same command line), and stop it.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ensureDir, writeFileAtomic } from '../system/files.js';

/** What jarvis wrote when it started a node's server. */
export interface PidRecord {
  pid: number;
  argv: string[];
  startedAt: string;
}

/** The record, or undefined when there is none or it is not one (a stale or foreign file is ignored, never trusted). */
export async function readPidFile(file: string): Promise<PidRecord | undefined> {
  try {
    const x = JSON.parse(await readFile(file, 'utf8')) as Partial<PidRecord>;
    if (typeof x.pid === 'number' && Number.isInteger(x.pid) && x.pid > 0 && Array.isArray(x.argv) && x.argv.every((a) => typeof a === 'string') && typeof x.startedAt === 'string') {
      return { pid: x.pid, argv: x.argv, startedAt: x.startedAt };
    }
  } catch {
    // none, or not ours
  }
  return undefined;
}

export async function writePidFile(file: string, record: PidRecord): Promise<void> {
  await ensureDir(path.dirname(file));
  await writeFileAtomic(file, `${JSON.stringify(record)}\n`, 'write the pid file');
}

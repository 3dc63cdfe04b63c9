/**
 * The door to the data dir's files: the one rule for file-system errors, directories made safely,
 * atomic writes. A disk that is full, read-only
 * or not ours is a DataError that names the path and the cause (exit 3), never a stack trace; a
 * write that fails leaves no temp file behind.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DataError } from '../errors.js';

/** Errors of the place, not of jarvis: a full disk, a read-only or foreign dir, a path through a file. */
const IO_CODES = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'ENOTDIR', 'EISDIR', 'EDQUOT', 'EIO', 'ENOENT', 'ELOOP', 'ENAMETOOLONG', 'EEXIST']);

/** A file-system error as a DataError that says which path and what to do; other errors as they are. */
export function ioError(error: unknown, file: string, doing: string): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (!code || !IO_CODES.has(code)) return error;
  const why = (error as Error).message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
  return new DataError(`cannot ${doing} ${file}: ${code} (${why}). Is the data dir ${path.dirname(file)} writable, with room? Choose another with --data-dir or $JARVIS_DATA_DIR.`, { cause: error });
}

/** Writes `text` to `file` through a temp file and a rename; the temp file is removed when anything fails. */
export async function writeFileAtomic(file: string, text: string, doing = 'write'): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    await writeFile(temp, text, 'utf8');
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw ioError(error, file, doing);
  }
}

/**
 * Makes `dir` and its missing parents, one at a time. Node's own `recursive` mkdir never returns
 * under /proc (each ENOENT sends it to the parent, which exists, and back: a spin on a libuv
 * thread that even SIGTERM's clean-up waits on) and reports ENOENT where the cause is EROFS; this
 * walk is bounded by the path's depth and gives the real cause, as a DataError naming the path.
 */
export async function ensureDir(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    try {
      await mkdir(d);
      break;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') break;
      if (code !== 'ENOENT' || path.dirname(d) === d) throw ioError(error, d, 'create');
      missing.push(d);
    }
  }
  for (const d of missing.reverse()) {
    await mkdir(d).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(error, d, 'create');
    });
  }
}


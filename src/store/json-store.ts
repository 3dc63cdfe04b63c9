/**
 * A JSON file that several jarvis processes share (cron, a person, a proxy): every change is a
 * read-modify-write under a cross-process lock, written atomically (lowdb's file adapter writes a
 * temp file and renames it). A file of record that is corrupt or not ours is never overwritten:
 * reading it raises a DataError naming the path, and nothing is written. A cache (`cache: true`)
 * that is corrupt is moved aside (`<file>.corrupt-<time>`), said once, and started afresh.
 * A data dir that cannot be written is a DataError naming the path, never a stack trace.
 */
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Low } from 'lowdb';
import { DataFile } from 'lowdb/node';
import { DataError } from '../errors.js';
import { ensureDir, ioError } from '../system/files.js';
import { jsonSafe } from '../system/text.js';
import { acquireLock } from './lock.js';

export interface JsonStoreOptions<T> {
  /** Checks the parsed JSON; throws an Error whose message says what is wrong. */
  validate: (data: unknown) => T;
  empty: () => T;
  /** How long a writer waits for the lock before giving up. */
  lockWaitMs?: number;
  /** Pretty-print (small files people read) or compact (large ones). */
  indent?: number;
  /** The file can be rebuilt: a corrupt one is set aside rather than refused. */
  cache?: boolean;
  /** Where a set-aside file is reported (stderr by default). */
  warn?: (message: string) => void;
}

/** Thrown by the parser of a cache that is not valid: the file is set aside. */
class CorruptCache extends Error {}

export class JsonStore<T> {
  constructor(
    readonly file: string,
    private readonly options: JsonStoreOptions<T>,
  ) {}

  /** Reads the current contents without locking (writes are atomic renames, so a read is whole). */
  async read(): Promise<T> {
    const db = this.db();
    await this.load(db);
    return db.data;
  }

  /** Reads, lets `change` modify the data, writes it back: all under the lock. */
  async update<R>(change: (data: T) => R | Promise<R>): Promise<R> {
    let lock;
    try {
      await ensureDir(path.dirname(this.file));
      lock = await acquireLock(this.file, { waitMs: this.options.lockWaitMs ?? 30_000 });
    } catch (error) {
      throw ioError(error, this.file, 'lock');
    }
    try {
      const db = this.db();
      await this.load(db);
      const result = await change(db.data);
      await db.write().catch(async (error: unknown) => {
        // lowdb writes `.<name>.tmp` beside the file, then renames it: a write that failed (a full
        // disk) must not leave it behind, holding the space the next write needs.
        await rm(path.join(path.dirname(this.file), `.${path.basename(this.file)}.tmp`), { force: true }).catch(() => undefined);
        throw ioError(error, this.file, 'write');
      });
      return result;
    } finally {
      await lock.release().catch(() => undefined);
    }
  }

  private async load(db: Low<T>): Promise<void> {
    try {
      await db.read();
    } catch (error) {
      if (!(error instanceof CorruptCache)) throw ioError(error, this.file, 'read');
      const aside = `${this.file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      const moved = await rename(this.file, aside).then(
        () => true,
        () => false,
      );
      // Another process may have moved it first: only the one that did says so.
      if (moved) (this.options.warn ?? ((m: string) => process.stderr.write(`jarvis: ${m}\n`)))(`${this.file} ${error.message}; moved aside to ${aside} and started afresh (it is a cache)`);
      db.data = this.options.empty();
    }
  }

  private db(): Low<T> {
    const file = this.file;
    const { validate, indent } = this.options;
    const adapter = new DataFile<T>(file, {
      parse: (text) => {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch (error) {
          if (this.options.cache) throw new CorruptCache(`is not valid JSON (${(error as Error).message})`);
          throw new DataError(`${file} is not valid JSON (${(error as Error).message}); it was left untouched. Move it aside or fix it.`);
        }
        try {
          return validate(json);
        } catch (error) {
          if (this.options.cache) throw new CorruptCache(`does not look like a jarvis file (${(error as Error).message})`);
          throw new DataError(`${file} does not look like a jarvis file: ${(error as Error).message}; it was left untouched.`);
        }
      },
      // No secret is stored, whatever text from outside a record carries.
      stringify: (data) => `${jsonSafe(JSON.stringify(data, null, indent))}\n`,
    });
    return new Low<T>(adapter, this.options.empty());
  }
}

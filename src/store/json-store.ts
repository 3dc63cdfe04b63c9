/**
 * A JSON file that several jarvis processes share (cron, a person, a proxy): every change is a
 * read-modify-write under a cross-process lock, written atomically (lowdb's file adapter writes a
 * temp file and renames it). A file that is corrupt or not ours is never overwritten: reading it
 * raises a DataError naming the path, and nothing is written.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Low } from 'lowdb';
import { DataFile } from 'lowdb/node';
import { DataError } from '../errors.js';
import { acquireLock } from './lock.js';

export interface JsonStoreOptions<T> {
  /** Checks the parsed JSON; throws an Error whose message says what is wrong. */
  validate: (data: unknown) => T;
  empty: () => T;
  /** How long a writer waits for the lock before giving up. */
  lockWaitMs?: number;
  /** Pretty-print (small files people read) or compact (large ones). */
  indent?: number;
}

export class JsonStore<T> {
  constructor(
    readonly file: string,
    private readonly options: JsonStoreOptions<T>,
  ) {}

  /** Reads the current contents without locking (writes are atomic renames, so a read is whole). */
  async read(): Promise<T> {
    const db = this.db();
    await db.read();
    return db.data;
  }

  /** Reads, lets `change` modify the data, writes it back: all under the lock. */
  async update<R>(change: (data: T) => R | Promise<R>): Promise<R> {
    await mkdir(path.dirname(this.file), { recursive: true });
    const lock = await acquireLock(this.file, { waitMs: this.options.lockWaitMs ?? 30_000 });
    try {
      const db = this.db();
      await db.read();
      const result = await change(db.data);
      await db.write();
      return result;
    } finally {
      await lock.release();
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
          throw new DataError(`${file} is not valid JSON (${(error as Error).message}); it was left untouched. Move it aside or fix it.`);
        }
        try {
          return validate(json);
        } catch (error) {
          throw new DataError(`${file} does not look like a jarvis file: ${(error as Error).message}; it was left untouched.`);
        }
      },
      stringify: (data) => `${JSON.stringify(data, null, indent)}\n`,
    });
    return new Low<T>(adapter, this.options.empty());
  }
}

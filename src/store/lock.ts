/**
 * Cross-process locks in the data dir (proper-lockfile: a lock directory created atomically,
 * refreshed while held, taken over when stale, so a lock left by a killed process is recovered).
 * Named locks also record who holds them, so a refused caller can say who.
 */
import { readFile, rename, writeFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { systemClock, type Clock } from '../system/clock.js';
import { ensureDir, ioError } from '../system/files.js';

export interface LockOwner {
  pid: number;
  since: string;
  command: string;
  host?: string;
}

export interface HeldLock {
  release(): Promise<void>;
}

/** A lock stays held while its holder refreshes it; this long without a refresh and it is stale. */
const STALE_MS = 10_000;

/**
 * Takes the lock on `target` (a file path; the lock is `target.lock`), waiting up to `waitMs`.
 * Throws a LockBusyError when another process keeps it longer.
 */
export async function acquireLock(target: string, options: { waitMs: number; owner?: Omit<LockOwner, 'since' | 'host'>; clock?: Clock; random?: () => number }): Promise<HeldLock> {
  const clock = options.clock ?? systemClock();
  const random = options.random ?? Math.random;
  const lockPath = `${target}.lock`;
  await ensureDir(path.dirname(target));
  const started = clock.monotonic();
  let delay = 5;
  for (;;) {
    // The owner is written before the lock is taken and moved into place once it is held (a
    // rename needs no room): a full disk fails here, before any lock exists, and no lock is ever
    // left without its owner by a write that failed.
    const ownerFile = `${target}.owner.json`;
    const ownerTemp = `${ownerFile}.${process.pid}.tmp`;
    if (options.owner) {
      const owner: LockOwner = { ...options.owner, host: hostname(), since: new Date(clock.now()).toISOString() };
      await writeFile(ownerTemp, JSON.stringify(owner)).catch(async (error: unknown) => {
        await rm(ownerTemp, { force: true }).catch(() => undefined);
        throw ioError(error, lockPath, 'take the lock');
      });
    }
    let release: (() => Promise<void>) | undefined;
    try {
      release = await lockfile.lock(target, { realpath: false, lockfilePath: lockPath, stale: STALE_MS, update: STALE_MS / 2, retries: 0, onCompromised: () => undefined });
      if (options.owner) await rename(ownerTemp, ownerFile);
      const held = release;
      return {
        release: async () => {
          if (options.owner) await rm(ownerFile, { force: true }).catch(() => undefined);
          await held().catch(() => undefined);
        },
      };
    } catch (error) {
      if (options.owner) await rm(ownerTemp, { force: true }).catch(() => undefined);
      // Taken, but its owner could not be put in place: let it go before saying why.
      if (release) await release().catch(() => undefined);
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw ioError(error, lockPath, 'take the lock');
      const owner = await readOwner(`${target}.owner.json`);
      // A holder killed with SIGKILL cannot release its lock; on this host its pid tells at once
      // that it is gone, without waiting for the lock to go stale.
      if (owner && owner.host === hostname() && !processAlive(owner.pid)) {
        // Narrow the race with another process doing the same: only if the dead owner is still it.
        const again = await readOwner(`${target}.owner.json`);
        if (again?.pid !== owner.pid || again.since !== owner.since) continue;
        await rm(lockPath, { recursive: true, force: true });
        await rm(`${target}.owner.json`, { force: true });
        continue;
      }
      if (clock.monotonic() - started >= options.waitMs) throw new LockBusyError(target, owner);
      await new Promise((r) => setTimeout(r, delay + random() * delay));
      delay = Math.min(delay * 2, 100);
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readOwner(file: string): Promise<LockOwner | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

export class LockBusyError extends Error {
  readonly isLockBusy = true;
  constructor(
    readonly target: string,
    readonly owner: LockOwner | undefined,
  ) {
    super(owner ? `held by pid ${owner.pid} since ${owner.since} (${owner.command})` : `${target} is locked by another process`);
    this.name = 'LockBusyError';
  }
}

export function isLockBusy(error: unknown): error is LockBusyError {
  return typeof error === 'object' && error !== null && (error as { isLockBusy?: unknown }).isLockBusy === true;
}

/**
 * The probe history: every probe `status`, `check` and serve's health loop make, and
 * serve's request outcomes per minute, per node, kept `history.retentionDays` (default 90).
 *
 * Storage, and why: plain files in the data dir, no database. Writers append JSON lines to the
 * current hour's raw file (`history/raw/2026-12-02T17.jsonl`, one write per batch with O_APPEND,
 * so cron's check and a running serve never interleave or lock each other); once an hour is
 * over, the first process to notice folds it into that day's file (`history/days/2026-12-02.json`:
 * hourly buckets with counts by status, latency histograms, time to first token, and the
 * node's state transitions) under the file store's lock, then removes the raw file. A reader
 * therefore parses at most 30 small day files and one hour of raw lines for a month: no native
 * module to build (Node 20 has no SQLite of its own; better-sqlite3 would need a compiler or a
 * download on a fresh machine) and nothing to run beside jarvis. Proxies that share their state
 * in Redis keep this history there too (redis-history.ts), with the same folds.
 */
import { appendFile, readdir, readFile, rename, rm } from 'node:fs/promises';
import { ensureDir } from '../system/files.js';
import { jsonSafe } from '../system/text.js';
import path from 'node:path';
import { historyRule, type NodeState, type Sample } from '../history/buckets.js';
import { assemble, DAY, dayOf, foldInto, hourName, parseSamples, validateDay, type DayFile, type History, type HistoryOptions, type NodeHistory } from './history-days.js';
import type { Config } from '../config/schema.js';
import { JsonStore } from './json-store.js';
import { RedisHistory } from './redis-history.js';
import { redisUrl } from './shared-state.js';

export class HistoryStore implements History {
  readonly dir: string;

  constructor(
    dataDir: string,
    private readonly options: HistoryOptions,
  ) {
    this.dir = path.join(dataDir, 'history');
  }

  private rawDir(): string {
    return path.join(this.dir, 'raw');
  }

  private dayStore(day: string): JsonStore<DayFile> {
    return new JsonStore<DayFile>(path.join(this.dir, 'days', `${day}.json`), { validate: validateDay, empty: () => ({ v: 1, day, nodes: {}, end: {} }) });
  }

  /** Appends samples to their hours' raw files (folding them is `compact`'s job, run by the records' maintenance). */
  async append(samples: Sample[]): Promise<void> {
    if (samples.length === 0) return;
    await ensureDir(this.rawDir());
    const byHour = new Map<string, string[]>();
    for (const s of samples) {
      const name = hourName(s.t);
      const list = byHour.get(name) ?? [];
      list.push(jsonSafe(JSON.stringify(s)));
      byHour.set(name, list);
    }
    await Promise.all([...byHour].map(([name, lines]) => appendFile(path.join(this.rawDir(), `${name}.jsonl`), `${lines.join('\n')}\n`)));
  }

  /** Raw hour files, oldest first. */
  private async rawHours(): Promise<string[]> {
    const names = await readdir(this.rawDir()).catch(() => [] as string[]);
    return names.filter((n) => /^\d{4}-\d\d-\d\dT\d\d\.jsonl$/.test(n)).map((n) => n.slice(0, 13)).sort();
  }

  private async days(): Promise<string[]> {
    const names = await readdir(path.join(this.dir, 'days')).catch(() => [] as string[]);
    return names.filter((n) => /^\d{4}-\d\d-\d\d\.json$/.test(n)).map((n) => n.slice(0, 10)).sort();
  }

  /** The state machines at the end of the last day file before `day` (a new day starts there). */
  private async endBefore(day: string): Promise<Record<string, NodeState>> {
    const before = (await this.days()).filter((d) => d < day).at(-1);
    if (!before) return {};
    return (await this.readDay(before))?.end ?? {};
  }

  /** A day file as it is on disk (written by atomic rename: whole); a bad one is said and left out, never rewritten. */
  private async readDay(day: string): Promise<DayFile | undefined> {
    const file = path.join(this.dir, 'days', `${day}.json`);
    try {
      return validateDay(JSON.parse(await readFile(file, 'utf8')));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.options.warn?.(`history: ${file}: ${(error as Error).message}; that day is left out`);
      return undefined;
    }
  }

  /** Raw files being folded (`2026-12-02T17.<tag>.folding`), by day. */
  private async foldingFiles(): Promise<string[]> {
    const names = await readdir(this.rawDir()).catch(() => [] as string[]);
    return names.filter((n) => /^\d{4}-\d\d-\d\dT\d\d\.[\w-]+\.folding$/.test(n)).sort();
  }

  /**
   * Folds every raw hour that is over into its day file (one locked write per day), and prunes
   * what retention drops. Each hour file is renamed aside before it is read (a late writer starts
   * a new one), and the day file records which it folded, so a fold cut short is neither lost
   * (the aside file is folded next time) nor counted twice (one already recorded is only removed).
   */
  async compact(): Promise<void> {
    const current = hourName(this.options.now());
    const due = (await this.rawHours()).filter((h) => h < current);
    const leftovers = await this.foldingFiles();
    const days = new Set([...due.map((h) => h.slice(0, 10)), ...leftovers.map((f) => f.slice(0, 10))]);
    for (const day of [...days].sort()) {
      const carried = await this.endBefore(day);
      const done: string[] = [];
      await this.dayStore(day).update(async (d) => {
        if (Object.keys(d.nodes).length === 0 && Object.keys(d.end).length === 0) d.end = { ...carried };
        const folded = new Set(d.folded ?? []);
        const aside: string[] = [];
        for (const name of (await this.foldingFiles()).filter((f) => f.startsWith(day))) {
          if (folded.has(name)) done.push(name);
          else aside.push(name);
        }
        for (const hour of due.filter((h) => h.startsWith(day))) {
          const name = `${hour}.${process.pid}-${Math.random().toString(36).slice(2, 8)}.folding`;
          const moved = await rename(path.join(this.rawDir(), `${hour}.jsonl`), path.join(this.rawDir(), name)).then(() => true, () => false);
          if (moved) aside.push(name);
        }
        for (const name of aside) {
          const file = path.join(this.rawDir(), name);
          const { samples, bad } = parseSamples(await readFile(file, 'utf8'));
          if (bad > 0) this.options.warn?.(`history: ${bad} unreadable line(s) in ${file} skipped`);
          foldInto(d, samples, this.options.rule);
          folded.add(name);
          done.push(name);
        }
        d.folded = [...folded];
      });
      // Written: what it folded can go.
      for (const name of done) await rm(path.join(this.rawDir(), name), { force: true });
    }
    await this.prune();
  }

  private async prune(): Promise<void> {
    const oldest = dayOf(this.options.now() - this.options.retentionDays * DAY);
    for (const day of await this.days()) if (day < oldest) await rm(path.join(this.dir, 'days', `${day}.json`), { force: true });
    for (const hour of await this.rawHours()) if (hour.slice(0, 10) < oldest) await rm(path.join(this.rawDir(), `${hour}.jsonl`), { force: true });
  }

  /** Every node's buckets and transitions from `fromMs` to `toMs`, the hours not folded yet included. */
  async read(fromMs: number, toMs: number): Promise<Map<string, NodeHistory>> {
    const fromDay = dayOf(fromMs);
    const toDay = dayOf(toMs);
    const inRange = (await this.days()).filter((d) => d >= fromDay && d <= toDay);
    // Read in parallel, added in order (the states run from day to day).
    const [startEnd, loaded] = await Promise.all([this.endBefore(fromDay), Promise.all(inRange.map((day) => this.readDay(day)))]);
    // Hours not folded yet (the one in progress, or one another process is folding now).
    const raw = (await this.rawHours()).filter((h) => h.slice(0, 10) >= fromDay && h.slice(0, 10) <= toDay);
    const samples: Sample[] = [];
    for (const hour of raw) samples.push(...parseSamples(await readFile(path.join(this.rawDir(), `${hour}.jsonl`), 'utf8').catch(() => '')).samples);
    return assemble(fromMs, toMs, startEnd, loaded.filter((d) => d !== undefined), samples, this.options.rule);
  }
}

/**
 * The history a command's config asks for: its retention, and check's rule for up and down; in
 * Redis when the shared state is (`state.backend: redis` or $JARVIS_REDIS_URL), else the data dir's files.
 */
export function historyStore(config: Config, dataDir: string, now: () => number, warn?: (message: string) => void, env: NodeJS.ProcessEnv = process.env): History {
  const options: HistoryOptions = { retentionDays: config.history.retentionDays, rule: historyRule(config), now, ...(warn && { warn }) };
  const local = new HistoryStore(dataDir, options);
  const url = redisUrl(config, env);
  return url ? new RedisHistory(url, config.state.keyPrefix, options, local) : local;
}

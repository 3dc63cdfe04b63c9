/**
 * The probe history in Redis, for proxies that share their state there: the same
 * samples, hour buckets and day folds as the data dir's files (history.ts), so every instance's
 * status page, `jarvis report` and `jarvis watch` show one history. Layout, under the key prefix:
 * `history:raw:<hour>` (a list of sample lines, appended with RPUSH), `history:hours` (the hours
 * with raw lines), `history:day:<day>` (a folded day, JSON) and `history:days`. A fold is one
 * transaction per day (WATCH the day and its raw hours, MULTI: write the day, drop the hours), so
 * two instances folding at once, or a late append, retry instead of losing or doubling samples.
 *
 * While Redis cannot be reached, samples go to the data dir's files and reads come from there,
 * said once per call by the caller's warn.
 */
import type { Redis } from './redis-client.js';
import type { Sample } from '../history/buckets.js';
import { assemble, dayOf, foldInto, hourName, parseSamples, validateDay, type DayFile, type History, type HistoryOptions, type NodeHistory } from './history-days.js';

const DAY = 86_400_000;

export class RedisHistory implements History {
  constructor(
    private readonly url: string,
    private readonly prefix: string,
    private readonly options: HistoryOptions,
    /** Where samples go, and reads come from, while Redis is away. */
    private readonly local: History,
  ) {}

  #key(...parts: string[]): string {
    return `${this.prefix}history:${parts.join(':')}`;
  }

  /** One short connection per call (a health tick, a minute's outcomes, a page): nothing held open to keep a command alive. */
  async #with<T>(fn: (r: Redis) => Promise<T>): Promise<T> {
    const { redisClient } = await import('./redis-client.js');
    const r = redisClient(this.url, false);
    try {
      await r.connect();
      return await fn(r);
    } finally {
      r.disconnect();
    }
  }

  #away(what: string, error: unknown): void {
    this.options.warn?.(`history: shared history unavailable (${(error as Error).message}); ${what} the data dir's files`);
  }

  async append(samples: Sample[]): Promise<void> {
    if (samples.length === 0) return;
    const byHour = new Map<string, string[]>();
    for (const s of samples) byHour.set(hourName(s.t), [...(byHour.get(hourName(s.t)) ?? []), JSON.stringify(s)]);
    try {
      await this.#with(async (r) => {
        const tx = r.multi();
        for (const [hour, lines] of byHour) tx.rpush(this.#key('raw', hour), ...lines).sadd(this.#key('hours'), hour);
        await tx.exec();
      });
    } catch (error) {
      this.#away('recorded in', error);
      await this.local.append(samples);
    }
  }

  /** Folds finished hours in Redis, and in the data dir's files those written while Redis was away. */
  async compact(): Promise<void> {
    await this.local.compact();
    await this.#with((r) => this.#compact(r)).catch((error: unknown) => this.#away('folded only', error));
  }

  async #compact(r: Redis): Promise<void> {
    const current = hourName(this.options.now());
    const due = (await r.smembers(this.#key('hours'))).filter((h) => h < current).sort();
    for (const day of [...new Set(due.map((h) => h.slice(0, 10)))]) {
      const hours = due.filter((h) => h.startsWith(day));
      for (let attempt = 0; ; attempt++) {
        if (attempt === 20) throw new Error(`could not fold ${day}: 20 conflicting writes in a row`);
        await r.watch(this.#key('day', day), ...hours.map((h) => this.#key('raw', h)));
        const d = (await this.#day(r, day)) ?? { v: 1, day, nodes: {}, end: await this.#endBefore(r, day) };
        for (const h of hours) {
          const { samples, bad } = parseSamples((await r.lrange(this.#key('raw', h), 0, -1)).join('\n'));
          if (bad > 0) this.options.warn?.(`history: ${bad} unreadable line(s) in ${this.#key('raw', h)} skipped`);
          foldInto(d, samples, this.options.rule);
        }
        const done = await r.multi().set(this.#key('day', day), JSON.stringify(d)).sadd(this.#key('days'), day).del(...hours.map((h) => this.#key('raw', h))).srem(this.#key('hours'), ...hours).exec();
        if (done) break;
      }
    }
    await this.#prune(r);
  }

  async #prune(r: Redis): Promise<void> {
    const oldest = dayOf(this.options.now() - this.options.retentionDays * DAY);
    const days = (await r.smembers(this.#key('days'))).filter((d) => d < oldest);
    const hours = (await r.smembers(this.#key('hours'))).filter((h) => h.slice(0, 10) < oldest);
    if (days.length > 0) await r.multi().del(...days.map((d) => this.#key('day', d))).srem(this.#key('days'), ...days).exec();
    if (hours.length > 0) await r.multi().del(...hours.map((h) => this.#key('raw', h))).srem(this.#key('hours'), ...hours).exec();
  }

  /** A folded day; one that does not parse is said and left out (and folded afresh only if new samples come). */
  async #day(r: Redis, day: string): Promise<DayFile | undefined> {
    const raw = await r.get(this.#key('day', day));
    if (raw === null) return undefined;
    try {
      return validateDay(JSON.parse(raw));
    } catch (error) {
      this.options.warn?.(`history: ${this.#key('day', day)}: ${(error as Error).message}; that day is left out`);
      return undefined;
    }
  }

  async #endBefore(r: Redis, day: string): Promise<DayFile['end']> {
    const before = (await r.smembers(this.#key('days'))).filter((d) => d < day).sort().at(-1);
    return before ? ((await this.#day(r, before))?.end ?? {}) : {};
  }

  async read(fromMs: number, toMs: number): Promise<Map<string, NodeHistory>> {
    try {
      return await this.#with(async (r) => {
        const fromDay = dayOf(fromMs);
        const toDay = dayOf(toMs);
        const inRange = (await r.smembers(this.#key('days'))).filter((d) => d >= fromDay && d <= toDay).sort();
        const days = (await Promise.all(inRange.map((d) => this.#day(r, d)))).filter((d) => d !== undefined);
        const hours = (await r.smembers(this.#key('hours'))).filter((h) => h.slice(0, 10) >= fromDay && h.slice(0, 10) <= toDay);
        const samples: Sample[] = [];
        for (const h of hours) samples.push(...parseSamples((await r.lrange(this.#key('raw', h), 0, -1)).join('\n')).samples);
        return assemble(fromMs, toMs, await this.#endBefore(r, fromDay), days, samples, this.options.rule);
      });
    } catch (error) {
      this.#away('read from', error);
      return this.local.read(fromMs, toMs);
    }
  }
}

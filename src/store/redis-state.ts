/**
 * The shared state in Redis (opened by redis-client.ts). Each
 * node's health is one JSON value, changed with WATCH/MULTI so that two instances recording at
 * the same moment both count (a conflict retries); the breaker arithmetic is the fold the caller hands in.
 * Every sync reads all nodes back, so a breaker one instance opens is open for all within a sync
 * (1 s). The lease is SET NX PX, renewed while held and released only by its holder.
 */
import { randomBytes } from 'node:crypto';
import { redisClient, type Redis } from './redis-client.js';
import { replay, type HealthEvent, type HealthFold, type NodeHealth } from './health-record.js';
import type { LeaseResult, SharedPins, SharedState } from './shared-state.js';

const LEASE_MS = 30_000;
const SEEN_MS = 60_000;
/** Compare-and-renew and compare-and-delete: only the holder may extend or drop its lease. */
const RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

export class RedisState implements SharedState {
  readonly backend = 'redis';
  readonly where: string;
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #instance: string;
  #seen = 1;
  /** The first connection (bounded by connectTimeout); later outages reconnect on their own. */
  readonly #connecting: Promise<void>;

  constructor(url: string, prefix: string, instance: string) {
    this.#prefix = prefix;
    this.#instance = `${instance}:${randomBytes(3).toString('hex')}`;
    const u = new URL(url);
    u.password = '';
    u.username = '';
    this.where = u.toString();
    this.#redis = redisClient(url, true);
    this.#connecting = this.#redis.connect().catch(() => undefined);
  }

  /** Every command waits for the first connection attempt, then fails fast while Redis is away. */
  get #conn(): Promise<Redis> {
    return this.#connecting.then(() => this.#redis);
  }

  #key(...parts: string[]): string {
    return `${this.#prefix}${parts.join(':')}`;
  }

  async #nodes(): Promise<Record<string, NodeHealth>> {
    const ids = await (await this.#conn).smembers(this.#key('nodes'));
    if (ids.length === 0) return {};
    const values = await (await this.#conn).mget(...ids.map((id) => this.#key('node', id)));
    const out: Record<string, NodeHealth> = {};
    ids.forEach((id, i) => {
      const v = values[i];
      if (v) out[id] = JSON.parse(v) as NodeHealth;
    });
    return out;
  }

  async load() {
    const [nodes, served] = await Promise.all([this.#nodes(), (await this.#conn).hgetall(this.#key('served'))]);
    return { nodes, served: Object.fromEntries(Object.entries(served).map(([id, v]) => [id, JSON.parse(v) as string[]])) };
  }

  async exchange(events: HealthEvent[], served: Record<string, string[]>, fold: HealthFold) {
    const byNode = new Map<string, HealthEvent[]>();
    for (const e of events) byNode.set(e.node, [...(byNode.get(e.node) ?? []), e]);
    for (const [id, list] of byNode) await this.#apply(id, list, fold);
    if (Object.keys(served).length > 0) await (await this.#conn).hset(this.#key('served'), Object.fromEntries(Object.entries(served).map(([id, v]) => [id, JSON.stringify(v)])));
    // The heartbeat: who synced within the last minute.
    const now = Date.now();
    const [, , seen] = (await (await this.#conn).multi().zadd(this.#key('instances'), now, this.#instance).zremrangebyscore(this.#key('instances'), '-inf', now - SEEN_MS).zcard(this.#key('instances')).exec()) ?? [];
    if (seen && typeof seen[1] === 'number') this.#seen = seen[1];
    return this.#nodes();
  }

  /** One node's events, applied atomically: WATCH, read, apply, MULTI/EXEC; a conflict retries. */
  async #apply(id: string, events: HealthEvent[], fold: HealthFold): Promise<void> {
    const key = this.#key('node', id);
    const resets = this.#key('resets');
    const conn = await this.#conn;
    for (let attempt = 0; attempt < 50; attempt++) {
      await conn.watch(key, resets);
      const [raw, stamp] = await Promise.all([conn.get(key), conn.hget(resets, id)]);
      // Outcomes from before a reset are dropped, as the file store does.
      const section = { nodes: raw ? { [id]: JSON.parse(raw) as NodeHealth } : {}, ...(stamp !== null && { resets: { [id]: Number(stamp) } }) };
      replay(section, events, fold);
      const h = section.nodes[id];
      if (h === undefined) {
        await conn.unwatch();
        return;
      }
      const done = await conn.multi().set(key, JSON.stringify(h)).sadd(this.#key('nodes'), id).exec();
      if (done) return;
    }
    throw new Error(`could not record ${id}'s outcomes: 50 conflicting writes in a row`);
  }

  instances(): number {
    return this.#seen;
  }

  async shareLoad(own: Record<string, number>): Promise<Record<string, number>> {
    const conn = await this.#conn;
    const mine = this.#key('load', this.#instance);
    const fields = Object.entries(own).filter(([, n]) => n > 0);
    // A short life: an instance that stops reporting drops out within seconds.
    const tx = conn.multi().del(mine);
    if (fields.length > 0) tx.hset(mine, Object.fromEntries(fields.map(([id, n]) => [id, String(n)]))).pexpire(mine, 5000);
    await tx.exec();
    const others = (await conn.zrange(this.#key('instances'), '0', '-1')).filter((i) => i !== this.#instance);
    if (others.length === 0) return {};
    const p = conn.pipeline();
    for (const i of others) p.hgetall(this.#key('load', i));
    const sum: Record<string, number> = {};
    for (const [err, value] of (await p.exec()) ?? []) {
      if (err || !value) continue;
      for (const [id, n] of Object.entries(value as Record<string, string>)) sum[id] = (sum[id] ?? 0) + Number(n);
    }
    return sum;
  }

  /** Affinity's pins: a key each (`<prefix>pin:<key>`), its time to live started again by each use. */
  readonly pins: SharedPins = {
    getPin: async (key, ttlMs) => (await (await this.#conn).getex(this.#key('pin', key), 'PX', ttlMs)) ?? undefined,
    setPin: async (key, value, ttlMs) => void (await (await this.#conn).set(this.#key('pin', key), value, 'PX', ttlMs)),
  };

  async lease(node: string, owner: string): Promise<LeaseResult> {
    const key = this.#key('lease', node);
    const token = `${owner} (${this.#instance})`;
    try {
      const got = await (await this.#conn).set(key, token, 'PX', LEASE_MS, 'NX');
      if (got !== 'OK') return { held: (await (await this.#conn).get(key)) ?? 'another instance' };
    } catch (error) {
      return { unavailable: (error as Error).message };
    }
    const renew = setInterval(() => void this.#redis.eval(RENEW, 1, key, token, String(LEASE_MS)).catch(() => undefined), LEASE_MS / 3);
    renew.unref();
    return {
      release: async () => {
        clearInterval(renew);
        await (await this.#conn).eval(RELEASE, 1, key, token).catch(() => undefined);
      },
    };
  }

  async reset(node: string, at: number): Promise<boolean> {
    const done = await (await this.#conn).multi().del(this.#key('node', node)).srem(this.#key('nodes'), node).hset(this.#key('resets'), node, String(at)).exec();
    return done?.[0]?.[1] === 1;
  }

  async close(): Promise<void> {
    await (await this.#conn).zrem(this.#key('instances'), this.#instance).catch(() => undefined);
    this.#redis.disconnect();
  }
}

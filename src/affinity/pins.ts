/**
 * The pin table of KV-cache affinity: conversation key -> the node that answered its last turn
 * (and holds its prefix in its cache). Bounded: an entry idle for `ttlMs` is gone, and beyond
 * `maxEntries` the least recently used goes first (a Map keeps insertion order: a use moves an
 * entry to the end). A pin made before its node's breaker last opened is dead: the node failed
 * since (a restart empties its cache), whichever instance saw it.
 */
import type { ConversationKey } from './fingerprint.js';

/** What affinity did for a request (the `x-jarvis-affinity` header, the metric's label). */
export type AffinityOutcome = 'hit' | 'miss' | 'repin' | 'off';

export interface Pin {
  node: string;
  /** When it was made or last used (wall ms). */
  at: number;
  /** When it was made (wall ms): checked against the node's last breaker opening. */
  made: number;
  /** Its conversation went on (a later turn has its own pin): still found (a client may ask again), no longer counted. */
  moved?: boolean;
}

/** About what an entry costs in memory: a Map slot with a number key, and the pin object. */
export const BYTES_PER_PIN = 120;

export class PinTable {
  readonly #pins = new Map<ConversationKey, Pin>();

  constructor(
    private ttlMs: number,
    private maxEntries: number,
  ) {}

  /** New limits after a config reload; the oldest beyond the new cap go at once. */
  configure(ttlMs: number, maxEntries: number): void {
    this.ttlMs = ttlMs;
    this.maxEntries = maxEntries;
    this.#trim();
  }

  /** The live pin for `key`, touched (its idle time starts again), or undefined. `openedAt`: when the node's breaker last opened. */
  get(key: ConversationKey, now: number, openedAt: (node: string) => number | undefined): Pin | undefined {
    const pin = this.#pins.get(key);
    if (!pin) return undefined;
    this.#pins.delete(key);
    if (!this.#live(pin, now, openedAt)) return undefined;
    pin.at = now;
    this.#pins.set(key, pin);
    return pin;
  }

  /** Pins `key` to `node` (made now, or when another instance made it). */
  set(key: ConversationKey, node: string, now: number, made = now): void {
    const pin = this.#pins.get(key);
    if (pin) this.#pins.delete(key);
    this.#pins.set(key, pin && pin.node === node ? ((pin.at = now), pin) : { node, at: now, made });
    this.#trim(now);
  }

  /** The conversation of `key` went on to a later turn (pinned under its own key): not counted any more. */
  moved(key: ConversationKey): void {
    const pin = this.#pins.get(key);
    if (pin) pin.moved = true;
  }

  /** A node's pins dropped (its breaker opened: its cache is not to be counted on). */
  dropNode(node: string): number {
    let n = 0;
    for (const [key, pin] of this.#pins) {
      if (pin.node === node) {
        this.#pins.delete(key);
        n++;
      }
    }
    return n;
  }

  /** Conversations pinned per node now (expired, dead and moved-on entries left out), and the entries held. */
  counts(now: number, openedAt: (node: string) => number | undefined): { byNode: Record<string, number>; entries: number } {
    this.#trim(now);
    const byNode: Record<string, number> = {};
    for (const pin of this.#pins.values()) {
      if (pin.moved || !this.#live(pin, now, openedAt)) continue;
      byNode[pin.node] = (byNode[pin.node] ?? 0) + 1;
    }
    return { byNode, entries: this.#pins.size };
  }

  /** Not idle past its time to live, and made after its node's breaker last opened. */
  #live(pin: Pin, now: number, openedAt: (node: string) => number | undefined): boolean {
    return now - pin.at <= this.ttlMs && pin.made > (openedAt(pin.node) ?? -Infinity);
  }

  get size(): number {
    return this.#pins.size;
  }

  /** Over the cap, the least recently used go; with `now`, the idle ones at the front too (they are the oldest). */
  #trim(now?: number): void {
    for (const [key, pin] of this.#pins) {
      if (this.#pins.size <= this.maxEntries && (now === undefined || now - pin.at <= this.ttlMs)) break;
      this.#pins.delete(key);
    }
  }
}

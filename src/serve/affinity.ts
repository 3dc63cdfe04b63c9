/**
 * KV-cache affinity in `jarvis serve` (docs/proxy.md, "Affinity"): each request's conversation
 * keys (affinity/fingerprint.ts), the pin they find (this process's table, or Redis when the
 * state is shared), and once answered, the pin its next turn will find. The cascade puts a
 * pinned node first when it may take the request (cascade/routing.ts's pinFirst); what came of
 * it is the `x-jarvis-affinity` header and a counter.
 */
import type { CascadeRequest, CascadeResult } from '../cascade/engine.js';
import type { NodeHealth } from '../cascade/node-health.js';
import type { Config } from '../config/schema.js';
import { AnswerPrint, namedKey, printRequest, type ConversationKey } from '../affinity/fingerprint.js';
import { BYTES_PER_PIN, PinTable, type AffinityOutcome } from '../affinity/pins.js';
import type { SharedPins } from '../store/shared-state.js';

/** One request's part in affinity: its keys, the pin it found, its answer as it comes. */
export interface AffinityTicket {
  /** The keys the answer is remembered under (its next turn's prefix key is the answer's own). */
  named: ConversationKey[];
  answer: AnswerPrint | undefined;
  /** The node the pin named, whether or not the cascade could take it. */
  pinned: string | undefined;
  /** The key that found it. */
  found?: ConversationKey;
}

/** How long a shared lookup may take before the local table answers instead. */
const SHARED_WAIT_MS = 50;
/** After Redis failed a lookup, how long local pins answer alone. */
const SHARED_REST_MS = 2000;

const OFF: AffinityTicket = Object.freeze({ named: [], answer: undefined, pinned: undefined });

export class Affinity {
  readonly table: PinTable;
  #settings: Config['routing']['affinity'];
  readonly #counts: Record<AffinityOutcome, number> = { hit: 0, miss: 0, repin: 0, off: 0 };
  /** Until when the shared pins are not asked (they failed). */
  #restUntil = 0;

  constructor(
    config: Config,
    private readonly health: (id: string) => NodeHealth | undefined,
    private readonly now: () => number,
    private readonly shared?: SharedPins,
  ) {
    this.#settings = config.routing.affinity;
    this.table = new PinTable(this.#settings.ttlS * 1000, this.#settings.maxEntries);
  }

  configure(config: Config): void {
    this.#settings = config.routing.affinity;
    this.table.configure(this.#settings.ttlS * 1000, this.#settings.maxEntries);
  }

  readonly #openedAt = (id: string) => this.health(id)?.openedAt;

  /**
   * The request's keys and the pin they find, the first key in the configured order that has one
   * (`request.pinned` set for the cascade). A chat request only; with Redis, a promise.
   */
  open(request: CascadeRequest, session: string | undefined): AffinityTicket | Promise<AffinityTicket> {
    if (!this.#settings.enabled || (request.endpoint ?? 'chat') !== 'chat') return OFF;
    const group = request.model ?? (request.node ? `node:${request.node}` : request.task ? `task:${request.task}` : 'auto');
    const lookups: ConversationKey[] = [];
    const named: ConversationKey[] = [];
    let answer: AnswerPrint | undefined;
    for (const k of this.#settings.keys) {
      if (k === 'prefix') {
        const print = printRequest(group, request.messages);
        if (print.lookup !== undefined) lookups.push(print.lookup);
        answer = new AnswerPrint(print);
      } else {
        const name = k === 'session' ? session : request.user;
        if (!name) continue;
        const key = namedKey(group, k, name);
        lookups.push(key);
        named.push(key);
      }
    }
    const ticket: AffinityTicket = { named, answer, pinned: undefined };
    if (lookups.length === 0) return ticket;
    const now = this.now();
    if (this.shared && now >= this.#restUntil) return this.#lookShared(lookups, ticket, request, now);
    return this.#lookLocal(lookups, ticket, request, now);
  }

  /** This process's table: the first key with a live pin. */
  #lookLocal(lookups: ConversationKey[], ticket: AffinityTicket, request: CascadeRequest, now: number): AffinityTicket {
    for (const key of lookups) {
      const pin = this.table.get(key, now, this.#openedAt);
      if (pin) return this.#found(ticket, request, pin.node, key);
    }
    return ticket;
  }

  #found(ticket: AffinityTicket, request: CascadeRequest, node: string, key: ConversationKey): AffinityTicket {
    ticket.pinned = node;
    ticket.found = key;
    request.pinned = node;
    return ticket;
  }

  /** The shared pins first (another instance may have answered the last turn); this table when Redis is slow or away. */
  #lookShared(lookups: ConversationKey[], ticket: AffinityTicket, request: CascadeRequest, now: number): Promise<AffinityTicket> {
    const shared = this.shared!;
    const ttlMs = this.#settings.ttlS * 1000;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), SHARED_WAIT_MS)));
    const asked = Promise.all(lookups.map((k) => shared.getPin(String(k), ttlMs)));
    return Promise.race([asked, late])
      .catch(() => 'late' as const)
      .then((values) => {
        clearTimeout(timer);
        if (values === 'late') {
          this.#restUntil = this.now() + SHARED_REST_MS;
          asked.catch(() => undefined);
        } else {
          for (let i = 0; i < lookups.length; i++) {
            const pin = parsePin(values[i]);
            // Made before its node's breaker last opened: the node's cache is gone.
            if (pin && pin.made > (this.#openedAt(pin.node) ?? -Infinity)) {
              this.table.set(lookups[i]!, pin.node, now, pin.made);
              return this.#found(ticket, request, pin.node, lookups[i]!);
            }
          }
        }
        return this.#lookLocal(lookups, ticket, request, now);
      });
  }

  /** The request is over: its answer's pins made, what affinity did counted and returned. */
  close(ticket: AffinityTicket, request: CascadeRequest, result: CascadeResult): AffinityOutcome {
    const node = result.ok ? result.node : undefined;
    if (ticket === OFF || node === undefined) return this.#count(outcomeFor(ticket, node));
    const now = this.now();
    const keys = ticket.named.slice();
    if (ticket.answer) {
      if (!request.stream && result.content) ticket.answer.text(result.content);
      keys.push(ticket.answer.key(result.toolCalls));
      // The turn it found is behind this one now: one conversation, counted once.
      if (ticket.found !== undefined && !ticket.named.includes(ticket.found)) this.table.moved(ticket.found);
    }
    for (const key of keys) {
      this.table.set(key, node, now);
      if (this.shared && now >= this.#restUntil) this.shared.setPin(String(key), `${now}:${node}`, this.#settings.ttlS * 1000).catch(() => (this.#restUntil = this.now() + SHARED_REST_MS));
    }
    return this.#count(outcomeFor(ticket, node));
  }

  #count(outcome: AffinityOutcome): AffinityOutcome {
    this.#counts[outcome]++;
    return outcome;
  }

  /** A node's breaker opened: its pins go. */
  dropNode(id: string): void {
    this.table.dropNode(id);
  }

  /** Outcomes so far (the Prometheus counter's values). */
  counts(): Readonly<Record<AffinityOutcome, number>> {
    return this.#counts;
  }

  /** Live pins per node. */
  pins(): Record<string, number> {
    return this.table.counts(this.now(), this.#openedAt).byNode;
  }

  /** What /api/status shows: on or off, live pins per node, the table's size and about what it costs. */
  status(): { enabled: boolean; shared: boolean; pins: Record<string, number>; entries: number; maxEntries: number; approxBytes: number; ttlS: number; outcomes: Record<AffinityOutcome, number> } {
    const { byNode, entries } = this.table.counts(this.now(), this.#openedAt);
    return {
      enabled: this.#settings.enabled,
      shared: this.shared !== undefined,
      pins: byNode,
      entries,
      maxEntries: this.#settings.maxEntries,
      approxBytes: entries * BYTES_PER_PIN,
      ttlS: this.#settings.ttlS,
      outcomes: { ...this.#counts },
    };
  }
}

/** What affinity did for a request answered by `node` (none: unanswered), for Affinity.close and a stream's head. */
export function outcomeFor(ticket: AffinityTicket, node: string | undefined): AffinityOutcome {
  return ticket === OFF ? 'off' : ticket.pinned === undefined ? 'miss' : ticket.pinned === node ? 'hit' : 'repin';
}

/** A shared pin's value: `<made ms>:<node>`. */
function parsePin(value: string | undefined | null): { made: number; node: string } | undefined {
  if (!value) return undefined;
  const i = value.indexOf(':');
  const made = Number(value.slice(0, i));
  return i > 0 && Number.isFinite(made) ? { made, node: value.slice(i + 1) } : undefined;
}

/**
 * The one owner of the proxy's live node health: the breakers and counts requests are routed
 * by. Outcomes apply at once in memory and are queued; every sync replays the queue onto the
 * shared state (state.json under its lock, or Redis) and adopts what it then says, so what other
 * processes wrote (`jarvis reset`, `jarvis ask`, another proxy) reaches this one within a sync.
 * When the shared state cannot be reached the proxy goes on with its own view, says so once
 * (`unavailable`), keeps its outcomes and merges them back when it returns.
 */
import { phaseAt, type BreakerSettings } from '../cascade/breaker.js';
import type { ModelCatalog } from '../cascade/catalog.js';
import type { LiveBreakers, Waiter } from '../cascade/engine.js';
import { applyEvent, countSuccesses, healthFold, healthView, queueEvent, type HealthEvent, type NodeHealth } from '../cascade/node-health.js';
import type { SharedState } from '../store/shared-state.js';

export class LiveHealth implements LiveBreakers {
  /** Node id -> health, as the engine reads it (the same object for the proxy's lifetime). */
  readonly nodes: Record<string, NodeHealth> = Object.create(null) as Record<string, NodeHealth>;
  #pending: HealthEvent[] = [];
  #served: Record<string, string[]> = {};
  #syncing: Promise<void> | undefined;
  /** Why the shared state is out of reach now, if it is. */
  unavailable: string | undefined;

  constructor(
    readonly shared: SharedState,
    private readonly catalog: ModelCatalog,
    private breaker: BreakerSettings,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  /** Loads the saved state (at start); a store out of reach leaves it empty, said once. */
  async load(): Promise<{ served: Record<string, string[]> }> {
    try {
      const saved = await this.shared.load();
      this.#adopt(saved.nodes);
      return { served: saved.served };
    } catch (error) {
      this.#lost(error);
      return { served: {} };
    }
  }

  /** New breaker settings after a config reload. */
  configure(breaker: BreakerSettings): void {
    this.breaker = breaker;
  }

  /**
   * Applies an outcome now and queues it for the shared state. Requests still waiting on a node
   * whose breaker this opens hear of it (they may give up and move on).
   */
  record(e: HealthEvent): void {
    const h = this.nodes[e.node];
    // The common case, a success, counted in place: the entries are this instance's own (#adopt).
    if (h && e.ok && !e.halfOpen) countSuccesses(h, e.times ?? 1);
    else {
      const next = (this.nodes[e.node] = applyEvent(h, e, this.breaker));
      if (!e.ok && next.breaker.phase === 'open' && (!h || phaseAt(h.breaker, e.at) !== 'open')) this.#opened(e.node);
    }
    queueEvent(this.#pending, e);
  }

  /** The attempt holding each half-open node's single trial. */
  readonly #trials = new Map<string, Waiter>();
  /** The attempts waiting on each node now. */
  readonly #waiting = new Map<string, Set<Waiter>>();

  admits(id: string, now: number): boolean {
    const b = this.nodes[id]?.breaker;
    if (!b || b.phase === 'closed') return true;
    const phase = phaseAt(b, now);
    return phase === 'closed' || (phase === 'half_open' && !this.#trials.has(id));
  }

  begin(id: string, now: number, attempt: Waiter, force = false): boolean {
    const b = this.nodes[id]?.breaker;
    if (b && b.phase !== 'closed') {
      const phase = phaseAt(b, now);
      if (phase === 'open' && !force) return false;
      if (phase === 'half_open') {
        if (!this.#trials.has(id)) this.#trials.set(id, attempt);
        else if (!force) return false;
      }
    }
    const set = this.#waiting.get(id);
    if (set) set.add(attempt);
    else this.#waiting.set(id, new Set([attempt]));
    return true;
  }

  end(id: string, attempt: Waiter): void {
    this.#waiting.get(id)?.delete(attempt);
    if (this.#trials.get(id) === attempt) this.#trials.delete(id);
  }

  /** Told of each breaker that opens, here or (at a sync) in another process. */
  readonly #openListeners: ((id: string) => void)[] = [];

  onOpen(listener: (id: string) => void): void {
    this.#openListeners.push(listener);
  }

  /** A breaker just opened: the attempts waiting on its node hear it (each decides whether to give up). */
  #opened(id: string): void {
    for (const l of this.#openListeners) l(id);
    const set = this.#waiting.get(id);
    if (!set || set.size === 0) return;
    for (const w of [...set]) w.breakerOpened(id);
  }

  get(id: string): NodeHealth | undefined {
    return this.nodes[id];
  }

  view(id: string, now: number): ReturnType<typeof healthView> {
    return healthView(this.nodes[id], now);
  }

  /** Writes what is queued and takes in what others wrote; one sync at a time. */
  sync(): Promise<void> {
    this.#syncing ??= this.#sync().finally(() => (this.#syncing = undefined));
    return this.#syncing;
  }

  async #sync(): Promise<void> {
    const events = this.#pending;
    this.#pending = [];
    const served = { ...this.#served, ...this.catalog.takeChanges() };
    this.#served = {};
    let nodes: Record<string, NodeHealth> | undefined;
    try {
      nodes = await this.shared.exchange(events, served, healthFold(this.breaker));
    } catch (error) {
      // Not lost: queued again for the next sync.
      this.#pending = [...events, ...this.#pending];
      this.#served = { ...served, ...this.#served };
      this.#lost(error);
      return;
    }
    if (this.unavailable !== undefined) {
      this.log(`state: shared state (${this.shared.where}) is back; ${events.length} queued outcome(s) merged`);
      this.unavailable = undefined;
    }
    if (nodes) this.#adopt(nodes);
  }

  #lost(error: unknown): void {
    if (this.unavailable === undefined) this.log(`state: shared state (${this.shared.where}) unavailable: ${(error as Error).message}; serving on this instance's own view until it is back`);
    this.unavailable = (error as Error).message;
  }

  /** The shared health, with what was recorded here since the sync began laid over it. */
  #adopt(shared: Record<string, NodeHealth>): void {
    for (const id of Object.keys(this.nodes)) if (!(id in shared)) delete this.nodes[id];
    // Copies: a success is counted in place on them (record), never on what the store handed over.
    for (const [id, h] of Object.entries(shared)) {
      // Opened elsewhere since (another proxy, `jarvis ask`): heard here as if it had opened here.
      const before = this.nodes[id]?.openedAt;
      this.nodes[id] = { ...h };
      if (h.openedAt !== undefined && h.openedAt !== before) for (const l of this.#openListeners) l(id);
    }
    for (const e of this.#pending) this.nodes[e.node] = applyEvent(this.nodes[e.node], e, this.breaker);
  }
}

/**
 * One run of the cascade (engine.ts's runCascade), as an explicit state machine: each state is a
 * method that returns the next, or the promise of it when it waits.
 *   start ─(unknown model: list nodes)─> route ─> nextNode ─(list its models)─> attempt ─> settled ─ok─> finish
 *                                                    ^                             ^          │
 *                                                    └─ next node ─ failed ─ retry ┘ failure ─┘
 *
 * `route` drops open breakers (policy.ts's `admit`); `failed` retries the same node after a backoff
 * (retries shared by the route, each untried node keeping its share of the deadline) or moves on.
 * Not an async function: a suspended frame per open stream (minutes) kept ~1 KB alive per stream.
 */
import type { Config } from '../config/schema.js';
import { backoffDelay } from './backoff.js';
import type { NodeLoad } from './balance.js';
import { allows } from './breaker.js';
import type { ModelCatalog } from './catalog.js';
import { RunView, type HealthEvent, type NodeHealth } from './node-health.js';
import { discoverGroup, pinFirst, planRoute, type RouteProblem, type RouteStep } from './routing.js';
import type { CascadeSettings } from '../config/env.js';
import { Cancel, follow, unfollow } from '../system/cancel.js';
import type { ChatRequest } from '../protocols/openai/chat.js';
import type { ChatFailure } from '../transport/failure.js';
import type { ChatOutcome, SendOptions } from '../transport/sender.js';
import type { Attempt, CascadeEvent, CascadeRequest, CascadeResult, EngineDeps, Waiter } from './engine.js';
import { admit, answerOf, chatFor, decide, letGo, type SkipSink } from './policy.js';

/** A step of a run: the result, or the promise of it when the step waits (a node, a backoff, a listing). */
type Next = CascadeResult | Promise<CascadeResult>;

export class CascadeRun implements Waiter, SkipSink {
  readonly #started: number;
  readonly #deadline: number;
  readonly #load: NodeLoad;
  /** This run's failures laid over the stored breakers, from its first failure (node-health.ts). */
  #view: RunView | undefined;
  readonly #events: HealthEvent[] = [];
  readonly #attempts: Attempt[] = [];
  // The route: the nodes tried, the retries left to share among them, each one's share of the deadline.
  #candidates: readonly RouteStep[] = [];
  #retriesLeft = 0;
  #budget = 0;
  #share = 0;
  #tried = 0;
  #lastError = 'no attempt made';
  #previous: { node: string; reason: string } | undefined;
  // The node being tried.
  #index = -1;
  #retries = 0;
  #relisted = false;
  #model: string | undefined;
  /** The attempt's own cancel, when it may give up on a node whose breaker opens while it waits. */
  #attemptCancel: Cancel | undefined;
  /** Something of the answer reached the client: nothing else may be tried. */
  #forwarded = false;

  constructor(
    private readonly config: Config,
    private readonly settings: CascadeSettings,
    private readonly stored: Record<string, NodeHealth>,
    private readonly catalog: ModelCatalog,
    private readonly request: CascadeRequest,
    private readonly deps: EngineDeps,
    /** The load view when the caller has none (a one-shot command: nothing in flight, nothing measured). */
    idle: NodeLoad,
  ) {
    this.#started = deps.now();
    this.#deadline = this.#started + settings.deadlineMs;
    this.#load = deps.load ?? idle;
  }

  start(): Next {
    const { config, settings, catalog, request, deps } = this;
    const balancing = { load: this.#load, health: (id: string) => this.stored[id], latencyMargin: config.routing.latencyMargin, random: deps.random };
    const planned = planRoute(config, request, settings, catalog, balancing);
    if ('problem' in planned && planned.problem === 'unknown_model' && request.model) {
      // A name only a node's model list carries, on a fresh state: list the nodes not listed yet.
      return discoverGroup(config, request.model, catalog, deps.listModels, deps.now(), Math.max(1, Math.min(2000, settings.deadlineMs / 4))).then(() =>
        this.#route(planRoute(config, request, settings, catalog, balancing), deps.now()),
      );
    }
    // The clock read once per step of the common path (a proxy runs this thousands of times a second).
    return this.#route(planned, this.#started);
  }

  /** The route's candidates: open breakers skipped, but never the last node that might answer. */
  #route(planned: readonly RouteStep[] | RouteProblem, now0: number): Next {
    if ('problem' in planned) return this.#finish({ ok: false, error: planned.message, unroutable: planned });
    const pinned = this.request.pinned;
    const order = pinned === undefined ? planned : pinFirst(planned, pinned, (s) => this.#mayTake(s, now0));
    if (order.length === 0) return this.#finish({ ok: false, error: 'no node can take requests (none has a url)' });
    this.#candidates = admit(order, this.stored, this.deps.live, now0, this);
    if (this.#candidates.length === 0) return this.#finish({ ok: false, error: 'every node on the route is open or in its half-open trial; nothing was sent' });
    // Every candidate gets one attempt; the request's retries (maxAttempts - 1) are shared among them.
    this.#retriesLeft = this.settings.maxAttempts - 1;
    this.#budget = this.#candidates.length + this.#retriesLeft;
    // The share of the deadline each untried node keeps for itself.
    this.#share = Math.min(this.settings.requestTimeoutMs, this.settings.deadlineMs / this.#candidates.length);
    return this.#nextNode();
  }

  /**
   * Whether affinity's pinned node may take the request: its breaker lets it in, its last probe
   * did not fail, and it has fewer requests in flight than affinity's `maxInFlight` (else the
   * node's `slots`, else 4). Otherwise the strategy's choice stands (and the answering node is
   * pinned instead).
   */
  #mayTake(step: RouteStep, now: number): boolean {
    const id = step.node.id;
    const { live } = this.deps;
    const h = this.stored[id];
    const open = live ? !live.admits(id, now) : h !== undefined && !allows(h.breaker, now);
    const limit = this.config.routing.affinity.maxInFlight ?? step.node.slots ?? 4;
    return !open && !this.#load.probeFailed(id) && this.#load.inFlight(id) < limit;
  }

  /** The next candidate's first attempt, or the end of the route. */
  #nextNode(): Next {
    const index = ++this.#index;
    const candidates = this.#candidates;
    if (index >= candidates.length) return this.#finish({ ok: false, error: `every node failed (${this.#tried} attempt${this.#tried === 1 ? '' : 's'}); last: ${this.#lastError}` });
    const step = candidates[index]!;
    this.#retries = 0;
    this.#relisted = false;
    this.#model = step.model;
    if (step.model !== undefined && this.catalog.served(step.node.id) === undefined) {
      // A configured short name (`deepseek`) may not be what the server serves: list its models
      // first, outside the attempts, bounded so that a hung node costs little here.
      return this.#listModels(step.node).then(() => {
        this.#model = this.catalog.idFor(step.node, step.model!);
        if (this.deps.signal?.aborted) return this.#finish({ ok: false, error: 'interrupted' });
        return this.#attempt();
      });
    }
    return this.#attempt();
  }

  /** One attempt on the current node, within what is left of the deadline. */
  #attempt(): Next {
    const { request, deps, settings } = this;
    const node = this.#candidates[this.#index]!.node;
    const t0 = deps.now();
    const remaining = this.#deadline - t0;
    if (remaining <= 0) return this.#finish({ ok: false, error: `deadline of ${settings.deadlineMs} ms reached: ${this.#lastError}` });
    const live = deps.live;
    if (live && !live.begin(node.id, t0, this, this.#tried === 0 && this.#untried === 0)) {
      // Another request holds the half-open trial, or the breaker opened since the route was made.
      this.skipped(node.id, allows(this.stored[node.id]!.breaker, t0) ? 'its half-open trial is under way' : 'its breaker opened', 0);
      return this.#nextNode();
    }
    if (this.#previous) {
      this.deps.onEvent?.({ type: 'failover', from: this.#previous.node, to: node.id, reason: this.#previous.reason });
      this.#previous = undefined;
    }
    this.#tried++;
    // A first attempt may take up to half of what is left while other nodes wait (an answer can
    // be long); a retry only what the untried nodes' shares leave.
    const limit = this.#untried === 0 ? remaining : this.#retries === 0 ? Math.max(remaining / 2, remaining - this.#reserve) : remaining - this.#reserve;
    const timeoutMs = Math.max(1, Math.floor(Math.min(settings.requestTimeoutMs, limit)));
    this.deps.onEvent?.({ type: 'attempt', node: node.id, attempt: this.#tried, max: this.#budget, timeoutMs });
    const chat = chatFor(request, this.#model);
    const sendOptions: SendOptions = { timeoutMs };
    // With somewhere else to go, the attempt may give up on this node if its breaker opens meanwhile.
    const cancel = live && this.#untried > 0 ? new Cancel() : undefined;
    if (cancel) follow(deps.signal, cancel);
    this.#attemptCancel = cancel;
    const signal = cancel ?? deps.signal;
    if (signal) sendOptions.signal = signal;
    if (deps.keepText === false) sendOptions.keepText = false;
    if (deps.onEvent && request.stream) this.#listen(sendOptions, deps.onEvent, node.id, chat);
    const load = this.#load;
    load.begin(node.id);
    let sent: Promise<ChatOutcome>;
    try {
      sent = deps.send(node, chat, sendOptions);
    } catch (error) {
      this.#ended(node.id);
      throw error;
    }
    return sent.then(
      (outcome) => {
        this.#ended(node.id);
        return cancel?.reason === GAVE_UP && !outcome.ok ? this.#gaveUp(node.id, t0) : this.#settled(outcome, t0);
      },
      (error: unknown) => {
        this.#ended(node.id);
        throw error;
      },
    );
  }

  /** The attempt on `id` is over, however it went. */
  #ended(id: string): void {
    this.#load.end(id);
    this.deps.live?.end(id, this);
    if (this.#attemptCancel) {
      unfollow(this.deps.signal, this.#attemptCancel);
      this.#attemptCancel = undefined;
    }
  }

  /** The node being tried has its breaker opened by another request's failure: give up on it while nothing was forwarded. */
  breakerOpened(node: string): void {
    if (this.#forwarded || this.#candidates[this.#index]?.node.id !== node) return;
    this.#attemptCancel?.abort(GAVE_UP);
  }

  /** Moved on from a node whose breaker opened while this request waited on it: not a failure of this request's. */
  #gaveUp(id: string, t0: number): Next {
    this.skipped(id, 'its breaker opened while this request waited; moved on', Math.round(this.deps.now() - t0));
    this.#previous = { node: id, reason: 'circuit_open' };
    return this.#nextNode();
  }

  /** A node this request does not try: its breaker (policy.ts's \`admit\`), or it opened meanwhile. */
  skipped(id: string, detail: string, ms = 0): void {
    this.#attempts.push({ node: id, outcome: 'skipped', class: 'circuit_open', ms, detail });
    this.deps.onEvent?.({ type: 'skip', node: id, reason: 'circuit open' });
  }

  /** The attempt's outcome: the answer, or what its failure leads to (the same node again, a listing, the next node). */
  #settled(outcome: ChatOutcome, t0: number): Next {
    const { deps } = this;
    const node = this.#candidates[this.#index]!.node;
    const model = this.#model;
    const t1 = deps.now();
    const ms = Math.round(t1 - t0);
    if (outcome.ok) {
      const attempt: Attempt = { node: node.id, outcome: 'ok', ms };
      if (model) attempt.model = model;
      if (outcome.value.firstTokenMs !== undefined) attempt.firstTokenMs = Math.round(outcome.value.firstTokenMs);
      this.#attempts.push(attempt);
      this.#record({ node: node.id, at: t1, ok: true, counts: true });
      this.#load.observe(node.id, outcome.value.firstTokenMs ?? ms);
      return this.#finish(answerOf(node.id, model, outcome.value));
    }
    const f = outcome.failure;
    this.#lastError = `${node.id}: ${f.message}`;
    this.#attempts.push({ node: node.id, ...(model && { model }), outcome: 'failed', class: f.class, ...(f.httpStatus !== undefined && { httpStatus: f.httpStatus }), ms, detail: f.message });
    this.deps.onEvent?.({ type: 'failed', node: node.id, class: f.class });
    if (f.class === 'aborted') return this.#finish({ ok: false, error: 'interrupted' });
    // The client's error, not the node's: its reply is the answer, and nothing is recorded against the node.
    if (f.class === 'rejected' && f.reply) return this.#finish({ ok: false, node: node.id, error: this.#lastError, rejected: f.reply });
    // A quota's wait longer than one node's share of the deadline is not waited out while
    // another node may answer now (Claude Code on a 429 from Anthropic): fail over at once, and
    // skip the node until its Retry-After.
    const quotaMs = f.class === 'throttled' && f.retryAfterS !== undefined ? f.retryAfterS * 1000 : undefined;
    const tooLong = quotaMs !== undefined && this.#untried > 0 && quotaMs > this.#share;
    this.#record({ node: node.id, at: deps.now(), ok: false, counts: decide(f).countsAgainstNode, error: `${f.class}: ${f.message}`, ...(tooLong && { quotaUntil: deps.now() + quotaMs }) });
    if (f.class === 'model_missing' && model !== undefined && !this.#relisted && this.#retriesLeft > 0) {
      // What the node serves changed since it was listed (another model loaded): list it again,
      // and ask again at once if that gives another id.
      this.#relisted = true;
      this.catalog.forget(node.id);
      return this.#listModels(node).then(() => {
        const again = this.catalog.idFor(node, this.#candidates[this.#index]!.model ?? model);
        if (again === model) return this.#failed(f, tooLong);
        this.#model = again;
        this.#retriesLeft--;
        return this.#attempt();
      });
    }
    return this.#failed(f, tooLong);
  }

  /** After a failed attempt: the client's answer, the same node again after a backoff, or the next node. */
  #failed(f: ChatFailure, tooLong: boolean): Next {
    const { deps, settings } = this;
    const node = this.#candidates[this.#index]!.node;
    // After the first token, another node's answer cannot be stitched onto this one.
    if (f.class === 'stream_broken') return this.#finish({ ok: false, node: node.id, error: `${node.id}: ${f.message}; not failing over mid-answer` });
    if (decide(f).retrySameNode && allows(this.#healthOf(node.id)!.breaker, deps.now()) && this.#retriesLeft > 0) {
      const wait = f.class === 'throttled' ? (f.retryAfterS ?? 0) * 1000 : backoffDelay(this.#retries + 1, { initialMs: settings.initialBackoffMs, maxMs: settings.maxBackoffMs, multiplier: settings.multiplier, jitter: settings.jitter }, deps.random);
      // ...nor the time: after the wait, every untried node's share must still be there, and
      // a quarter of one for the retry itself.
      const after = this.#deadline - (deps.now() + wait);
      if (!tooLong && after > 0 && after - this.#reserve >= Math.min(this.#share / 4, after)) {
        this.#retries++;
        this.#retriesLeft--;
        this.deps.onEvent?.({ type: 'retry', node: node.id, inMs: wait, attempt: this.#tried + 1, max: this.#budget, reason: f.class });
        return deps
          .sleep(wait, deps.signal)
          .catch(() => undefined)
          .then(() => (deps.signal?.aborted ? this.#finish({ ok: false, error: 'interrupted' }) : this.#attempt()));
      }
    }
    this.#previous = { node: node.id, reason: f.class };
    return this.#nextNode();
  }

  /** The candidates after the one being tried. */
  get #untried(): number {
    return this.#candidates.length - this.#index - 1;
  }

  /** What of the deadline the untried nodes keep for themselves. */
  get #reserve(): number {
    return this.#untried * this.#share;
  }

  #healthOf(id: string): NodeHealth | undefined {
    return this.#view ? this.#view.get(id) : this.stored[id];
  }

  /** An outcome: to live health at once (serve), else queued with the run's events and laid over its view. */
  #record(e: HealthEvent): void {
    if (this.deps.live) return this.deps.live.record(e);
    this.#events.push(e);
    if (!e.ok) (this.#view ??= new RunView(this.stored, this.settings)).fail(e);
  }

  /**
   * Tokens and raw lines come only from a stream, and only matter to someone listening. Once a
   * line is forwarded no other attempt can follow (an answer is not stitched from two nodes), so
   * the request's body is let go for the rest of the stream, which may last minutes.
   */
  #listen(options: SendOptions, onEvent: (e: CascadeEvent) => void, id: string, chat: ChatRequest): void {
    options.onToken = (text) => onEvent({ type: 'token', text });
    options.onData = (line) => {
      if (!this.#forwarded) {
        this.#forwarded = true;
        letGo(this.request);
        letGo(chat);
      }
      onEvent({ type: 'data', node: id, line });
    };
  }

  /** Bounded so that a hung node costs little before its attempt. */
  #listModels(node: RouteStep['node']): Promise<unknown> {
    const { deps } = this;
    return this.catalog.lookup(node, Math.max(1, Math.min(node.timeoutMs, 2000, Math.floor((this.#deadline - deps.now()) / 4))), deps.listModels, deps.now());
  }

  /** Completes the result in place (a spread of a result of varying shape was a visible share of a proxy's time per request). */
  #finish(r: Omit<CascadeResult, 'attempts' | 'events' | 'durationMs'>): CascadeResult {
    const result = r as CascadeResult;
    result.attempts = this.#attempts;
    result.events = this.#events;
    result.durationMs = Math.round(this.deps.now() - this.#started);
    return result;
  }
}

/** Why an attempt's cancel fired when it gave up on a node (see breakerOpened). */
const GAVE_UP = Object.assign(new Error('the breaker opened'), { name: 'AbortError' });

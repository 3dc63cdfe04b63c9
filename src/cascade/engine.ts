/**
 * The request engine: the runbook's fallback cascade with retry, exponential backoff with jitter,
 * per-node circuit breakers and an overall deadline. Independent of the CLI (a proxy will use it
 * too): everything it touches comes in through `deps`.
 */
import type { Config } from '../config/schema.js';
import { backoffDelay } from './backoff.js';
import { NodeLoad } from './balance.js';
import { allows, type BreakerSettings } from './breaker.js';
import { ModelCatalog, type ListModels } from './catalog.js';
import { applyEvent, type HealthEvent, type NodeHealth } from './node-health.js';
import { discoverGroup, planRoute, type RouteProblem, type RouteStep } from './routing.js';
import type { CascadeSettings } from '../config/env.js';
import { Cancel, follow, unfollow, type CancelSignal } from '../system/cancel.js';
import type { ChatMessage, ChatRequest, ToolCall } from '../protocols/openai/chat.js';
import type { ChatFailure, ErrorClass } from '../transport/failure.js';
import type { ChatOutcome, SendChat, SendOptions } from '../transport/sender.js';

export interface CascadeRequest {
  messages: ChatMessage[];
  stream: boolean;
  task?: string;
  node?: string;
  /** A model name: the group of nodes that serve it (then fallbacks, then the cascade). */
  model?: string;
  /** Only the named node or the model's group may answer: fail rather than answer with another model. */
  strict?: boolean;
  /** A chat completion (default) or embeddings (`extra.input`). */
  endpoint?: 'chat' | 'embeddings';
  maxTokens?: number;
  /** Passed through to the upstream as they are. */
  extra?: Record<string, unknown>;
  /** The client's body as it came, when it says what the fields above say (see ChatRequest). */
  raw?: ChatRequest['raw'];
  /** The client's Anthropic Messages request, for nodes that speak that API (see ChatRequest). */
  messagesApi?: ChatRequest['messagesApi'];
}

interface Attempt {
  node: string;
  model?: string;
  outcome: 'ok' | 'failed' | 'skipped';
  class?: ErrorClass | 'circuit_open';
  httpStatus?: number;
  ms: number;
  /** A streamed answer: ms to its first meaningful chunk. */
  firstTokenMs?: number;
  detail?: string;
}

export type CascadeEvent =
  | { type: 'attempt'; node: string; attempt: number; max: number }
  | { type: 'retry'; node: string; inMs: number; attempt: number; max: number; reason: string }
  | { type: 'failover'; from: string; to: string; reason: string }
  | { type: 'skip'; node: string; reason: string }
  | { type: 'token'; text: string }
  /** A raw SSE line from the node answering now. */
  | { type: 'data'; node: string; line: string }
  | { type: 'failed'; node: string; class: ErrorClass };

export interface CascadeResult {
  ok: boolean;
  node?: string;
  model?: string;
  content?: string;
  /** Tool calls of the answer, when the model called tools. */
  toolCalls?: ToolCall[];
  /** The answering node's reply body, unparsed (non-streamed). */
  raw?: string;
  attempts: Attempt[];
  error?: string;
  /** No route at all (an unknown node, task or model): nothing was tried. */
  unroutable?: RouteProblem;
  /** The node rejected the request itself: its reply, for the client as it came; no other node was asked. */
  rejected?: { status: number; body: string };
  /** What to persist: outcomes per node. */
  events: HealthEvent[];
  durationMs: number;
}

/** An attempt waiting on a node, told when that node's breaker opens. */
export interface Waiter {
  breakerOpened(node: string): void;
}

/**
 * A proxy's live breakers: an outcome applies the moment it happens, so that every request in
 * flight and every new one sees it, and a half-open breaker lets exactly one trial through.
 */
export interface LiveBreakers {
  record(e: HealthEvent): void;
  /** Whether a request may be routed to the node now: its breaker closed, or half-open with its one trial not taken. */
  admits(id: string, now: number): boolean;
  /**
   * An attempt on the node begins, told if its breaker opens while it waits; false (and not
   * begun) when the breaker no longer lets it in. A half-open breaker's trial is the attempt's
   * until `end`. `force`: begun whatever the breaker says (the last node that might answer).
   */
  begin(id: string, now: number, attempt: Waiter, force?: boolean): boolean;
  end(id: string, attempt: Waiter): void;
}

export interface EngineDeps {
  send: SendChat;
  /** Lists a node's models (to resolve a short name before the first attempt). */
  listModels: ListModels;
  /** Wall-clock ms: breaker open times persist between runs, so they cannot be process-relative. */
  now: () => number;
  sleep: (ms: number, signal?: CancelSignal) => Promise<void>;
  random: () => number;
  signal?: CancelSignal;
  onEvent?: (e: CascadeEvent) => void;
  /** Requests in flight and latencies per node, for the balancing strategies (a proxy keeps one). */
  load?: NodeLoad;
  /** false: a streamed answer's text is not kept in the result (a proxy has forwarded it). */
  keepText?: boolean;
  /**
   * A proxy's live breakers, read through `stored` (the same records): outcomes go there as they
   * happen rather than into the result's `events`.
   */
  live?: LiveBreakers;
}

/** What each class of error means for the cascade (a 504 and a 401 call for different things). */
export function decide(f: ChatFailure): { retrySameNode: boolean; countsAgainstNode: boolean } {
  switch (f.class) {
    case 'refused':
    case 'unreachable':
    case 'dns':
      return { retrySameNode: false, countsAgainstNode: true };
    case 'timeout':
    case 'server_error':
    case 'loading':
    case 'bad_response':
      return { retrySameNode: true, countsAgainstNode: true };
    // Its client gets an error event and cannot be failed over: a node that breaks every stream
    // must lose the traffic to the others.
    case 'stream_broken':
      return { retrySameNode: false, countsAgainstNode: true };
    case 'throttled':
      return { retrySameNode: f.retryAfterS !== undefined, countsAgainstNode: false };
    default:
      return { retrySameNode: false, countsAgainstNode: false };
  }
}

/** The nodes a request is tried on, in order, before breakers (see routing.ts). */
export function cascadeOrder(config: Config, request: CascadeRequest, settings: CascadeSettings, health: Record<string, NodeHealth>, catalog = new ModelCatalog(), load = new NodeLoad()): readonly RouteStep[] | RouteProblem {
  return planRoute(config, request, settings, catalog, { load, health: (id) => health[id], latencyMargin: config.routing.latencyMargin, random: Math.random });
}

/** A one-shot command's load view: nothing in flight, nothing measured. */
const idleLoad = new NodeLoad();

/**
 * Runs one request through its route. Every node on it that is not skipped gets one attempt;
 * the request's retries (`maxAttempts - 1`) are shared among them, and a retry may only use the
 * time beyond a fair share of the deadline for each node not tried yet. A streamed request
 * with someone listening is emptied (messages, text, other fields) once its answer is forwarded:
 * nothing may be tried after that, and the stream may last minutes.
 */
export function runCascade(config: Config, settings: CascadeSettings, stored: Record<string, NodeHealth>, catalog: ModelCatalog, request: CascadeRequest, deps: EngineDeps): Promise<CascadeResult> {
  try {
    return Promise.resolve(new CascadeRun(config, settings, stored, catalog, request, deps).start());
  } catch (error) {
    // Thrown before the first wait (a dependency's bug): a rejection, as an async function's would be.
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

/** A step of a run: the result, or the promise of it when the step waits (a node, a backoff, a listing). */
type Next = CascadeResult | Promise<CascadeResult>;

/**
 * One run of the cascade, as an object whose steps continue one another rather than an async
 * function: a streamed answer lasts minutes, and a suspended frame per open stream kept every
 * local and closure of the cascade alive (about 1 KB per stream, measured with 1000 open).
 */
class CascadeRun implements Waiter {
  readonly #started: number;
  readonly #deadline: number;
  readonly #load: NodeLoad;
  /**
   * This run's view of the breakers: the stored state with this run's failures laid over it (not a
   * copy of every node's entry per request: a proxy runs thousands a second). Made at the first
   * failure; a success ends the run, so it is only queued.
   */
  #changed: Map<string, NodeHealth> | undefined;
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
  ) {
    this.#started = deps.now();
    this.#deadline = this.#started + settings.deadlineMs;
    this.#load = deps.load ?? idleLoad;
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
    const order = planned;
    if (order.length === 0) return this.#finish({ ok: false, error: 'no node can take requests (none has a url)' });
    // With every breaker open, the one whose open time ends first is tried. The route itself
    // while no breaker is open (the common case: no array per request).
    let kept: RouteStep[] | undefined;
    let soonest: RouteStep | undefined;
    for (let i = 0; i < order.length; i++) {
      const step = order[i]!;
      const b = this.stored[step.node.id]?.breaker;
      if (!b || (this.deps.live ? this.deps.live.admits(step.node.id, now0) : allows(b, now0))) {
        kept?.push(step);
        continue;
      }
      kept ??= order.slice(0, i);
      if (allows(b, now0)) {
        // Half-open, its one trial taken by another request: nothing is piled on while it runs.
        this.#skip(step.node.id, 'its half-open trial is under way', 0);
        continue;
      }
      if (!soonest || (b.openUntil ?? 0) < (this.stored[soonest.node.id]!.breaker.openUntil ?? 0)) soonest = step;
      this.#skip(step.node.id, `circuit open until ${isoOrUnknown(b.openUntil)}`, 0);
    }
    this.#candidates = kept ? (kept.length === 0 && soonest ? [soonest] : kept) : order;
    if (this.#candidates.length === 0) return this.#finish({ ok: false, error: 'every node on the route is open or in its half-open trial; nothing was sent' });
    // Every candidate gets one attempt; the request's retries (maxAttempts - 1) are shared among them.
    this.#retriesLeft = this.settings.maxAttempts - 1;
    this.#budget = this.#candidates.length + this.#retriesLeft;
    // The share of the deadline each untried node keeps for itself.
    this.#share = Math.min(this.settings.requestTimeoutMs, this.settings.deadlineMs / this.#candidates.length);
    return this.#nextNode();
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
      this.#skip(node.id, allows(this.stored[node.id]!.breaker, t0) ? 'its half-open trial is under way' : 'its breaker opened', 0);
      return this.#nextNode();
    }
    if (this.#previous) {
      this.deps.onEvent?.({ type: 'failover', from: this.#previous.node, to: node.id, reason: this.#previous.reason });
      this.#previous = undefined;
    }
    this.#tried++;
    this.deps.onEvent?.({ type: 'attempt', node: node.id, attempt: this.#tried, max: this.#budget });
    // A first attempt may take up to half of what is left while other nodes wait (an answer can
    // be long); a retry only what the untried nodes' shares leave.
    const limit = this.#untried === 0 ? remaining : this.#retries === 0 ? Math.max(remaining / 2, remaining - this.#reserve) : remaining - this.#reserve;
    const timeoutMs = Math.max(1, Math.floor(Math.min(settings.requestTimeoutMs, limit)));
    const model = this.#model;
    const chat: ChatRequest = { messages: request.messages, stream: request.stream };
    if (model) chat.model = model;
    if (request.endpoint) chat.endpoint = request.endpoint;
    if (request.maxTokens !== undefined) chat.maxTokens = request.maxTokens;
    if (request.extra) chat.extra = request.extra;
    if (request.raw) chat.raw = request.raw;
    if (request.messagesApi) chat.messagesApi = request.messagesApi;
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
    this.#skip(id, 'its breaker opened while this request waited; moved on', Math.round(this.deps.now() - t0));
    this.#previous = { node: id, reason: 'circuit_open' };
    return this.#nextNode();
  }

  #skip(id: string, detail: string, ms: number): void {
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
      const answered: Omit<CascadeResult, 'attempts' | 'events' | 'durationMs'> = { ok: true, node: node.id, content: outcome.value.content };
      const answeredModel = outcome.value.model ?? model;
      if (answeredModel) answered.model = answeredModel;
      if (outcome.value.toolCalls) answered.toolCalls = outcome.value.toolCalls;
      if (outcome.value.raw !== undefined) answered.raw = outcome.value.raw;
      return this.#finish(answered);
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
    return this.#changed?.get(id) ?? this.stored[id];
  }

  #record(e: HealthEvent): void {
    if (this.deps.live) return this.deps.live.record(e);
    this.#events.push(e);
    if (e.ok) return;
    const { settings } = this;
    const breaker: BreakerSettings = { failureThreshold: settings.failureThreshold, recoveryMs: settings.recoveryMs, maxRecoveryMs: settings.maxRecoveryMs };
    (this.#changed ??= new Map()).set(e.node, applyEvent(this.#healthOf(e.node), e, breaker));
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

/** A request's body (messages, the client's text, its other fields), once no attempt needs it. */
function letGo(r: { messages: ChatMessage[]; extra?: unknown; raw?: unknown; messagesApi?: unknown }): void {
  r.messages = [];
  r.extra = undefined;
  r.raw = undefined;
  r.messagesApi = undefined;
}

/** Why an attempt's cancel fired when it gave up on a node (see breakerOpened). */
const GAVE_UP = Object.assign(new Error('the breaker opened'), { name: 'AbortError' });

/** The last date formatted: an open breaker's end is the same on every request that skips it. */
let lastIso: { ms: number | undefined; text: string } = { ms: undefined, text: 'unknown' };

function isoOrUnknown(ms: number | undefined): string {
  if (ms === lastIso.ms) return lastIso.text;
  const d = new Date(ms ?? NaN);
  lastIso = { ms, text: Number.isNaN(d.getTime()) ? 'unknown' : d.toISOString() };
  return lastIso.text;
}

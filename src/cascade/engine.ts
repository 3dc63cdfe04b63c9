/**
 * The request engine: the runbook's fallback cascade with retry, exponential backoff with jitter,
 * per-node circuit breakers and an overall deadline. Independent of the CLI (a proxy will use it
 * too): everything it touches comes in through `deps`.
 */
import type { Config, NodeConfig } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { backoffDelay } from './backoff.js';
import { allows, type BreakerSettings } from './breaker.js';
import { applyEvent, successRate, type HealthEvent, type NodeHealth } from './health.js';
import type { CascadeSettings } from './settings.js';
import type { CancelSignal } from './cancel.js';
import type { ChatFailure, ChatMessage, ChatRequest, ErrorClass, SendChat, SendOptions } from './transport.js';

export interface AskRequest {
  messages: ChatMessage[];
  stream: boolean;
  task?: string;
  node?: string;
  maxTokens?: number;
  /** Passed through to the upstream as they are. */
  extra?: Record<string, unknown>;
}

export interface Attempt {
  node: string;
  model?: string;
  outcome: 'ok' | 'failed' | 'skipped';
  class?: ErrorClass | 'circuit_open';
  httpStatus?: number;
  ms: number;
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

export interface AskResult {
  ok: boolean;
  node?: string;
  model?: string;
  content?: string;
  /** The answering node's reply body, unparsed (non-streamed). */
  raw?: string;
  attempts: Attempt[];
  error?: string;
  /** What to persist: outcomes per node, and model names resolved on the way. */
  events: HealthEvent[];
  resolvedModels: Record<string, Record<string, string>>;
  durationMs: number;
}

export interface EngineDeps {
  send: SendChat;
  resolveModel: (node: NodeConfig, wanted: string, timeoutMs: number) => Promise<string | undefined>;
  /** Wall-clock ms: breaker open times persist between runs, so they cannot be process-relative. */
  now: () => number;
  sleep: (ms: number, signal?: CancelSignal) => Promise<void>;
  random: () => number;
  signal?: CancelSignal;
  onEvent?: (e: CascadeEvent) => void;
}

/** What each class of error means for the cascade (the seed's breaker could not tell a 504 from a 401). */
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
    case 'throttled':
      return { retrySameNode: f.retryAfterS !== undefined, countsAgainstNode: false };
    default:
      return { retrySameNode: false, countsAgainstNode: false };
  }
}

/** Orders that do not depend on health, per config: a proxy asks for the same few all day. */
const orderCache = new WeakMap<Config, Map<string, readonly NodeConfig[]>>();

/** The order nodes are tried in, before breakers: task fallbacks, a chosen node, the cascade. */
export function cascadeOrder(config: Config, request: AskRequest, settings: CascadeSettings, health: Record<string, NodeHealth>): readonly NodeConfig[] {
  if (settings.strategy === 'success-rate') return computeOrder(config, request, settings, health);
  let cache = orderCache.get(config);
  if (!cache) orderCache.set(config, (cache = new Map<string, readonly NodeConfig[]>()));
  const key = `${request.task ?? ''}\0${request.node ?? ''}\0${settings.forceNode ?? ''}\0${settings.failover}`;
  let order = cache.get(key);
  if (!order) cache.set(key, (order = computeOrder(config, request, settings, health)));
  return order;
}

function computeOrder(config: Config, request: AskRequest, settings: CascadeSettings, health: Record<string, NodeHealth>): NodeConfig[] {
  const byId = (id: string) => {
    const n = config.nodes.find((x) => x.id === id.toLowerCase());
    if (!n) throw new UsageError(`unknown node "${id}". Known nodes: ${config.nodes.map((x) => x.id).join(', ')}`);
    return n;
  };
  // A node can answer requests only if it has a URL to send them to.
  const askable = (n: NodeConfig) => n.url !== undefined;
  if (settings.forceNode) return [byId(settings.forceNode)].filter(askable);
  let order: NodeConfig[];
  if (request.node) {
    const first = byId(request.node);
    order = [first, ...first.fallbacks.map((f) => byId(f.node))];
  } else {
    if (request.task && !config.tasks[request.task]) {
      throw new UsageError(`unknown task "${request.task}". Tasks in the config: ${Object.keys(config.tasks).join(', ') || '(none)'}`);
    }
    const preferred = request.task ? config.tasks[request.task]!.map(byId) : [];
    let rest = config.nodes.filter((n) => !preferred.includes(n));
    if (settings.strategy === 'success-rate') rest = [...rest].sort((a, b) => successRate(health[b.id]) - successRate(health[a.id]));
    order = [...preferred, ...rest];
  }
  order = order.filter(askable);
  return settings.failover ? order : order.slice(0, 1);
}

export async function runCascade(config: Config, settings: CascadeSettings, stored: Record<string, NodeHealth>, knownModels: Record<string, Record<string, string>>, request: AskRequest, deps: EngineDeps): Promise<AskResult> {
  const started = deps.now();
  const deadline = started + settings.deadlineMs;
  const breaker: BreakerSettings = { failureThreshold: settings.failureThreshold, recoveryMs: settings.recoveryMs, maxRecoveryMs: settings.maxRecoveryMs };
  // This run's view of the breakers: the stored state with this run's outcomes laid over it (not a
  // copy of every node's entry per request: a proxy calls this thousands of times a second).
  const changed = new Map<string, NodeHealth>();
  const healthOf = (id: string): NodeHealth | undefined => changed.get(id) ?? stored[id];
  const events: HealthEvent[] = [];
  const attempts: Attempt[] = [];
  const resolvedModels: Record<string, Record<string, string>> = {};
  const emit = (e: CascadeEvent) => deps.onEvent?.(e);
  const record = (e: HealthEvent) => {
    events.push(e);
    changed.set(e.node, applyEvent(healthOf(e.node), e, breaker));
  };
  // Completes the result in place (a spread of a result of varying shape was a visible share of a
  // proxy's time per request).
  const finish = (r: Omit<AskResult, 'attempts' | 'events' | 'resolvedModels' | 'durationMs'>): AskResult => {
    const result = r as AskResult;
    result.attempts = attempts;
    result.events = events;
    result.resolvedModels = resolvedModels;
    result.durationMs = Math.round(deps.now() - started);
    return result;
  };

  const order = cascadeOrder(config, request, settings, stored);
  if (order.length === 0) return finish({ ok: false, error: 'no node can take requests (none has a url)' });
  // Open breakers are skipped, but the last node that might answer never is: with every breaker
  // open, the one whose open time ends first is tried.
  const now0 = deps.now();
  let candidates: NodeConfig[] = [];
  let soonest: NodeConfig | undefined;
  for (const n of order) {
    const b = stored[n.id]?.breaker;
    if (!b || allows(b, now0)) {
      candidates.push(n);
      continue;
    }
    if (!soonest || (b.openUntil ?? 0) < (stored[soonest.id]!.breaker.openUntil ?? 0)) soonest = n;
    attempts.push({ node: n.id, outcome: 'skipped', class: 'circuit_open', ms: 0, detail: `circuit open until ${isoOrUnknown(b.openUntil)}` });
    emit({ type: 'skip', node: n.id, reason: 'circuit open' });
  }
  if (candidates.length === 0 && soonest) candidates = [soonest];

  let tried = 0;
  let lastError = 'no attempt made';
  for (const [index, node] of candidates.entries()) {
    let retries = 0;
    let model = node.model ? (knownModels[node.id]?.[node.model] ?? node.model) : undefined;
    let resolvedOnce = false;
    for (;;) {
      if (tried >= settings.maxAttempts) return finish({ ok: false, error: `gave up after ${tried} attempts: ${lastError}` });
      const remaining = deadline - deps.now();
      if (remaining <= 0) return finish({ ok: false, error: `deadline of ${settings.deadlineMs} ms reached: ${lastError}` });
      tried++;
      emit({ type: 'attempt', node: node.id, attempt: tried, max: settings.maxAttempts });
      const t0 = deps.now();
      // While another node could still answer, an attempt may use at most half of what is left:
      // a hung node must not eat the whole deadline and leave the cascade nowhere to go.
      const hasNext = index < candidates.length - 1;
      const timeoutMs = Math.max(1, Math.min(settings.requestTimeoutMs, hasNext ? Math.floor(remaining / 2) : remaining));
      const chat: ChatRequest = { messages: request.messages, stream: request.stream };
      if (model) chat.model = model;
      if (request.maxTokens !== undefined) chat.maxTokens = request.maxTokens;
      if (request.extra) chat.extra = request.extra;
      const sendOptions: SendOptions = { timeoutMs };
      if (deps.signal) sendOptions.signal = deps.signal;
      if (deps.onEvent) {
        // Tokens and raw lines only matter to someone listening.
        const onEvent = deps.onEvent;
        const id = node.id;
        sendOptions.onToken = (text) => onEvent({ type: 'token', text });
        sendOptions.onData = (line) => onEvent({ type: 'data', node: id, line });
      }
      const outcome = await deps.send(node, chat, sendOptions);
      const ms = Math.round(deps.now() - t0);
      if (outcome.ok) {
        attempts.push({ node: node.id, ...(model && { model }), outcome: 'ok', ms });
        record({ node: node.id, at: deps.now(), ok: true, counts: true });
        const answered: Omit<AskResult, 'attempts' | 'events' | 'resolvedModels' | 'durationMs'> = { ok: true, node: node.id, content: outcome.value.content };
        const answeredModel = outcome.value.model ?? model;
        if (answeredModel) answered.model = answeredModel;
        if (outcome.value.raw !== undefined) answered.raw = outcome.value.raw;
        return finish(answered);
      }
      const f = outcome.failure;
      lastError = `${node.id}: ${f.message}`;
      attempts.push({ node: node.id, ...(model && { model }), outcome: 'failed', class: f.class, ...(f.httpStatus !== undefined && { httpStatus: f.httpStatus }), ms, detail: f.message });
      emit({ type: 'failed', node: node.id, class: f.class });
      if (f.class === 'aborted') return finish({ ok: false, error: 'interrupted' });
      // A configured short name (`deepseek`) that the server does not know: look up the served
      // id once and try again at once; this is not the node's fault.
      if (f.class === 'model_missing' && model && !resolvedOnce) {
        resolvedOnce = true;
        const served = await deps.resolveModel(node, node.model ?? model, Math.min(5000, Math.max(1, deadline - deps.now())));
        if (served && served !== model) {
          resolvedModels[node.id] = { ...resolvedModels[node.id], [node.model ?? model]: served };
          model = served;
          tried--;
          continue;
        }
      }
      const d = decide(f);
      record({ node: node.id, at: deps.now(), ok: false, counts: d.countsAgainstNode, error: `${f.class}: ${f.message}` });
      // After the first token, another node's answer cannot be stitched onto this one.
      if (f.class === 'stream_broken') return finish({ ok: false, node: node.id, error: `${node.id}: ${f.message}; not failing over mid-answer` });
      if (d.retrySameNode && allows(healthOf(node.id)!.breaker, deps.now()) && tried < settings.maxAttempts) {
        retries++;
        const wait = f.class === 'throttled' ? (f.retryAfterS ?? 0) * 1000 : backoffDelay(retries, { initialMs: settings.initialBackoffMs, maxMs: settings.maxBackoffMs, multiplier: settings.multiplier, jitter: settings.jitter }, deps.random);
        if (deps.now() + wait < deadline) {
          emit({ type: 'retry', node: node.id, inMs: wait, attempt: tried + 1, max: settings.maxAttempts, reason: f.class });
          await deps.sleep(wait, deps.signal).catch(() => undefined);
          if (deps.signal?.aborted) return finish({ ok: false, error: 'interrupted' });
          continue;
        }
      }
      const next = candidates[index + 1];
      if (next) emit({ type: 'failover', from: node.id, to: next.id, reason: f.class });
      break;
    }
  }
  return finish({ ok: false, error: `every node failed; last: ${lastError}` });
}

/** The last date formatted: an open breaker's end is the same on every request that skips it. */
let lastIso: { ms: number | undefined; text: string } = { ms: undefined, text: 'unknown' };

function isoOrUnknown(ms: number | undefined): string {
  if (ms === lastIso.ms) return lastIso.text;
  const d = new Date(ms ?? NaN);
  lastIso = { ms, text: Number.isNaN(d.getTime()) ? 'unknown' : d.toISOString() };
  return lastIso.text;
}

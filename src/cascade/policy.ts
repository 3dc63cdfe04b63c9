/**
 * The cascade's rules, pure: what each class of failure means (`decide`), which nodes of a route
 * its breakers let a request try (`admit`), what an answer is made of and what a request lets go
 * once answered. The attempt loop (run.ts) follows them.
 */
import { allows } from './breaker.js';
import type { CascadeRequest, CascadeResult, LiveBreakers } from './engine.js';
import type { ChatMessage, ChatRequest } from '../protocols/openai/chat.js';
import type { ChatOutcome } from '../transport/sender.js';
import type { NodeHealth } from './node-health.js';
import type { RouteStep } from './routing.js';
import type { ChatFailure } from '../transport/failure.js';

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


/** Told of each node a route's breakers keep a request from (with why, for its attempts). */
export interface SkipSink {
  skipped(node: string, detail: string, ms?: number): void;
}

/**
 * Open breakers are skipped, and a half-open one whose one trial another request has; but never
 * the last node that might answer: with every breaker open, the one whose open time ends first is
 * tried. The route itself while no breaker is open (the common case: no array per request).
 */
export function admit(order: readonly RouteStep[], stored: Record<string, NodeHealth>, live: LiveBreakers | undefined, now: number, sink: SkipSink): readonly RouteStep[] {
  let kept: RouteStep[] | undefined;
  let soonest: RouteStep | undefined;
  for (let i = 0; i < order.length; i++) {
    const step = order[i]!;
    const b = stored[step.node.id]?.breaker;
    if (!b || (live ? live.admits(step.node.id, now) : allows(b, now))) {
      kept?.push(step);
      continue;
    }
    kept ??= order.slice(0, i);
    if (allows(b, now)) {
      // Half-open, its one trial taken by another request: nothing is piled on while it runs.
      sink.skipped(step.node.id, 'its half-open trial is under way');
      continue;
    }
    if (!soonest || (b.openUntil ?? 0) < (stored[soonest.node.id]!.breaker.openUntil ?? 0)) soonest = step;
    sink.skipped(step.node.id, `circuit open until ${isoOrUnknown(b.openUntil)}`);
  }
  return kept ? (kept.length === 0 && soonest ? [soonest] : kept) : order;
}

/** The last date formatted: an open breaker's end is the same on every request that skips it. */
let lastIso: { ms: number | undefined; text: string } = { ms: undefined, text: 'unknown' };

function isoOrUnknown(ms: number | undefined): string {
  if (ms === lastIso.ms) return lastIso.text;
  const d = new Date(ms ?? NaN);
  lastIso = { ms, text: Number.isNaN(d.getTime()) ? 'unknown' : d.toISOString() };
  return lastIso.text;
}

/** A node's answer as the run's result (built in place: a spread of a result of varying shape costs a proxy per request). */
export function answerOf(node: string, model: string | undefined, value: Extract<ChatOutcome, { ok: true }>['value']): Omit<CascadeResult, 'attempts' | 'events' | 'durationMs'> {
  const answered: Omit<CascadeResult, 'attempts' | 'events' | 'durationMs'> = { ok: true, node, content: value.content };
  const answeredModel = value.model ?? model;
  if (answeredModel) answered.model = answeredModel;
  if (value.toolCalls) answered.toolCalls = value.toolCalls;
  if (value.raw !== undefined) answered.raw = value.raw;
  return answered;
}

/** A request's body (messages, the client's text, its other fields), once no attempt needs it. */
export function letGo(r: { messages: ChatMessage[]; extra?: unknown; raw?: unknown; messagesApi?: unknown }): void {
  r.messages = [];
  r.extra = undefined;
  r.raw = undefined;
  r.messagesApi = undefined;
}


/** What one attempt sends: the request's messages and fields, with the model id this node serves. */
export function chatFor(request: CascadeRequest, model: string | undefined): ChatRequest {
  const chat: ChatRequest = { messages: request.messages, stream: request.stream };
  if (model) chat.model = model;
  if (request.endpoint) chat.endpoint = request.endpoint;
  if (request.maxTokens !== undefined) chat.maxTokens = request.maxTokens;
  if (request.extra) chat.extra = request.extra;
  if (request.raw) chat.raw = request.raw;
  if (request.messagesApi) chat.messagesApi = request.messagesApi;
  if (request.ollamaApi) chat.ollamaApi = request.ollamaApi;
  return chat;
}

/**
 * The request engine: the runbook's fallback cascade with retry, exponential backoff with jitter,
 * per-node circuit breakers and an overall deadline. Independent of the CLI and of the proxy:
 * everything it touches comes in through `deps`. This file is its shape (the request, the result,
 * the doors) and its entry; the attempt loop, one state machine, is run.ts.
 */
import type { Config } from '../config/schema.js';
import { NodeLoad } from './balance.js';
import { ModelCatalog, type ListModels } from './catalog.js';
import type { HealthEvent, NodeHealth } from './node-health.js';
import { planRoute, type RouteProblem, type RouteStep } from './routing.js';
import { CascadeRun } from './run.js';
import type { CascadeSettings } from '../config/env.js';
import type { CancelSignal } from '../system/cancel.js';
import type { ChatMessage, ChatRequest, ToolCall } from '../protocols/openai/chat.js';
import type { ErrorClass } from '../transport/failure.js';
import type { SendChat } from '../transport/sender.js';

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
  /** The client's Ollama request, for Ollama nodes (see ChatRequest). */
  ollamaApi?: ChatRequest['ollamaApi'];
  /** The client's user id (OpenAI's `user`, Anthropic's `metadata.user_id`): an affinity key when the config says so. */
  user?: string;
  /** Affinity's node for this conversation: first when it is one of the request's own and may take it (see pinFirst). */
  pinned?: string;
}

export interface Attempt {
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
  /** An attempt begins: on `node`, giving it up to `timeoutMs`. */
  | { type: 'attempt'; node: string; attempt: number; max: number; timeoutMs: number }
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


/** The nodes a request is tried on, in order, before breakers (see routing.ts). */
export function cascadeOrder(config: Config, request: CascadeRequest, settings: CascadeSettings, health: Record<string, NodeHealth>, catalog = new ModelCatalog(), load = new NodeLoad(), random: () => number = Math.random): readonly RouteStep[] | RouteProblem {
  return planRoute(config, request, settings, catalog, { load, health: (id) => health[id], latencyMargin: config.routing.latencyMargin, random });
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
    return Promise.resolve(new CascadeRun(config, settings, stored, catalog, request, deps, idleLoad).start());
  } catch (error) {
    // Thrown before the first wait (a dependency's bug): a rejection, as an async function's would be.
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

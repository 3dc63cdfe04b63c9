/**
 * One exchange of a front with the cascade: the request run through the engine with the live
 * health, load and catalog, the trace of attempts for the x-jarvis-attempts header, metrics, the
 * access log, the upstream cancelled when the client goes away, and a streamed answer written
 * by the front's own StreamWriter.
 */
import type http from 'node:http';
import { Cancel } from '../system/cancel.js';
import { runCascade, type CascadeEvent, type CascadeRequest, type CascadeResult } from '../cascade/engine.js';
import type { ServeContext, ServeResponse } from './context.js';
import { outcomeFor, type AffinityTicket } from './affinity.js';

export interface Exchange {
  result: CascadeResult;
  /** `node=class,...` of every attempt, as the x-jarvis-attempts header says it. */
  attempts: string;
  /** The reply already began as a stream. */
  streaming: boolean;
}

/** How a front writes a streamed answer to its client, in its own format. */
export interface StreamWriter {
  /** The answering node's first data: the head and whatever opens the stream. */
  open(res: http.ServerResponse, headers: Record<string, string>, node: string): void;
  /** One SSE event from the node, as text (`data: ...`, with its `event:` line when it has one). */
  data(res: http.ServerResponse, line: string): void;
  /** The drain ran out while it streamed: a last error event. */
  shutdown(res: http.ServerResponse, message: string): void;
}

/**
 * Runs a request through the cascade for a client: metrics, the trace, the access log, cancels, the
 * stream. Not an async function: a stream lasts minutes, and what follows the cascade needs only
 * what its continuation holds, not a suspended frame per open stream.
 */
export function exchange(res: ServeResponse, ctx: ServeContext, request: CascadeRequest, what: string, writer: StreamWriter): Promise<Exchange> {
  const session = res.req.headers['x-jarvis-session'];
  const ticket = ctx.affinity.open(request, typeof session === 'string' ? session : undefined);
  return ticket instanceof Promise ? ticket.then((t) => run(res, ctx, request, what, writer, t)) : run(res, ctx, request, what, writer, ticket);
}

function run(res: ServeResponse, ctx: ServeContext, request: CascadeRequest, what: string, writer: StreamWriter, ticket: AffinityTicket): Promise<Exchange> {
  // A client that goes away cancels the upstream request (see the server's 'close' listener).
  const abort = new Cancel();
  res.cancel = abort;
  const stream = request.stream;
  let streaming = false;
  // Only a stream listens while it runs (its head carries the trace so far); a whole answer's
  // trace and failovers are read from the attempts afterwards, so no event objects are made.
  let trace = '';
  const answer = ticket.answer;
  const onEvent = stream
    ? (e: CascadeEvent) => {
        if (e.type === 'failed') trace += `${e.node}=${e.class},`;
        else if (e.type === 'skip') trace += `${e.node}=circuit_open,`;
        else if (e.type === 'data') {
          if (res.writableEnded) return; // ended by the drain
          if (!streaming) {
            streaming = true;
            ctx.streams.set(res, writer);
            writer.open(res, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-jarvis-node': e.node, 'x-jarvis-attempts': `${trace}${e.node}=ok`, 'x-jarvis-affinity': outcomeFor(ticket, e.node) }, e.node);
          }
          writer.data(res, e.line);
        } else if (e.type === 'token') answer?.text(e.text);
      }
    : undefined;
  const d = ctx.deps;
  // One shape, no spread: an object literal with a spread in it is built field by field at run time.
  return runCascade(ctx.config, ctx.settings, ctx.health.nodes, ctx.catalog, request, { send: d.send, listModels: d.listModels, now: d.now, sleep: d.sleep, random: d.random, load: ctx.load, signal: abort, onEvent, keepText: false, live: ctx.health }).then((result) => {
    res.cancel = undefined;
    if (streaming) ctx.streams.delete(res);
    const outcome = ctx.affinity.close(ticket, request, result);
    if (result.ok && !streaming && !res.headersSent) res.setHeader('x-jarvis-affinity', outcome);
    return conclude(res, ctx, result, { stream, what, aborted: abort.aborted, streaming });
  });
}

/** The cascade's result recorded (metrics, the request history, the access log; health was, as it happened), and the trace it left. */
function conclude(res: ServeResponse, ctx: ServeContext, result: CascadeResult, how: { stream: boolean; what: string; aborted: boolean; streaming: boolean }): Exchange {
  const { metrics } = ctx;
  let failed = false;
  let previous: { node: string; failed: boolean } | undefined;
  let attempts = '';
  for (const a of result.attempts) {
    attempts += `${attempts ? ',' : ''}${a.node}=${a.outcome === 'ok' ? 'ok' : a.class}`;
    if (a.outcome === 'skipped') continue;
    metrics.attempt(a.node, a.outcome === 'ok' ? 'ok' : (a.class ?? a.outcome));
    // A client that went away, or whose request the node judged bad, is not a request the node
    // failed: not in its history (the report's error rate).
    if (a.class !== 'aborted' && a.class !== 'rejected') ctx.requests.record(a.node, a.outcome === 'ok' ? 'ok' : (a.class ?? a.outcome), a.ms, a.firstTokenMs);
    if (a.outcome === 'ok') metrics.observeLatency(a.node, a.ms / 1000);
    else failed = true;
    // A failover is a failed attempt followed by one on another node.
    if (previous?.failed && previous.node !== a.node) metrics.failovers.inc({ from: previous.node, to: a.node });
    previous = { node: a.node, failed: a.outcome === 'failed' };
  }
  metrics.answer(result.ok ? 'answered' : 'failed', how.stream);
  // News only: a failure or a failover (a breaker-open skip is routine once it is logged).
  if (ctx.accessLog || !result.ok || failed) {
    ctx.log(`${how.what}${how.stream ? ' stream' : ''} -> ${result.ok ? `${result.node} 200` : how.aborted ? 'client gone' : how.streaming ? 'broken stream' : '503'} ${result.durationMs} ms [${attempts}]`);
  }
  if (how.aborted) res.end();
  return { result, attempts, streaming: how.streaming };
}

/**
 * Sends one chat completion (or embeddings request) to one node through its OpenAI-compatible
 * API, streamed or not, through a requester, and turns every way it can fail into a classified
 * failure. Never throws.
 */
import { StringDecoder } from 'node:string_decoder';
import type { NodeConfig } from '../config/schema.js';
import { forwardedHeaders, nodeHeaders, speaksMessages } from '../config/credentials.js';
import { apiUrl } from '../probe/endpoints.js';
import { Cancel, type CancelSignal } from '../cascade/cancel.js';
import { ChatStream, chatPayload, readReply, type ChatRequest, type ChatSuccess, type StreamRead } from '../protocols/openai/chat.js';
import { MessagesPassStream, readMessageReply } from '../protocols/anthropic/messages.js';
import { classifyHttpError, failureFromError, type ChatFailure } from './failure.js';
import { nodeHttpRequester, readText, type RawResponse, type Requester } from './requesters.js';
import { SseReader, type SseEvent } from './sse.js';
import { passBody } from '../protocols/raw-json.js';

export type ChatOutcome = { ok: true; value: ChatSuccess } | { ok: false; failure: ChatFailure };

export interface SendOptions {
  timeoutMs: number;
  signal?: CancelSignal;
  onToken?: (text: string) => void;
  /** Every SSE line of a streamed reply, as received (a proxy forwards them). */
  onData?: (line: string) => void;
  /** false: a streamed answer's text is not put together (a proxy forwards the lines and needs only how it ended). */
  keepText?: boolean;
}

export type SendChat = (node: NodeConfig, request: ChatRequest, options: SendOptions) => Promise<ChatOutcome>;

/** Parsed endpoint URLs per node: parsing a URL per request shows up in a proxy's profile. */
const parsedUrls = new WeakMap<NodeConfig, { chat: URL; embeddings: URL; messages: URL } | null>();

function target(node: NodeConfig, endpoint: 'chat' | 'embeddings' | 'messages'): URL | undefined {
  let u = parsedUrls.get(node);
  if (u === undefined) {
    u = node.url ? { chat: new URL(apiUrl(node.url, 'chat/completions')), embeddings: new URL(apiUrl(node.url, 'embeddings')), messages: new URL(apiUrl(node.url, 'messages')) } : null;
    parsedUrls.set(node, u);
  }
  return u?.[endpoint];
}

const JSON_HEADERS = Object.freeze({ 'content-type': 'application/json', accept: 'application/json' });
const SSE_HEADERS = Object.freeze({ 'content-type': 'application/json', accept: 'text/event-stream' });

/** The request headers per node and kind of reply: the node's credentials merged once, not per request. */
const headerCache = new WeakMap<NodeConfig, { json: Readonly<Record<string, string>>; sse: Readonly<Record<string, string>> }>();

function requestHeaders(node: NodeConfig, sse: boolean): Readonly<Record<string, string>> {
  let h = headerCache.get(node);
  if (!h) {
    const own = nodeHeaders(node);
    h = Object.keys(own).length === 0 ? { json: JSON_HEADERS, sse: SSE_HEADERS } : { json: { ...JSON_HEADERS, ...own }, sse: { ...SSE_HEADERS, ...own } };
    headerCache.set(node, h);
  }
  return sse ? h.sse : h.json;
}

/** The client's Messages request for a node: as it came, with the model the node serves when the route names one. */
function messagesPayload(request: ChatRequest): string {
  const { body, raw } = request.messagesApi!;
  return passBody(body, raw, request.model || undefined);
}

/** What the caller already has of a stream when it fails: tokens, or any line forwarded to a client. */
interface Sent {
  tokens: number;
  forwarded: boolean;
}

/**
 * A failure, as a broken stream once something of it reached the caller (no failover then). A
 * caller that went away (a client gone, Ctrl-C) is not a broken stream: nothing the node did.
 */
function failed(f: ChatFailure, sent: Sent): ChatOutcome {
  if (f.class === 'aborted') return { ok: false, failure: sent.tokens > 0 ? { ...f, tokens: sent.tokens } : f };
  return {
    ok: false,
    failure: sent.tokens > 0 || sent.forwarded ? { ...f, class: 'stream_broken', tokens: sent.tokens, message: `the stream broke after ${sent.tokens > 0 ? `${sent.tokens} token(s)` : 'its first chunks'}: ${f.message}` } : f,
  };
}

/** The exchange's own signal aborted by its timeout: the reason says so (no closure per request). */
const TIMED_OUT = Object.assign(new Error('timed out'), { name: 'TimeoutError' });
const expire = (c: Cancel) => c.abort(TIMED_OUT);

/**
 * The request sent: its body made here, outside the sender's async frame, so that a stream
 * lasting minutes does not keep the text of the request (as long as the client's conversation)
 * alive in it.
 */
function post(requester: Requester, url: URL, request: ChatRequest, pass: boolean, headers: Readonly<Record<string, string>>, signal: Cancel): Promise<RawResponse> {
  return requester(url, pass ? messagesPayload(request) : chatPayload(request), headers, signal);
}

/** Sends one completion through `requester`. Never throws: the outcome says how it went. */
export function createSender(requester: Requester): SendChat {
  return async (node, request, options) => {
    const endpoint = request.endpoint ?? 'chat';
    // A Messages request goes as it is to a node that speaks that API; a node that speaks only
    // that API cannot take a chat request.
    const pass = endpoint === 'chat' && request.messagesApi !== undefined && speaksMessages(node);
    if (!pass && node.kind === 'anthropic') return { ok: false, failure: { class: 'bad_request', message: `${node.id} speaks only Anthropic's Messages API (POST /v1/messages)` } };
    const url = target(node, pass ? 'messages' : endpoint);
    if (!url) return { ok: false, failure: { class: 'bad_request', message: `${node.id} has no url to send requests to` } };
    if (options.signal?.aborted) return { ok: false, failure: { class: 'aborted', message: 'interrupted' } };
    const stream = endpoint === 'chat' && request.stream;
    const headers = pass ? { ...requestHeaders(node, stream), ...forwardedHeaders(node, request.messagesApi!.headers) } : requestHeaders(node, stream);
    // Only a stream's first token is timed (a whole reply's time is the attempt's).
    const sentAt = stream ? performance.now() : 0;
    // One signal ends the exchange: the caller's (Ctrl-C, a client gone) or the timeout.
    const local = new Cancel();
    const timer = setTimeout(expire, options.timeoutMs, local);
    const parent = options.signal;
    if (parent instanceof Cancel) parent.link(local);
    else parent?.addEventListener('abort', local.abortNow, { once: true });
    const sent: Sent = { tokens: 0, forwarded: false };
    // Set once the reply was read to its end: nothing is left to cancel (an abort costs a
    // DOMException with a stack trace and a round of listeners, per request).
    let complete = false;
    try {
      const res = await post(requester, url, request, pass, headers, local);
      if (res.status < 200 || res.status >= 300) {
        const text = await readText(res, 65536);
        complete = true;
        // Anthropic's word on a request it rejects (invalid, too long, too large) is final: Claude
        // Code shows it, or compacts on "prompt is too long"; a local model would fare no better.
        if (pass && node.kind === 'anthropic' && (res.status === 400 || res.status === 413)) {
          return { ok: false, failure: { ...classifyHttpError(res.status, res.headers, text), class: 'rejected', reply: { status: res.status, body: text } } };
        }
        return { ok: false, failure: classifyHttpError(res.status, res.headers, text) };
      }
      const isSse = stream && /event-stream/.test(String(res.headers['content-type'] ?? ''));
      if (!isSse) {
        const text = res.textNow?.() ?? (await readText(res));
        complete = true;
        const reply = pass ? readMessageReply(text) : readReply(text, endpoint);
        if (!reply.ok) return failed({ class: 'bad_response', message: reply.message }, sent);
        // Not streamed by the server (or asked without streaming): print it whole.
        if (request.stream && reply.value.content) options.onToken?.(reply.value.content);
        return reply;
      }
      const keepText = options.keepText !== false;
      const chat: StreamRead = pass ? new MessagesPassStream(keepText) : new ChatStream(keepText);
      const sse = new SseReader();
      let firstTokenMs: number | undefined;
      // Events that carry nothing yet (the role chunk, empty deltas) wait until something does:
      // a stream that dies before its first token can still fail over, with nothing sent.
      let held: string[] | undefined;
      const forward = (line: string) => {
        if (!options.onData) return;
        if (held) for (const h of held.splice(0)) options.onData(h);
        options.onData(line);
        sent.forwarded = true;
      };
      const onEvent = (e: SseEvent): ChatOutcome | undefined => {
        const read = chat.read(e);
        if (!read.ok) return failed({ class: read.kind === 'error' ? 'server_error' : 'bad_response', message: read.message }, sent);
        if (read.token !== undefined) {
          sent.tokens = chat.tokens;
          options.onToken?.(read.token);
        }
        if (read.meaningful) firstTokenMs ??= performance.now() - sentAt;
        // Forwarded once it parsed: a proxy's client never sees a chunk we would reject.
        const line = chat.line(e);
        if (read.meaningful || sent.forwarded || chat.isEnd(e)) forward(line);
        else (held ??= []).push(line);
        return undefined;
      };
      // StringDecoder, not TextDecoder: no ICU converter per stream, and a multi-byte character
      // split between two chunks is still joined.
      const decoder = new StringDecoder('utf8');
      for await (const piece of res.body) {
        for (const e of sse.push(typeof piece === 'string' ? piece : decoder.write(piece))) {
          const bad = onEvent(e);
          if (bad) return bad;
        }
      }
      complete = true;
      const tail = decoder.end();
      for (const e of tail ? [...sse.push(tail), ...sse.end()] : sse.end()) {
        const bad = onEvent(e);
        if (bad) return bad;
      }
      if (!chat.finished) return failed({ class: 'bad_response', message: 'the stream ended without finishing' }, sent);
      return { ok: true, value: chat.result(firstTokenMs) };
    } catch (error) {
      if (local.reason === TIMED_OUT) return failed({ class: 'timeout', message: `no complete answer within ${options.timeoutMs} ms` }, sent);
      if (parent?.aborted) return failed({ class: 'aborted', message: 'interrupted' }, sent);
      return failed(failureFromError(error, options.timeoutMs), sent);
    } finally {
      clearTimeout(timer);
      if (parent instanceof Cancel) parent.unlink(local);
      else parent?.removeEventListener('abort', local.abortNow);
      // Whatever is left of the exchange is cancelled (a stream we stopped reading, a timeout).
      if (!complete) local.abort();
    }
  };
}

/** The sender of the one-shot commands. */
export const sendChat: SendChat = createSender(nodeHttpRequester);

/**
 * The simulated chat APIs: OpenAI-style chat completions (whole, streamed, with tool calls) and
 * Anthropic's Messages API (whole, streamed, count_tokens), as the servers in docs/protocols.md
 * answer them. The node (node.ts) says what it serves and streams the tokens.
 */
import type http from 'node:http';
import type { SimKind } from './node.js';
import { parseJson, sendError, sendJson, toolsToCall, words, type ChatMessage } from './wire.js';
import { renderAnswer, renderPrompt, type Prefill } from './prompt-cache.js';

/** OpenAI's usage, with the cached share (and llama.cpp's `timings` from an OpenAI-style server). */
function usageOf(node: ChatServer, p: Prefill, completion: number): Record<string, unknown> {
  const prompt = p.cached + p.processed;
  return {
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: p.cached } },
    ...(node.kind === 'openai' && { timings: { cache_n: p.cached, prompt_n: p.processed, prompt_ms: p.ms } }),
  };
}

/** What a chat handler needs of its node. */
export interface ChatServer {
  readonly id: string;
  readonly kind: SimKind;
  reply(messages: ChatMessage[]): string;
  /** Processes a prompt as the server's slots would (prompt-cache.ts): waits its prefill time. */
  prefill(prompt: string, answer: string): Promise<Prefill>;
  stream(res: http.ServerResponse, type: string, tokens: string[], line: (w: string) => string, tail: string[], head?: string): Promise<void>;
}

/** The Messages API: POST /v1/messages (whole and streamed) and /v1/messages/count_tokens. */
export function messagesApi(node: ChatServer, path: string, body: string, res: http.ServerResponse): void {
  if (path === '/v1/messages/count_tokens') return sendJson(res, 200, { input_tokens: Math.ceil(body.length / 4) });
  if (path !== '/v1/messages') return sendError(node.kind, res, 404, `Not found: POST ${path}`);
  const req = parseJson(body);
  if (!req) return sendError(node.kind, res, 400, 'invalid JSON');
  if (typeof req.max_tokens !== 'number') return sendError(node.kind, res, 400, 'max_tokens: Field required');
  const model = typeof req.model === 'string' ? req.model : '';
  const messages = Array.isArray(req.messages) ? (req.messages as { role?: string; content?: unknown }[]) : [];
  const last = messages.at(-1)?.content;
  const lastText = typeof last === 'string' ? last : Array.isArray(last) ? (last as { type?: string; text?: string }[]).filter((b) => b.type === 'text').map((b) => b.text).join(' ') : '';
  const text = /^\s*ping\s*$/i.test(lastText) ? `pong from ${node.id}` : `[${node.id}] ${lastText.slice(0, 200) || 'hello'}`;
  const tokens = words(text).slice(0, req.max_tokens);
  void node.prefill(renderPrompt(messages, req.system), renderAnswer(tokens.join(''))).then((p) => messagesReply(node, req, res, tokens, text, model, p));
}

function messagesReply(node: ChatServer, req: Record<string, unknown>, res: http.ServerResponse, tokens: string[], text: string, model: string, p: Prefill): void {
  const id = `msg_${node.id}_${Date.now()}`;
  const usage = { input_tokens: p.processed, cache_read_input_tokens: p.cached, output_tokens: tokens.length };
  if (req.stream !== true) {
    return sendJson(res, 200, { id, type: 'message', role: 'assistant', model, content: [{ type: 'text', text: tokens.join('') }], stop_reason: tokens.length < words(text).length ? 'max_tokens' : 'end_turn', stop_sequence: null, usage });
  }
  const ev = (name: string, data: object) => `event: ${name}\ndata: ${JSON.stringify({ type: name, ...data })}\n\n`;
  const head = ev('message_start', { message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: p.processed, cache_read_input_tokens: p.cached, output_tokens: 1 } } }) + ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) + ev('ping', {});
  const tail = [ev('content_block_stop', { index: 0 }), ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: tokens.length } }), ev('message_stop', {})];
  return void node.stream(res, 'text/event-stream; charset=utf-8', tokens, (w) => ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: w } }), tail, head);
}

export function openaiChat(node: ChatServer, body: string, res: http.ServerResponse, served: string[]): void {
  const req = parseJson(body);
  if (!req) return sendJson(res, 400, { error: { message: 'Invalid JSON body', type: 'invalid_request_error', param: null, code: null } });
  const model = typeof req.model === 'string' && req.model ? req.model : served[0] ?? 'unknown';
  if (node.kind !== 'openai' && !served.includes(model)) {
    return sendError(node.kind, res, 404, `model "${model}" not found`);
  }
  const messages = Array.isArray(req.messages) ? (req.messages as ChatMessage[]) : [];
  const text = node.reply(messages);
  const maxTokens = typeof req.max_tokens === 'number' ? req.max_tokens : Infinity;
  const tokens = words(text).slice(0, maxTokens);
  // A model given tools calls them, unless the conversation ends with their results: then it answers.
  const tools = messages.at(-1)?.role === 'tool' ? [] : toolsToCall(req.tools);
  // A model given tools calls each of them (up to three), as OpenAI-style servers answer it:
  // content null, the calls in `tool_calls`.
  const asked = String(messages.at(-1)?.content ?? '').slice(0, 40);
  const calls = tools.map((name, i) => ({ id: `call_${node.id}_${i + 1}`, type: 'function', function: { name, arguments: JSON.stringify({ asked, by: node.id }) } }));
  const answer = calls.length > 0 ? renderAnswer('', calls) : renderAnswer(tokens.join(''));
  void node.prefill(renderPrompt(messages), answer).then((p) => chatReply(node, req, res, { model, text, tokens, calls }, usageOf(node, p, calls.length > 0 ? calls.length : tokens.length)));
}

/** The completion, once its prompt is processed: whole or streamed, text or tool calls. */
function chatReply(node: ChatServer, req: Record<string, unknown>, res: http.ServerResponse, a: { model: string; text: string; tokens: string[]; calls: { id: string; type: string; function: { name: string; arguments: string } }[] }, usage: Record<string, unknown>): void {
  const { model, text, tokens, calls } = a;
  const id = `chatcmpl-${node.id}-${Date.now()}`;
  const created = Math.floor(Date.now() / 1000);
  if (calls.length > 0) {
    if (req.stream !== true) {
      return sendJson(res, 200, { id, object: 'chat.completion', created, model, choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: calls }, finish_reason: 'tool_calls' }], ...usage });
    }
    const chunk = (delta: object, finish: string | null) => `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    // Each call's name first, then its arguments in two pieces, as streaming servers send them.
    const pieces = calls.flatMap((c, index) => {
      const args = c.function.arguments;
      const half = Math.floor(args.length / 2);
      return [
        chunk({ tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.function.name, arguments: '' } }] }, null),
        chunk({ tool_calls: [{ index, function: { arguments: args.slice(0, half) } }] }, null),
        chunk({ tool_calls: [{ index, function: { arguments: args.slice(half) } }] }, null),
      ];
    });
    return void node.stream(res, 'text/event-stream', pieces, (p) => p, [chunk({}, 'tool_calls'), 'data: [DONE]\n\n'], chunk({ role: 'assistant', content: null }, null));
  }
  if (req.stream !== true) {
    return sendJson(res, 200, {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: tokens.join('') }, finish_reason: tokens.length < words(text).length ? 'length' : 'stop' }],
      ...usage,
    });
  }
  const chunk = (delta: object, finish: string | null) => `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  return void node.stream(res, 'text/event-stream', tokens, (w) => chunk({ content: w }, null), [chunk({}, 'stop'), 'data: [DONE]\n\n'], chunk({ role: 'assistant', content: '' }, null));
}

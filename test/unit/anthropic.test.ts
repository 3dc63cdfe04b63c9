import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { messageEvents, MessagesStream } from '../../src/protocols/anthropic/events.js';
import { toMessage } from '../../src/protocols/anthropic/reply.js';
import { estimateInputTokens, toChatRequest } from '../../src/protocols/anthropic/request.js';
import { SseReader, type SseEvent } from '../../src/transport/sse.js';

const fixture = (name: string) => readFileSync(fileURLToPath(new URL(`../fixtures/sse/${name}`, import.meta.url)));

/** Runs a recorded OpenAI stream through the SSE reader (split at `cuts`) and the builder; the Messages events it gives. */
function translate(bytes: Buffer, cuts: number[] = []): SseEvent[] {
  const upstream = new SseReader();
  const builder = new MessagesStream('claude-sonnet-4-5');
  let out = '';
  let from = 0;
  const decoder = new TextDecoder();
  for (const cut of [...cuts, bytes.length]) {
    for (const e of upstream.push(decoder.decode(bytes.subarray(from, cut), { stream: true }))) out += builder.chunk(e.data);
    from = cut;
  }
  for (const e of upstream.end()) out += builder.chunk(e.data);
  out += builder.end();
  const down = new SseReader();
  return [...down.push(out), ...down.end()];
}

/** Checks the Messages grammar: message_start first, blocks opened and closed in order from 0, one at a time, then message_delta and message_stop. */
function checkGrammar(events: SseEvent[]): void {
  expect(events[0]!.event).toBe('message_start');
  let open: number | undefined;
  let next = 0;
  for (const e of events.slice(1, -2)) {
    const d = JSON.parse(e.data) as { type: string; index?: number };
    expect(d.type).toBe(e.event);
    if (e.event === 'content_block_start') {
      expect(open).toBeUndefined();
      expect(d.index).toBe(next++);
      open = d.index;
    } else if (e.event === 'content_block_delta') expect(d.index).toBe(open);
    else if (e.event === 'content_block_stop') {
      expect(d.index).toBe(open);
      open = undefined;
    } else expect(e.event).toBe('ping');
  }
  expect(open).toBeUndefined();
  expect(events.slice(-2).map((e) => e.event)).toEqual(['message_delta', 'message_stop']);
}

describe('toChatRequest', () => {
  it("Claude Code's shapes: system blocks, a system message mid-conversation, images, tool_use and tool_result, tools, tool_choice, stops", () => {
    const r = toChatRequest({
      model: 'claude-opus-4-8',
      max_tokens: 64000,
      stream: true,
      thinking: { type: 'adaptive' },
      metadata: { user_id: 'u' },
      context_management: {},
      system: [{ type: 'text', text: 'You are Claude Code.' }, { type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
      tools: [{ name: 'Bash', description: 'Run a command', input_schema: { type: 'object', properties: { command: { type: 'string' } } } }],
      tool_choice: { type: 'any' },
      stop_sequences: ['\n\nHuman:'],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBOR' } }] },
        { role: 'system', content: 'Reminder: stay in the repo.' },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'hm', signature: 's' }, { type: 'text', text: 'Running it.' }, { type: 'tool_use', id: 'toolu_01', name: 'Bash', input: { command: 'ls' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: [{ type: 'text', text: 'a.txt' }], cache_control: { type: 'ephemeral' } }, { type: 'text', text: 'and now?' }, { type: 'mystery_block', x: 1 }] },
      ],
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.maxTokens).toBe(64000);
    expect(r.value.messages).toEqual([
      { role: 'system', content: 'You are Claude Code.\nBe brief.' },
      { role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBOR' } }] },
      { role: 'system', content: 'Reminder: stay in the repo.' },
      { role: 'assistant', content: 'Running it.', tool_calls: [{ id: 'toolu_01', type: 'function', function: { name: 'Bash', arguments: '{"command":"ls"}' } }] },
      { role: 'tool', tool_call_id: 'toolu_01', content: 'a.txt' },
      { role: 'user', content: 'and now?' },
    ]);
    expect({ ...r.value.extra }).toEqual({
      tools: [{ type: 'function', function: { name: 'Bash', description: 'Run a command', parameters: { type: 'object', properties: { command: { type: 'string' } } } } }],
      tool_choice: 'required',
      stop: ['\n\nHuman:'],
      stream_options: { include_usage: true },
    });
  });

  it('max_tokens and messages are required; a role it does not know is named', () => {
    expect(toChatRequest({ messages: [{ role: 'user', content: 'hi' }] })).toMatchObject({ ok: false, message: expect.stringContaining('max_tokens') });
    expect(toChatRequest({ max_tokens: 5, messages: [] })).toMatchObject({ ok: false, message: expect.stringContaining('messages') });
    expect(toChatRequest({ max_tokens: 5, messages: [{ role: 'wizard', content: 'hi' }] })).toMatchObject({ ok: false, message: expect.stringContaining('messages.0.role') });
  });
});

describe('toMessage', () => {
  it('a completion with reasoning, text and tool calls; finish reasons and usage', () => {
    const raw = JSON.stringify({ model: 'qwen', choices: [{ message: { reasoning_content: 'think', content: 'ok', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'Bash', arguments: '{"command":"ls"}' } }] }, finish_reason: 'tool_calls' }], usage: { prompt_tokens: 12, completion_tokens: 7 } });
    const m = toMessage(raw, 'claude-x');
    expect(m).toMatchObject({ ok: true, value: { type: 'message', model: 'qwen', stop_reason: 'tool_use', usage: { input_tokens: 12, output_tokens: 7 }, content: [{ type: 'thinking', thinking: 'think' }, { type: 'text', text: 'ok' }, { type: 'tool_use', id: 'call_1', name: 'Bash', input: { command: 'ls' } }] } });
    expect(toMessage(JSON.stringify({ choices: [{ message: { content: 'cut' }, finish_reason: 'length' }] }), 'c')).toMatchObject({ value: { stop_reason: 'max_tokens' } });
  });

  it('tool arguments that are not a JSON object are a failure, not an empty input', () => {
    const raw = JSON.stringify({ choices: [{ message: { content: null, tool_calls: [{ id: 'c', function: { name: 'Bash', arguments: '{"command": ls' } }] }, finish_reason: 'tool_calls' }] });
    expect(toMessage(raw, 'c')).toMatchObject({ ok: false, message: expect.stringContaining('not a JSON object') });
    expect(toMessage('<html>', 'c')).toMatchObject({ ok: false });
  });

  it('a whole message as the event sequence keeps the grammar', () => {
    const m = toMessage(JSON.stringify({ choices: [{ message: { content: 'hi', tool_calls: [{ id: 'c', function: { name: 'T', arguments: '{}' } }] }, finish_reason: 'tool_calls' }] }), 'c');
    if (!m.ok) throw new Error(m.message);
    const r = new SseReader();
    checkGrammar([...r.push(messageEvents(m.value)), ...r.end()]);
  });
});

describe('MessagesStream (streamed chat chunks -> Messages events)', () => {
  it('text: the same events whatever the split of the upstream bytes', () => {
    const bytes = fixture('ollama.txt');
    const whole = translate(bytes);
    checkGrammar(whole);
    const text = whole.filter((e) => e.event === 'content_block_delta').map((e) => (JSON.parse(e.data) as { delta: { text: string } }).delta.text).join('');
    expect(text).toBe('Bonjour é😀');
    // Event ids are not part of the events; each message gets a fresh msg_ id, so compare without it.
    const strip = (events: SseEvent[]) => events.map((e) => e.data.replace(/msg_[0-9a-f]+/, 'msg_'));
    for (let i = 1; i < bytes.length; i++) expect(strip(translate(bytes, [i]))).toEqual(strip(whole));
  });

  it('tool calls: a tool_use block, its arguments as input_json_delta; arguments cut short are an error event; at every split', () => {
    const bytes = fixture('llamacpp-crlf.txt');
    const whole = translate(bytes);
    expect(whole.map((e) => e.event)).toEqual(['message_start', 'ping', 'content_block_start', 'content_block_delta', 'content_block_stop', 'error']);
    expect(JSON.parse(whole[2]!.data)).toMatchObject({ index: 0, content_block: { type: 'tool_use', id: 'call_1', name: 'get_weather' } });
    expect(JSON.parse(whole[3]!.data)).toMatchObject({ index: 0, delta: { type: 'input_json_delta', partial_json: '{"city"' } });
    // The recorded stream stops mid-arguments: an error event, not a silently empty input.
    expect(JSON.parse(whole[5]!.data)).toMatchObject({ type: 'error', error: { type: 'api_error', message: expect.stringContaining('get_weather') } });
    const strip = (events: SseEvent[]) => events.map((e) => e.data.replace(/msg_[0-9a-f]+/, 'msg_'));
    for (let i = 1; i < bytes.length; i++) expect(strip(translate(bytes, [i]))).toEqual(strip(whole));
  });

  it('a first tool delta with an empty name waits for the name; reasoning becomes a thinking block closed before the text', () => {
    const b = new MessagesStream('c');
    let out = b.chunk(JSON.stringify({ choices: [{ delta: { reasoning_content: 'let me see' } }] }));
    out += b.chunk(JSON.stringify({ choices: [{ delta: { content: 'Sure.' } }] }));
    out += b.chunk(JSON.stringify({ choices: [{ delta: { tool_calls: [{ index: 0, id: 'call_9', function: { name: '', arguments: '{"a":' } }] } }] }));
    out += b.chunk(JSON.stringify({ choices: [{ delta: { tool_calls: [{ index: 0, function: { name: 'Read', arguments: '' } }] } }] }));
    out += b.chunk(JSON.stringify({ choices: [{ delta: { tool_calls: [{ index: 0, function: { arguments: '1}' } }] }, finish_reason: 'tool_calls' }], usage: { prompt_tokens: 3, completion_tokens: 9 } }));
    out += b.end();
    const r = new SseReader();
    const events = [...r.push(out), ...r.end()];
    checkGrammar(events);
    const starts = events.filter((e) => e.event === 'content_block_start').map((e) => (JSON.parse(e.data) as { content_block: { type: string; name?: string } }).content_block);
    expect(starts).toEqual([expect.objectContaining({ type: 'thinking' }), expect.objectContaining({ type: 'text' }), expect.objectContaining({ type: 'tool_use', name: 'Read', id: 'call_9' })]);
    const json = events.filter((e) => e.data.includes('input_json_delta')).map((e) => (JSON.parse(e.data) as { delta: { partial_json: string } }).delta.partial_json).join('');
    expect(JSON.parse(json)).toEqual({ a: 1 });
    expect(JSON.parse(events.at(-2)!.data)).toMatchObject({ delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 9 } });
  });

  it('malformed: invalid tool argument JSON, a nameless tool call, an empty stream', () => {
    const bad = new MessagesStream('c');
    bad.chunk(JSON.stringify({ choices: [{ delta: { tool_calls: [{ index: 0, id: 'x', function: { name: 'Bash', arguments: '{"command": ls' } }] }, finish_reason: 'tool_calls' }] }));
    expect(bad.end()).toMatch(/event: error\ndata: .*api_error.*not a JSON object/);
    const nameless = new MessagesStream('c');
    nameless.chunk(JSON.stringify({ choices: [{ delta: { tool_calls: [{ index: 0, function: { arguments: '{}' } }] } }] }));
    expect(nameless.end()).toMatch(/event: error\n.*without a name/);
    // Nothing came but the end: still a well-formed message (message_start before message_stop).
    const r = new SseReader();
    const empty = [...r.push(new MessagesStream('c').end()), ...r.end()];
    expect(empty.map((e) => e.event)).toEqual(['message_start', 'ping', 'message_delta', 'message_stop']);
  });
});

describe('estimateInputTokens', () => {
  it('grows with the system, the messages and the tools', () => {
    const small = estimateInputTokens({ messages: [{ role: 'user', content: 'hi' }] });
    const large = estimateInputTokens({ system: 'x'.repeat(4000), messages: [{ role: 'user', content: 'hi' }], tools: [{ name: 'a', input_schema: {} }] });
    expect(small).toBeGreaterThan(0);
    expect(large).toBeGreaterThan(small + 900);
  });
});

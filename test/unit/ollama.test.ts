/** Ollama's native API to chat completions and back (protocols/ollama/), on the shapes Ollama's own clients send and expect. */
import { describe, expect, it } from 'vitest';
import { chatFromOllama, generateFromOllama } from '../../src/protocols/ollama/request.js';
import { chatReply, generateReply, OllamaStream } from '../../src/protocols/ollama/reply.js';
import { OllamaPassStream } from '../../src/protocols/ollama/native.js';
import { NdjsonReader } from '../../src/transport/ndjson.js';

describe('an Ollama request as a chat completion', () => {
  it('messages with images, tool calls (arguments an object) and tool results by name', () => {
    const r = chatFromOllama({
      model: 'llava',
      messages: [
        { role: 'user', content: 'what is this?', images: ['iVBORw0KGgoAAA', '/9j/4AAQSk'] },
        { role: 'assistant', content: '', tool_calls: [{ function: { name: 'lookup', arguments: { q: 'cat' } } }] },
        { role: 'tool', content: 'a cat', tool_name: 'lookup' },
      ],
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.stream).toBe(true); // absent means true, as in Ollama
    expect(r.value.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'what is this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgoAAA' } }, { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/4AAQSk' } }] },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1_0', type: 'function', function: { name: 'lookup', arguments: '{"q":"cat"}' } }] },
      { role: 'tool', content: 'a cat', tool_call_id: 'call_1_0', name: 'lookup' },
    ]);
  });

  it('options, format and tools as chat-completion fields; what only Ollama knows is dropped and said', () => {
    const r = chatFromOllama({ model: 'm', stream: false, messages: [{ role: 'user', content: 'x' }], format: { type: 'object' }, tools: [{ type: 'function', function: { name: 'f' } }], options: { temperature: 0.2, top_k: 40, seed: 7, stop: ['\n'], num_predict: 64, num_ctx: 8192 }, keep_alive: '5m', think: true });
    expect(r.ok && r.value).toMatchObject({
      stream: false,
      maxTokens: 64,
      extra: { temperature: 0.2, top_k: 40, seed: 7, stop: ['\n'], response_format: { type: 'json_schema', json_schema: { name: 'format', schema: { type: 'object' } } }, tools: [{ type: 'function', function: { name: 'f' } }] },
      dropped: ['options.num_ctx', 'keep_alive', 'think'],
    });
    expect(chatFromOllama({ model: 'm', messages: [], format: 'json' })).toMatchObject({ ok: true, value: { extra: { response_format: { type: 'json_object' } } } });
    // -1: no limit, as Ollama reads it.
    const unlimited = chatFromOllama({ model: 'm', messages: [], options: { num_predict: -1 } });
    expect(unlimited.ok && unlimited.value.maxTokens).toBeUndefined();
  });

  it.each([
    [{ messages: 'hi' }, 'messages: expected an array'],
    [{ messages: [{ role: 'robot', content: 'x' }] }, 'messages[0].role: expected system, user, assistant or tool'],
    [{ messages: [{ role: 'user', content: 3 }] }, 'messages[0].content: expected a string'],
    [{ messages: [{ role: 'user', content: 'x', images: [1] }] }, 'messages[0].images: expected base64 strings'],
    [{ messages: [], options: 'hot' }, 'options: expected an object'],
    [{ messages: [], options: { num_predict: 1.5 } }, 'options.num_predict: expected a whole number'],
    [{ messages: [], format: 'yaml' }, 'format: expected "json" or a JSON schema'],
  ])('rejects %j: %s', (body, error) => {
    expect(chatFromOllama({ model: 'm', ...body })).toEqual({ ok: false, error });
  });

  it('generate: system and prompt as messages; context, suffix, raw and template are Ollama\'s own', () => {
    const r = generateFromOllama({ model: 'm', system: 'be brief', prompt: 'why', context: [1, 2], raw: true });
    expect(r.ok && r.value.messages).toEqual([
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'why' },
    ]);
    expect(r.ok && r.value.dropped).toEqual(['context', 'raw']);
  });
});

describe('a chat completion as Ollama\'s reply', () => {
  const t = { totalMs: 120, firstTokenMs: 20 };
  it('whole: content, thinking, tool calls with object arguments, counts from usage, durations in ns', () => {
    const raw = JSON.stringify({ choices: [{ message: { content: 'hi', reasoning_content: 'hmm', tool_calls: [{ function: { name: 'f', arguments: '{"a":1}' } }, { function: { name: 'g', arguments: 'not json' } }] }, finish_reason: 'tool_calls' }], usage: { prompt_tokens: 5, completion_tokens: 2 } });
    expect(chatReply(raw, {}, 'm', t, 'T')).toEqual({
      model: 'm',
      created_at: 'T',
      message: { role: 'assistant', content: 'hi', thinking: 'hmm', tool_calls: [{ function: { name: 'f', arguments: { a: 1 } } }, { function: { name: 'g', arguments: { _raw: 'not json' } } }] },
      done_reason: 'stop',
      done: true,
      total_duration: 120_000_000,
      load_duration: 0,
      prompt_eval_count: 5,
      prompt_eval_duration: 20_000_000,
      eval_count: 2,
      eval_duration: 100_000_000,
    });
    expect(generateReply(chatReply(JSON.stringify({ choices: [{ message: { content: 'ok' }, finish_reason: 'length' }] }), {}, 'm', t, 'T'))).toMatchObject({ response: 'ok', done_reason: 'length', done: true });
  });

  it('streamed: a line per piece, the tool call whole whatever the pieces its arguments came in, then the closing line', () => {
    const args = '{"city":"Paris","days":3}';
    for (let cut = 0; cut <= args.length; cut++) {
      const s = new OllamaStream('m', 'T');
      const chunks = [
        { choices: [{ delta: { role: 'assistant', content: 'Le' } }] },
        { choices: [{ delta: { content: 't me see' } }] },
        { choices: [{ delta: { tool_calls: [{ index: 0, id: 'c1', function: { name: 'weather', arguments: args.slice(0, cut) } }] } }] },
        { choices: [{ delta: { tool_calls: [{ index: 0, function: { arguments: args.slice(cut) } }] }, finish_reason: 'tool_calls' }] },
      ];
      let out = chunks.map((c) => s.chunk(JSON.stringify(c))).join('') + s.chunk('[DONE]');
      out += s.end(t);
      const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { message: { content: string; tool_calls?: unknown }; done: boolean; eval_count?: number });
      expect(lines.map((l) => l.message.content).join('')).toBe('Let me see');
      expect(lines.filter((l) => l.message.tool_calls).map((l) => l.message.tool_calls)).toEqual([[{ function: { name: 'weather', arguments: { city: 'Paris', days: 3 } } }]]);
      expect(lines.at(-1)).toMatchObject({ done: true, done_reason: 'stop', eval_count: 2 });
      expect(lines.slice(0, -1).every((l) => !l.done)).toBe(true);
    }
  });

  it('a break ends the stream with an error line, and nothing after it', () => {
    const s = new OllamaStream('m', 'T', true);
    expect(JSON.parse(s.chunk(JSON.stringify({ choices: [{ delta: { content: 'a' } }] })))).toMatchObject({ response: 'a', done: false });
    expect(s.error('the stream broke')).toBe('{"error":"the stream broke"}\n');
    expect(s.end(t)).toBe('');
    expect(s.chunk(JSON.stringify({ choices: [{ delta: { content: 'b' } }] }))).toBe('');
  });
});

describe('an Ollama node\'s own stream, passed through', () => {
  const lines = ['{"model":"qwen3:8b","message":{"role":"assistant","content":"Hé"},"done":false}', '{"model":"qwen3:8b","message":{"role":"assistant","content":" là"},"done":false}', '{"model":"qwen3:8b","message":{"role":"assistant","content":""},"done_reason":"stop","done":true,"eval_count":2}'];
  const text = `${lines.join('\r\n')}\n`;
  it('read the same at every split of its bytes (a line, a CRLF, a multi-byte character cut), text and done known', () => {
    const bytes = Buffer.from(text);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const r = new NdjsonReader();
      const decoder = new TextDecoder();
      const events = [...r.push(decoder.decode(bytes.subarray(0, cut), { stream: true })), ...r.push(decoder.decode(bytes.subarray(cut))), ...r.end()];
      expect(events.map((e) => e.data)).toEqual(lines);
      const s = new OllamaPassStream();
      const reads = events.map((e) => s.read(e));
      expect(reads.map((x) => x.ok && x.meaningful)).toEqual([true, true, true]);
      expect(s.finished).toBe(true);
      expect(s.result(undefined)).toMatchObject({ content: 'Hé là', model: 'qwen3:8b', tokens: 2 });
      expect(events.map((e) => s.line(e))).toEqual(lines);
      expect(s.isEnd(events[2]!)).toBe(true);
    }
  });

  it('an error line is a failure; a line that is not JSON is a bad chunk', () => {
    expect(new OllamaPassStream().read({ data: '{"error":"out of memory"}' })).toEqual({ ok: false, kind: 'error', message: 'error in the stream: out of memory' });
    expect(new OllamaPassStream().read({ data: 'oops' })).toMatchObject({ ok: false, kind: 'bad_chunk' });
  });
});

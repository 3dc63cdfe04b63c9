import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SseReader, type SseEvent } from '../../src/transport/sse.js';
import { ChatStream } from '../../src/protocols/openai/chat.js';

const dir = fileURLToPath(new URL('../fixtures/sse/', import.meta.url));
const streams = readdirSync(dir).filter((f) => f.endsWith('.txt'));

/** Reads `bytes` in the given pieces, decoding as a sender does (a character may be split). */
function readAll(bytes: Buffer, cuts: number[]): SseEvent[] {
  const reader = new SseReader();
  const decoder = new TextDecoder();
  const events: SseEvent[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    events.push(...reader.push(decoder.decode(bytes.subarray(from, cut), { stream: true })));
    from = cut;
  }
  events.push(...reader.end());
  return events;
}

describe('SseReader', () => {
  it('reads the recorded streams', () => {
    const ollama = readAll(readFileSync(path.join(dir, 'ollama.txt')), []);
    expect(ollama.map((e) => e.data.slice(0, 12))).toEqual(['{"id":"chatc', '{"id":"chatc', '{"id":"chatc', '[DONE]']);
    const anthropic = readAll(readFileSync(path.join(dir, 'anthropic.txt')), []);
    expect(anthropic.map((e) => e.event)).toEqual(['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    // CR line ends, a comment, `data:` without its space, and one event's data over two lines.
    const cr = readAll(readFileSync(path.join(dir, 'cr-multiline.txt')), []);
    expect(cr.map((e) => e.data)).toEqual(['{"choices":[{"delta":{"content":"a"}}]}', '{"choices":[{"delta":{"content":"b"},\n"finish_reason":"stop"}]}']);
  });

  for (const file of streams) {
    it(`${file}: the same events whatever the split (every position, and every pair of positions)`, () => {
      const bytes = readFileSync(path.join(dir, file));
      const whole = readAll(bytes, []);
      expect(whole.length).toBeGreaterThan(1);
      for (let i = 1; i < bytes.length; i++) expect(readAll(bytes, [i])).toEqual(whole);
      // Pairs on a stride (every pair would be ~n²/2 reads of the whole stream).
      for (let i = 1; i < bytes.length; i += 7) for (let j = i + 1; j < bytes.length; j += 11) expect(readAll(bytes, [i, j])).toEqual(whole);
      // One byte at a time.
      expect(readAll(bytes, Array.from({ length: bytes.length - 1 }, (_, k) => k + 1))).toEqual(whole);
    });
  }

  it('a stream cut before its blank line still gives its last event; a BOM is dropped; ids carry over', () => {
    const r = new SseReader();
    expect(r.push('\ufeffid: 7\ndata: one\n\ndata: two')).toEqual([{ data: 'one', id: '7' }]);
    expect(r.end()).toEqual([{ data: 'two', id: '7' }]);
  });

  it('an event without data is no event (event: ping alone)', () => {
    const r = new SseReader();
    expect(r.push('event: ping\n\n: comment\n\n')).toEqual([]);
  });
});

describe('ChatStream', () => {
  it('puts a streamed completion together: content, tool calls in pieces, the finish', () => {
    for (const file of ['ollama.txt', 'llamacpp-crlf.txt']) {
      const chat = new ChatStream();
      const reads = readAll(readFileSync(path.join(dir, file)), []).map((e) => chat.read(e.data));
      expect(reads.every((r) => r.ok)).toBe(true);
      expect(chat.finished).toBe(true);
      if (file === 'ollama.txt') {
        expect(chat.content).toBe('Bonjour é😀');
        expect(reads[0]).toEqual({ ok: true, meaningful: false });
      } else expect(chat.toolCalls).toEqual([{ id: 'call_1', name: 'get_weather', arguments: '{"city"' }]);
    }
  });

  it("a proxy's (keepText false): the same reads, tokens and finish, without the text put together", () => {
    const lines = readAll(readFileSync(path.join(dir, 'ollama.txt')), []);
    const kept = new ChatStream();
    const forwarded = new ChatStream(false);
    expect(lines.map((e) => forwarded.read(e.data))).toEqual(lines.map((e) => kept.read(e.data)));
    expect({ finished: forwarded.finished, tokens: forwarded.tokens, content: forwarded.content }).toEqual({ finished: true, tokens: kept.tokens, content: '' });
    expect(kept.content).toBe('Bonjour é😀');
  });

  it('a chunk that is not JSON, or an error in the stream, is a failure value', () => {
    expect(new ChatStream().read('{"choices": [')).toMatchObject({ ok: false, kind: 'bad_chunk' });
    expect(new ChatStream().read('{"error": {"message": "CUDA out of memory"}}')).toMatchObject({ ok: false, kind: 'error', message: expect.stringContaining('CUDA out of memory') });
  });
});

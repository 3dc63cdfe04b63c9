/** What counts as an answer, and what a proxy refuses to read. */
import { describe, expect, it } from 'vitest';
import { readReply } from '../../src/protocols/openai/chat.js';

const completion = (message: object) => JSON.stringify({ model: 'm', choices: [{ index: 0, message, finish_reason: 'stop' }] });

describe('readReply', () => {
  it('content, tool calls with content null, a refusal: each is an answer', () => {
    expect(readReply(completion({ role: 'assistant', content: 'hi' }), 'chat')).toMatchObject({ ok: true, value: { content: 'hi', model: 'm' } });
    const calls = [
      { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
    ];
    const tool = readReply(completion({ role: 'assistant', content: null, tool_calls: calls }), 'chat');
    expect(tool).toMatchObject({ ok: true, value: { content: '', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }, { id: 'call_2', name: 'get_time', arguments: '{}' }] } });
    expect(readReply(completion({ role: 'assistant', content: null, refusal: 'I cannot' }), 'chat')).toMatchObject({ ok: true, value: { content: 'I cannot' } });
  });

  it('no content, no tool calls, no refusal; an empty tool list; not JSON: broken', () => {
    expect(readReply(completion({ role: 'assistant', content: null }), 'chat')).toMatchObject({ ok: false, message: expect.stringMatching(/no message content, tool calls or refusal/) });
    expect(readReply(completion({ role: 'assistant', content: null, tool_calls: [] }), 'chat').ok).toBe(false);
    expect(readReply('<html>', 'chat')).toMatchObject({ ok: false, message: expect.stringMatching(/^not JSON/) });
  });

  it('embeddings need their data list', () => {
    expect(readReply('{"object":"list","data":[{"embedding":[0.1]}],"model":"e"}', 'embeddings')).toMatchObject({ ok: true, value: { model: 'e' } });
    expect(readReply('{"choices":[]}', 'embeddings').ok).toBe(false);
  });
});

describe('listeningInodes (the socket table in /proc/net/tcp)', () => {
  it('finds the LISTEN sockets of a port, not connections to it', async () => {
    const { listeningInodes } = await import('../../src/system/ports.js');
    const table = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:2AF8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41235 1 0000000000000000 100 0 0 10 0',
      '   1: 0100007F:9C40 0100007F:2AF8 01 00000000:00000000 00:00000000 00000000     0        0 41299 1 0000000000000000 20 4 30 10 -1',
      '   2: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 50001 1 0000000000000000 100 0 0 10 0',
    ].join('\n');
    expect(listeningInodes(table, 11000)).toEqual(['41235']); // 0x2AF8
    expect(listeningInodes(table, 8080)).toEqual(['50001']);
    expect(listeningInodes(table, 40000)).toEqual([]); // 0x9C40 is a client's end, not listening
  });
});

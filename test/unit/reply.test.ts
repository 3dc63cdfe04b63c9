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

describe('the socket table in /proc/net/tcp, /proc cmdlines, lsof', () => {
  it('finds the LISTEN sockets and their ports, not connections', async () => {
    const { listeningSockets } = await import('../../src/system/ports.js');
    const table = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:2AF8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41235 1 0000000000000000 100 0 0 10 0',
      '   1: 0100007F:9C40 0100007F:2AF8 01 00000000:00000000 00:00000000 00000000     0        0 41299 1 0000000000000000 20 4 30 10 -1',
      '   2: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 50001 1 0000000000000000 100 0 0 10 0',
    ].join('\n');
    // 0x2AF8 = 11000, 0x1F90 = 8080; 0x9C40 is a client's end, not listening.
    expect([...listeningSockets(table)]).toEqual([['41235', 11000], ['50001', 8080]]);
  });

  it('reads a NUL-separated command line, empty arguments kept', async () => {
    const { parseCmdline } = await import('../../src/system/ports.js');
    expect(parseCmdline('ollama\0serve\0')).toEqual(['ollama', 'serve']);
    expect(parseCmdline('node\0-e\0\0x\0')).toEqual(['node', '-e', '', 'x']);
    expect(parseCmdline('')).toEqual([]);
  });

  it('reads lsof -F pn: every port of every pid', async () => {
    const { parseLsof } = await import('../../src/system/ports.js');
    expect([...parseLsof('p12\nn127.0.0.1:1234\nn*:1235\np40\nn[::1]:11434\n')].map(([pid, ports]) => [pid, [...ports]])).toEqual([[12, [1234, 1235]], [40, [11434]]]);
  });
});

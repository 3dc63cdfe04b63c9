/** KV-cache affinity: conversation keys, the pin table, and the cascade's yield. */
import { describe, expect, it } from 'vitest';
import { AnswerPrint, namedKey, printRequest } from '../../src/affinity/fingerprint.js';
import { PinTable } from '../../src/affinity/pins.js';
import { NodeLoad } from '../../src/cascade/balance.js';
import { ModelCatalog } from '../../src/cascade/catalog.js';
import { runCascade } from '../../src/cascade/engine.js';
import { LiveHealth } from '../../src/serve/live-health.js';
import type { SharedState } from '../../src/store/shared-state.js';
import { applyEvent, type NodeHealth } from '../../src/cascade/node-health.js';
import { cascadeSettings } from '../../src/config/env.js';
import { parseConfig } from '../../src/config/load.js';
import type { ChatMessage, ToolCall } from '../../src/protocols/openai/chat.js';
import type { SendChat } from '../../src/transport/sender.js';

/** The key a conversation's next turn looks up once `answer` (and its calls) ended `messages`. */
function answered(group: string, messages: ChatMessage[], answer: string, calls?: ToolCall[], pieces = 1): number {
  const a = new AnswerPrint(printRequest(group, messages));
  const size = Math.ceil(answer.length / pieces);
  for (let i = 0; i < answer.length; i += size) a.text(answer.slice(i, i + size));
  return a.key(calls);
}

const system: ChatMessage = { role: 'system', content: 'You are a careful assistant. '.repeat(40) };

describe('conversation keys', () => {
  it('turn N+1 finds the key turn N made: its history up to its last answer', () => {
    const t1: ChatMessage[] = [system, { role: 'user', content: 'What is a KV cache?' }];
    expect(printRequest('qwen3', t1).lookup).toBeUndefined(); // a first turn has nothing to find
    const k1 = answered('qwen3', t1, 'It keeps the attention keys and values of a prompt.');
    const t2: ChatMessage[] = [...t1, { role: 'assistant', content: 'It keeps the attention keys and values of a prompt.' }, { role: 'user', content: 'And why does it matter?' }];
    expect(printRequest('qwen3', t2).lookup).toBe(k1);
    // Several messages after the answer (tool results, then the user) change nothing of it.
    const t2b: ChatMessage[] = [...t2.slice(0, 3), { role: 'tool', content: 'result', tool_call_id: 'x' }, { role: 'user', content: 'go on' }];
    expect(printRequest('qwen3', t2b).lookup).toBe(k1);
    // The same conversation under another model name is another group.
    expect(printRequest('llama3', t2).lookup).not.toBe(k1);
  });

  it('two conversations with the same opening but different first answers do not share a key', () => {
    const t1: ChatMessage[] = [system, { role: 'user', content: 'Name a colour.' }];
    const red = answered('m', t1, 'Red.');
    const blue = answered('m', t1, 'Blue.');
    expect(red).not.toBe(blue);
    const next = (answer: string) => printRequest('m', [...t1, { role: 'assistant', content: answer }, { role: 'user', content: 'Another?' }]).lookup;
    expect(next('Red.')).toBe(red);
    expect(next('Blue.')).toBe(blue);
    // An earlier message that differs by one character is another conversation.
    const edited = [{ ...system, content: `${system.content as string}!` }, t1[1]!, { role: 'assistant', content: 'Red.' }, { role: 'user', content: 'Another?' }];
    expect(printRequest('m', edited).lookup).not.toBe(red);
  });

  it("what a client sends back of an answer matches it: streamed in pieces, spacing trimmed, parts, tool arguments written again", () => {
    const t1: ChatMessage[] = [system, { role: 'user', content: 'Weather in Paris?' }];
    const calls: ToolCall[] = [{ id: 'call_1', name: 'get_weather', arguments: '{"city": "Paris", "unit": "c"}' }];
    const key = answered('m', t1, '  Let me look.\n', calls, 5);
    const back = (assistant: ChatMessage) => printRequest('m', [...t1, assistant, { role: 'tool', content: '18 C', tool_call_id: 'call_1' }]).lookup;
    // As the openai SDK sends it back.
    expect(back({ role: 'assistant', content: '  Let me look.\n', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris", "unit": "c"}' } }] })).toBe(key);
    // Trimmed, and the arguments parsed and written again (the Anthropic front's tool_use input).
    expect(back({ role: 'assistant', content: 'Let me look.', tool_calls: [{ id: 'toolu_9', type: 'function', function: { name: 'get_weather', arguments: JSON.stringify({ city: 'Paris', unit: 'c' }) } }] })).toBe(key);
    // As text parts.
    expect(back({ role: 'assistant', content: [{ type: 'text', text: 'Let me ' }, { type: 'text', text: 'look.' }], tool_calls: [{ function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' } }] })).toBe(key);
    // Another city is another conversation.
    expect(back({ role: 'assistant', content: 'Let me look.', tool_calls: [{ function: { name: 'get_weather', arguments: '{"city":"Lyon","unit":"c"}' } }] })).not.toBe(key);
  });

  it('reasoning written inline (<think>…</think>) first: the same key whether the client sends it back or leaves it out, however the tags were cut', () => {
    const t1: ChatMessage[] = [{ role: 'user', content: 'What is 6 x 7?' }];
    const raw = '<think>\nsix sevens… 42</think>\n\nIt is 42.';
    // Whole, and in pieces down to one character (which cuts both tags everywhere).
    const keys = [1, 2, 3, 5, 7, raw.length].map((pieces) => answered('m', t1, raw, undefined, pieces));
    expect(new Set(keys).size).toBe(1);
    const back = (content: string) => printRequest('m', [...t1, { role: 'assistant', content }, { role: 'user', content: 'and 6 x 8?' }]).lookup;
    expect(back(raw)).toBe(keys[0]);
    expect(back('It is 42.')).toBe(keys[0]);
    const parts = printRequest('m', [...t1, { role: 'assistant', content: [{ type: 'text', text: '<think>six sevens… 42</think>' }, { type: 'text', text: ' It is 42.' }] }, { role: 'user', content: 'and 6 x 8?' }]).lookup;
    expect(parts).toBe(keys[0]); // as parts, read the same way
    // Not reasoning: a tag-like start that is not <think>, or one in the middle, is words.
    expect(answered('m', t1, '<b>42</b>', undefined, 9)).toBe(back('<b>42</b>'));
    expect(answered('m', t1, '<th', undefined, 3)).toBe(back('<th'));
    expect(answered('m', t1, 'So <think>x</think> 42')).not.toBe(back('So 42'));
  });

  it('a long answer (beyond the few KB held) and text outside Latin-1 give the same key streamed or whole', () => {
    const t1: ChatMessage[] = [{ role: 'user', content: 'Write a lot, 日本語 too.' }];
    const long = `${'word 日本 '.repeat(3000)}end`;
    expect(answered('m', t1, long, undefined, 977)).toBe(answered('m', t1, long));
    expect(printRequest('m', [...t1, { role: 'assistant', content: long }, { role: 'user', content: 'more' }]).lookup).toBe(answered('m', t1, long));
  });

  it('messages of any shape a front lets through give a key, never a throw', () => {
    const odd = [{ role: '__proto__', content: 5 }, { role: 'constructor', content: [null, 7, { type: 'text', text: 3 }] }, { role: 'assistant', content: null, tool_calls: [null, { function: { name: 'f', arguments: { a: [1, 2] } } }] }, { role: 'user', content: 'go' }] as unknown as ChatMessage[];
    const print = printRequest('m', odd);
    expect(Number.isSafeInteger(print.lookup)).toBe(true);
    expect(printRequest('m', odd).lookup).toBe(print.lookup);
  });

  it('a conversation larger than the buffer kept (1 MB) gets the same key each time, and the next one is not disturbed', () => {
    const huge: ChatMessage[] = [{ role: 'user', content: 'x'.repeat(1_500_000) }, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'more' }];
    const small: ChatMessage[] = [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }, { role: 'user', content: 'bye' }];
    const before = printRequest('m', small).lookup;
    expect(printRequest('m', huge).lookup).toBe(printRequest('m', huge).lookup);
    expect(printRequest('m', small).lookup).toBe(before);
    expect(printRequest('m', huge).lookup).toBe(answered('m', [huge[0]!], 'ok'));
  });

  it('named keys (session, user) are their own, per group', () => {
    expect(namedKey('m', 'session', 'abc')).toBe(namedKey('m', 'session', 'abc'));
    expect(namedKey('m', 'session', 'abc')).not.toBe(namedKey('m', 'user', 'abc'));
    expect(namedKey('m', 'session', 'abc')).not.toBe(namedKey('n', 'session', 'abc'));
    expect(Number.isSafeInteger(namedKey('m', 'session', 'abc'))).toBe(true);
  });
});

describe('the pin table', () => {
  const never = () => undefined;

  it('forgets a pin idle for its time to live; a use starts it again', () => {
    const t = new PinTable(600_000, 100);
    t.set(1, 'a', 0);
    expect(t.get(1, 500_000, never)?.node).toBe('a');
    expect(t.get(1, 1_000_000, never)?.node).toBe('a'); // 500 s after its last use
    expect(t.get(1, 1_600_001, never)).toBeUndefined();
    expect(t.size).toBe(0);
  });

  it('holds at most maxEntries, the least recently used going first', () => {
    const t = new PinTable(600_000, 3);
    for (const k of [1, 2, 3]) t.set(k, `n${k}`, k);
    t.get(1, 10, never); // 1 is the most recently used now
    t.set(4, 'n4', 11);
    expect(t.size).toBe(3);
    expect(t.get(2, 12, never)).toBeUndefined();
    expect([1, 3, 4].map((k) => t.get(k, 12, never)?.node)).toEqual(['n1', 'n3', 'n4']);
    t.configure(600_000, 1);
    expect(t.size).toBe(1);
  });

  it("a pin made before its node's breaker last opened is dead; dropNode removes a node's pins", () => {
    const t = new PinTable(600_000, 100);
    t.set(1, 'a', 1000);
    t.set(2, 'b', 1000);
    t.set(3, 'a', 3000);
    const opened = (id: string) => (id === 'a' ? 2000 : undefined);
    expect(t.get(1, 4000, opened)).toBeUndefined();
    expect(t.get(3, 4000, opened)?.node).toBe('a'); // made after the opening
    expect(t.counts(4000, opened).byNode).toEqual({ a: 1, b: 1 });
    expect(t.dropNode('b')).toBe(1);
    expect(t.counts(4000, opened).byNode).toEqual({ a: 1 });
  });

  it('a conversation that went on is counted once, and its earlier turn is still found', () => {
    const t = new PinTable(600_000, 100);
    t.set(1, 'a', 0);
    t.moved(1);
    t.set(2, 'a', 1);
    expect(t.counts(2, never).byNode).toEqual({ a: 1 });
    expect(t.get(1, 2, never)?.node).toBe('a');
  });

  it("a proxy hears each breaker that opens, its own or one another process opened (the pins' owner drops them)", async () => {
    const S = { failureThreshold: 2, recoveryMs: 1000, maxRecoveryMs: 1000 };
    let elsewhere: Record<string, NodeHealth> | undefined = undefined;
    const shared = { backend: 'redis', where: 'memory', load: async () => ({ nodes: {}, served: {} }), exchange: async () => elsewhere, instances: () => 2 } as unknown as SharedState;
    const live = new LiveHealth(shared, new ModelCatalog(), S);
    const heard: string[] = [];
    live.onOpen((id) => heard.push(id));
    const fail = { ok: false, counts: true, error: 'refused' } as const;
    live.record({ node: 'a', at: 1000, ...fail });
    expect(heard).toEqual([]);
    live.record({ node: 'a', at: 1001, ...fail });
    expect(heard).toEqual(['a']);
    await live.sync(); // nothing new elsewhere
    // Another proxy opened b's breaker: heard at the sync that brings it.
    elsewhere = { a: live.get('a')!, b: applyEvent(applyEvent(undefined, { node: 'b', at: 2000, ...fail }, S), { node: 'b', at: 2001, ...fail }, S) };
    await live.sync();
    expect(heard).toEqual(['a', 'b']);
    await live.sync();
    expect(heard).toEqual(['a', 'b']); // the same opening is heard once
  });

  it('stamps when a breaker opens, for every store (applyEvent)', () => {
    const s = { failureThreshold: 1, recoveryMs: 1000, maxRecoveryMs: 1000 };
    const h = applyEvent(undefined, { node: 'a', at: 5000, ok: false, counts: true, error: 'x' }, s);
    expect(h.openedAt).toBe(5000);
    expect(applyEvent(h, { node: 'a', at: 5500, ok: false, counts: true, error: 'x' }, s).openedAt).toBe(5000); // still open
    expect(applyEvent(h, { node: 'a', at: 7000, ok: false, counts: true, error: 'x' }, s).openedAt).toBe(7000); // its trial failed
  });
});

/** x first by priority; a and b serve the same model (a with two slots); c another model. */
const pinConfig = await parseConfig(
  `nodes:
  - { id: x, kind: openai, url: "http://127.0.0.1:1", model: m }
  - { id: a, kind: openai, url: "http://127.0.0.1:2", model: m, slots: 2 }
  - { id: b, kind: openai, url: "http://127.0.0.1:3", model: m }
  - { id: c, kind: openai, url: "http://127.0.0.1:4", model: other }
routing: { strategy: priority }
`,
  'c.yaml',
);

describe('the cascade with a pinned node', () => {
  const config = pinConfig;
  const settings = cascadeSettings(config, {});
  const ask = async (pinned: string, o: { load?: NodeLoad; health?: Record<string, NodeHealth> } = {}) => {
    const send: SendChat = async (node) => ({ ok: true, value: { content: `from ${node.id}` } });
    const r = await runCascade(config, settings, o.health ?? {}, new ModelCatalog(), { messages: [{ role: 'user', content: 'hi' }], stream: false, model: 'm', pinned }, { send, listModels: async () => undefined, now: () => 10_000, sleep: async () => undefined, random: () => 0, ...(o.load && { load: o.load }) });
    return r.node;
  };

  it('goes first when it may take the request', async () => {
    expect(await ask('b')).toBe('b');
    expect(await ask('a')).toBe('a');
    expect(await ask('x')).toBe('x');
  });

  it('yields to the strategy when busy (its slots, or 4), its probe failed, its breaker is open, or it is not of the group', async () => {
    const load = new NodeLoad();
    for (let i = 0; i < 3; i++) load.begin('b');
    expect(await ask('b', { load })).toBe('b'); // 3 in flight, under 4
    load.begin('b');
    expect(await ask('b', { load })).toBe('x'); // 4: busy
    load.begin('a');
    expect(await ask('a', { load })).toBe('a'); // 1 of its 2 slots
    load.begin('a');
    expect(await ask('a', { load })).toBe('x');
    const probed = new NodeLoad();
    probed.probed('b', false);
    expect(await ask('b', { load: probed })).toBe('x');
    const open: NodeHealth = { breaker: { phase: 'open', consecutiveFailures: 3, openUntil: 20_000, opens: 1 }, successes: 0, failures: 3, consecutiveFailures: 3, totalRequests: 3 };
    expect(await ask('b', { health: { b: open } })).toBe('x');
    expect(await ask('c')).toBe('x'); // another model's node: a fallback, never pinned first
  });

  it("yields at the config's maxInFlight, whatever the node's slots", async () => {
    const capped = await parseConfig(`nodes:
  - { id: x, kind: openai, url: "http://127.0.0.1:1", model: m }
  - { id: a, kind: openai, url: "http://127.0.0.1:2", model: m, slots: 2 }
routing: { strategy: priority, affinity: { maxInFlight: 1 } }
`, 'capped.yaml');
    const load = new NodeLoad();
    const send: SendChat = async (node) => ({ ok: true, value: { content: `from ${node.id}` } });
    const deps = { send, listModels: async () => undefined, now: () => 10_000, sleep: async () => undefined, random: () => 0, load };
    const request = { messages: [{ role: 'user' as const, content: 'hi' }], stream: false, model: 'm', pinned: 'a' };
    expect((await runCascade(capped, cascadeSettings(capped, {}), {}, new ModelCatalog(), request, deps)).node).toBe('a');
    load.begin('a');
    expect((await runCascade(capped, cascadeSettings(capped, {}), {}, new ModelCatalog(), { ...request }, deps)).node).toBe('x'); // 1 in flight: at the cap, under its 2 slots
  });
});

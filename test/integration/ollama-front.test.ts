/**
 * Ollama's own API in front of the cluster, through the official `ollama` npm client against
 * `jarvis serve` over sim nodes (an Ollama node and an LM Studio node): chat streamed and not,
 * generate, embed, tags, show, ps, version, a tool call round trip through translation,
 * failover from a dead Ollama node before the first line, a stream cut after its first line
 * ending in an error, a 404 for an unknown model, model management refused, and the OpenAI
 * front agreeing on which node answers.
 */
import path from 'node:path';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, nextHit, probedOnce, simFault, startCluster, startServe, tempDir, type RunningServe, type RunningSim } from '../helpers/cli.js';

let tmp: ReturnType<typeof tempDir>;
let sim: RunningSim;
let serve: RunningServe;
let client: Ollama;

beforeAll(async () => {
  tmp = tempDir('jarvis-ollama-');
  let cfg: string;
  ({ sim, cfg } = await startCluster(tmp.dir, [{ id: 'ol', kind: 'ollama', models: ['qwen3:8b', 'nomic-embed-text:latest'] }, { id: 'lm', kind: 'lmstudio', models: ['mistral-7b'] }], { timeoutMs: 5000 }));
  serve = await startServe({ config: cfg, dataDir: path.join(tmp.dir, 'data'), env: cleanEnv(tmp.dir), args: ['--health-interval', '60000'] });
  await probedOnce(serve.url);
  client = new Ollama({ host: serve.url });
});

afterAll(async () => {
  await serve?.stop();
  await sim?.stop();
  tmp?.cleanup();
});

describe('an Ollama client pointed at jarvis serve', () => {
  it('chats, whole and streamed (NDJSON, the last line done with its durations); generates; embeds', async () => {
    // The Ollama node gets the body as sent, on its own /api/chat: its own durations come back.
    const hit = await nextHit(sim.ready.control, 'ol', '/api/chat');
    const whole = await client.chat({ model: 'qwen3:8b', messages: [{ role: 'user', content: 'hello there' }], stream: false, keep_alive: '5m', options: { num_ctx: 4096 } });
    await hit();
    expect(whole.message).toMatchObject({ role: 'assistant', content: '[ol] hello there' });
    // The node's own counts, passed through: the prompt tokens it evaluated (none cached yet).
    expect(whole).toMatchObject({ load_duration: 1_000_000, prompt_eval_count: Math.ceil('<|user|>hello there\n'.length / 4) });
    expect(whole).toMatchObject({ done: true, done_reason: 'stop', model: 'qwen3:8b' });
    expect(whole.total_duration).toBeGreaterThan(0);
    expect(whole.eval_count).toBeGreaterThan(0);

    const parts: string[] = [];
    let last: { done: boolean; done_reason?: string; eval_count?: number; total_duration?: number } | undefined;
    for await (const part of await client.chat({ model: 'qwen3:8b', messages: [{ role: 'user', content: 'one two three' }], stream: true })) {
      parts.push(part.message.content);
      last = part;
    }
    expect(parts.join('')).toBe('[ol] one two three');
    expect(last).toMatchObject({ done: true, done_reason: 'stop' });
    expect(last!.eval_count).toBeGreaterThan(0);
    expect(last!.total_duration).toBeGreaterThan(0);

    const gen = await client.generate({ model: 'mistral-7b', prompt: 'why', system: 'be brief', stream: false });
    expect(gen.response).toBe('[lm] why');
    // What a node of another kind cannot take is said, not silently lost.
    const noted = await fetch(`${serve.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'mistral-7b', prompt: 'why', context: [1, 2, 3], stream: false }) });
    expect(noted.headers.get('x-jarvis-note')).toBe('not sent to lm (not Ollama): context');
    const streamed: string[] = [];
    for await (const part of await client.generate({ model: 'qwen3:8b', prompt: 'a b', stream: true })) streamed.push(part.response ?? '');
    expect(streamed.join('')).toBe('[ol] a b');

    const vectors = await client.embed({ model: 'nomic-embed-text', input: ['one', 'two'] });
    expect(vectors.embeddings.length).toBeGreaterThan(0);
    expect(vectors.embeddings[0]!.length).toBeGreaterThan(0);
  });

  it('lists the models once with their nodes, shows one from the node that would answer, says what is loaded and its version', async () => {
    const { models } = await client.list();
    const names = models.map((m) => m.name);
    expect(names.every((n) => typeof n === "string")).toBe(true);
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining(['qwen3:8b', 'mistral-7b']));
    expect(models.find((m) => m.name === 'qwen3:8b')).toMatchObject({ nodes: ['ol'] });
    const shown = await client.show({ model: 'qwen3:8b' });
    expect(shown.modelfile).toBe('FROM qwen3:8b');
    expect(shown.capabilities).toContain('tools');
    const loaded = await client.ps();
    expect(loaded.models.map((m) => [m.name, (m as unknown as { node: string }).node])).toEqual(expect.arrayContaining([['qwen3:8b', 'ol']]));
    expect((await client.version()).version).toMatch(/\(jarvis\)$/);
    expect(await (await fetch(`${serve.url}/`)).text()).toBe('Ollama is running');
  });

  it('a tool call comes back in Ollama\'s shape (arguments an object) and its result goes on through translation', async () => {
    const tools = [{ type: 'function', function: { name: 'get_weather', description: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const first = await client.chat({ model: 'mistral-7b', messages: [{ role: 'user', content: 'weather?' }], tools, stream: false });
    const call = first.message.tool_calls![0]!;
    expect(call.function.name).toBe('get_weather');
    expect(call.function.arguments).toEqual({ asked: 'weather?', by: 'lm' });
    const second = await client.chat({ model: 'mistral-7b', messages: [{ role: 'user', content: 'weather?' }, first.message, { role: 'tool', content: 'sunny', tool_name: 'get_weather' }], tools, stream: false });
    expect(second.message.content).toMatch(/^\[lm\]/);
    const streamed = [];
    for await (const part of await client.chat({ model: 'mistral-7b', messages: [{ role: 'user', content: 'weather?' }], tools, stream: true })) if (part.message.tool_calls) streamed.push(...part.message.tool_calls);
    expect(streamed.map((c) => c.function)).toEqual([{ name: 'get_weather', arguments: { asked: 'weather?', by: 'lm' } }]);
  });

  it('fails over from a dead Ollama node before the first line, the same node as the OpenAI front picks; a cut after the first line ends in an error', async () => {
    await simFault(sim.ready.control, 'ol', 'down');
    try {
      const res = await fetch(`${serve.url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'qwen3:8b', messages: [{ role: 'user', content: 'x y' }] }) });
      expect(res.headers.get('x-jarvis-node')).toBe('lm');
      expect(res.headers.get('x-jarvis-attempts')).toMatch(/^ol=refused,.*lm=ok$/);
      const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as { done: boolean; message: { content: string } });
      expect(lines.map((l) => l.message.content).join('')).toBe('[lm] x y');
      expect(lines.at(-1)!.done).toBe(true);
      const openai = await new OpenAI({ baseURL: `${serve.url}/v1`, apiKey: 'none' }).chat.completions.create({ model: 'qwen3:8b', messages: [{ role: 'user', content: 'x y' }] }).withResponse();
      expect(openai.response.headers.get('x-jarvis-node')).toBe('lm');
    } finally {
      await simFault(sim.ready.control, 'ol', 'up');
    }
    for (const [node, model] of [['lm', 'mistral-7b'], ['ol', 'qwen3:8b']] as const) await cutAfterFirstLine(node, model);
  });

  async function cutAfterFirstLine(node: string, model: string): Promise<void> {
    await simFault(sim.ready.control, node, 'cut');
    try {
      const seen: string[] = [];
      const reading = (async () => {
        for await (const part of await client.chat({ model, messages: [{ role: 'user', content: 'a long answer with many words in it' }], stream: true })) seen.push(part.message.content);
      })();
      // Translated (lm) or passed through (ol): never a clean `done`, an error line.
      await expect(reading, node).rejects.toThrow(/broke/);
      expect(seen.length, node).toBeGreaterThan(0);
    } finally {
      await simFault(sim.ready.control, node, 'up');
    }
  }

  it('errors in Ollama\'s shape: 404 for an unknown model, 400 for a bad body, 501 for model management', async () => {
    await expect(client.chat({ model: 'nope:1b', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status_code: 404, error: 'model "nope:1b" not found, try pulling it first' });
    const bad = await fetch(`${serve.url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'qwen3:8b', messages: 'hi' }) });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: 'messages: expected an array' });
    await expect(client.pull({ model: 'qwen3:8b' })).rejects.toMatchObject({ status_code: 501 });
  });
});

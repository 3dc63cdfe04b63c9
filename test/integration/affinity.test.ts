/**
 * KV-cache affinity through `jarvis serve`, with the official clients: a conversation's turns
 * stay on the node that holds its prefix (the sim's slots say how many prompt tokens they had
 * cached), alternate with affinity off, move on when the pinned node dies, and are shared by two
 * serves on one Redis.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, jarvis, simFault, startServe, startSim, tempDir, type RunningServe, type RunningSim } from '../helpers/cli.js';
import { hasRedis, TestRedis } from '../helpers/redis.js';

let tmp: ReturnType<typeof tempDir>;
let sim: RunningSim;

beforeAll(async () => {
  tmp = tempDir('jarvis-affinity-');
  const spec = path.join(tmp.dir, 'spec.json');
  // Two llama.cpp-style servers of one model, each with its prompt cache (4 slots; 1 ms per 1,000 tokens not cached).
  writeFileSync(spec, JSON.stringify({ nodes: [{ id: 'a', kind: 'openai', models: ['m'], prefillMsPer1k: 1 }, { id: 'b', kind: 'openai', models: ['m'], prefillMsPer1k: 1 }] }));
  sim = await startSim(['cluster', '--spec', spec]);
});

afterAll(async () => {
  await sim?.stop();
  tmp?.cleanup();
});

/** A config of the two nodes in one round-robin group (affinity as `affinity` says), written to `name`. */
function config(name: string, affinity?: string, extra = ''): string {
  const file = path.join(tmp.dir, name);
  writeFileSync(file, `nodes:\n${sim.ready.nodes.map((n) => `  - { id: ${n.id}, kind: openai, url: "${n.url}", model: m, timeoutMs: 5000 }`).join('\n')}\nrouting:\n  strategy: round-robin\n${affinity ? `  affinity: ${affinity}\n` : ''}${extra}`);
  return file;
}

/** A big opening (an agent's instructions): what a cold node processes again. */
const SYSTEM = `You are a coding agent. ${'Follow the project conventions and explain each change. '.repeat(60)}`;

interface Turn {
  node: string | null;
  affinity: string | null;
  /** Prompt tokens the node found in its cache (the sim's usage), for a whole answer. */
  cached?: number;
}

/** Six turns through the OpenAI front with the openai client; odd turns stream. */
async function openaiConversation(url: string, turns = 6, tag = 'o'): Promise<Turn[]> {
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'system', content: SYSTEM }];
  const out: Turn[] = [];
  for (let i = 1; i <= turns; i++) {
    messages.push({ role: 'user', content: `${tag} question ${i}: ${'context '.repeat(40)}` });
    if (i % 2 === 1) {
      const { data, response } = await client.chat.completions.create({ model: 'm', messages, stream: true }).withResponse();
      let text = '';
      for await (const chunk of data) text += chunk.choices[0]?.delta?.content ?? '';
      messages.push({ role: 'assistant', content: text });
      out.push({ node: response.headers.get('x-jarvis-node'), affinity: response.headers.get('x-jarvis-affinity') });
    } else {
      const { data, response } = await client.chat.completions.create({ model: 'm', messages }).withResponse();
      messages.push({ role: 'assistant', content: data.choices[0]!.message.content });
      out.push({ node: response.headers.get('x-jarvis-node'), affinity: response.headers.get('x-jarvis-affinity'), cached: data.usage?.prompt_tokens_details?.cached_tokens ?? 0 });
    }
  }
  return out;
}

describe('KV-cache affinity', () => {
  let serve: RunningServe | undefined;
  afterAll(async () => void (await serve?.stop()));

  it('OpenAI front: every turn after the first is a hit on one node, whose cache holds the conversation; the pins show in /api/status, status --json and /metrics', async () => {
    const cfg = config('on.yaml');
    const data = path.join(tmp.dir, 'data-on');
    serve = await startServe({ config: cfg, dataDir: data, env: cleanEnv(tmp.dir), args: ['--health-interval', '600000'] });
    const turns = await openaiConversation(serve.url);
    expect(turns.map((t) => t.affinity)).toEqual(['miss', 'hit', 'hit', 'hit', 'hit', 'hit']);
    expect(new Set(turns.map((t) => t.node)).size).toBe(1);
    // The node had the whole conversation but the newest turn cached (the big opening included).
    for (const t of turns.filter((t) => t.cached !== undefined)) expect(t.cached).toBeGreaterThan(SYSTEM.length / 4);
    const status = (await (await fetch(`${serve.url}/api/status`)).json()) as { affinity: { entries: number; outcomes: Record<string, number> }; nodes: Record<string, { pins: number }> };
    const pinned = turns[0]!.node!;
    expect(status.nodes[pinned]!.pins).toBe(1); // one conversation, however many turns
    expect(status.affinity.outcomes).toMatchObject({ hit: 5, miss: 1, repin: 0 });
    const metrics = await (await fetch(`${serve.url}/metrics`)).text();
    expect(metrics).toMatch(/^jarvis_affinity_total\{outcome="hit"\} 5$/m);
    expect(metrics).toMatch(new RegExp(`^jarvis_affinity_pins\\{node="${pinned}"\\} 1$`, 'm'));
    const st = await jarvis(['status', '--json', '--config', cfg, '--data-dir', data], { env: cleanEnv(tmp.dir) });
    const json = JSON.parse(st.stdout) as { nodes: { id: string; pins?: number }[]; serve?: { pins: number } };
    expect(json.nodes.find((n) => n.id === pinned)?.pins).toBe(1);
    expect(json.serve?.pins).toBe(1);

    // A second conversation with the same opening: balanced as new, then pinned where it went.
    const other = await openaiConversation(serve.url, 3, 'p');
    expect(other.map((t) => t.affinity)).toEqual(['miss', 'hit', 'hit']);
    expect(new Set(other.map((t) => t.node)).size).toBe(1);
    await serve.stop();
    serve = undefined;
  });

  it('Anthropic front (the Anthropic SDK): the same, and x-jarvis-session pins a conversation by name', async () => {
    serve = await startServe({ config: config('anthropic.yaml'), dataDir: path.join(tmp.dir, 'data-anthropic'), env: cleanEnv(tmp.dir), args: ['--health-interval', '600000'] });
    const client = new Anthropic({ baseURL: serve.url, apiKey: 'sk-ant-unused', maxRetries: 0 });
    const messages: Anthropic.MessageParam[] = [];
    const seen: Turn[] = [];
    for (let i = 1; i <= 6; i++) {
      // As Claude Code does: the cache breakpoint on the newest user turn only (it moves each turn).
      for (const m of messages) if (m.role === 'user' && Array.isArray(m.content)) for (const b of m.content) delete (b as { cache_control?: unknown }).cache_control;
      messages.push({ role: 'user', content: [{ type: 'text', text: `turn ${i}`, cache_control: { type: 'ephemeral' } }] });
      const { data, response } = await client.messages.create({ model: 'm', max_tokens: 200, system: SYSTEM, messages }).withResponse();
      messages.push({ role: 'assistant', content: data.content.filter((b) => b.type === 'text') });
      seen.push({ node: response.headers.get('x-jarvis-node'), affinity: response.headers.get('x-jarvis-affinity') });
    }
    expect(seen.map((t) => t.affinity)).toEqual(['miss', 'hit', 'hit', 'hit', 'hit', 'hit']);
    expect(new Set(seen.map((t) => t.node)).size).toBe(1);
    // Named: the same session key finds its node whatever the messages.
    const named = async (text: string) => {
      const { response } = await client.messages.create({ model: 'm', max_tokens: 50, messages: [{ role: 'user', content: text }] }, { headers: { 'x-jarvis-session': 'build-42' } }).withResponse();
      return { node: response.headers.get('x-jarvis-node'), affinity: response.headers.get('x-jarvis-affinity') };
    };
    const first = await named('one');
    const again = await named('two');
    expect([first.affinity, again.affinity]).toEqual(['miss', 'hit']);
    expect(again.node).toBe(first.node);
    await serve.stop();
    serve = undefined;
  });

  it("Ollama front (/api/chat, NDJSON streamed by default): the same", async () => {
    serve = await startServe({ config: config('ollama.yaml'), dataDir: path.join(tmp.dir, 'data-ollama'), env: cleanEnv(tmp.dir), args: ['--health-interval', '600000'] });
    const messages: { role: string; content: string }[] = [{ role: 'system', content: SYSTEM }];
    const seen: Turn[] = [];
    for (let i = 1; i <= 4; i++) {
      messages.push({ role: 'user', content: `ollama turn ${i}` });
      const res = await fetch(`${serve.url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'm', messages }) });
      const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as { message?: { content?: string }; done?: boolean });
      expect(lines.at(-1)?.done).toBe(true);
      messages.push({ role: 'assistant', content: lines.map((l) => l.message?.content ?? '').join('') });
      seen.push({ node: res.headers.get('x-jarvis-node'), affinity: res.headers.get('x-jarvis-affinity') });
    }
    expect(seen.map((t) => t.affinity)).toEqual(['miss', 'hit', 'hit', 'hit']);
    expect(new Set(seen.map((t) => t.node)).size).toBe(1);
    await serve.stop();
    serve = undefined;
  });

  it('off (routing.affinity: false): round-robin alternates the turns and says off', async () => {
    serve = await startServe({ config: config('off.yaml', 'false'), dataDir: path.join(tmp.dir, 'data-off'), env: cleanEnv(tmp.dir), args: ['--health-interval', '600000'] });
    const turns = await openaiConversation(serve.url, 4, 'q');
    expect(turns.map((t) => t.affinity)).toEqual(['off', 'off', 'off', 'off']);
    expect(turns.map((t) => t.node)).toEqual(turns[0]!.node === 'a' ? ['a', 'b', 'a', 'b'] : ['b', 'a', 'b', 'a']);
    await serve.stop();
    serve = undefined;
  });

  it('the pinned node killed mid-conversation: repin to the other, and the conversation goes on there', async () => {
    serve = await startServe({ config: config('kill.yaml'), dataDir: path.join(tmp.dir, 'data-kill'), env: cleanEnv(tmp.dir), args: ['--health-interval', '600000'] });
    const client = new OpenAI({ baseURL: `${serve.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'system', content: SYSTEM }];
    const turn = async (i: number) => {
      messages.push({ role: 'user', content: `k question ${i}` });
      const { data, response } = await client.chat.completions.create({ model: 'm', messages }).withResponse();
      messages.push({ role: 'assistant', content: data.choices[0]!.message.content });
      return { node: response.headers.get('x-jarvis-node')!, affinity: response.headers.get('x-jarvis-affinity') };
    };
    const t1 = await turn(1);
    expect((await turn(2)).affinity).toBe('hit');
    await simFault(sim.ready.control, t1.node, 'down');
    try {
      const t3 = await turn(3);
      expect(t3).toEqual({ node: t1.node === 'a' ? 'b' : 'a', affinity: 'repin' });
      const t4 = await turn(4);
      expect(t4).toEqual({ node: t3.node, affinity: 'hit' });
    } finally {
      await simFault(sim.ready.control, t1.node, 'up');
    }
    await serve.stop();
    serve = undefined;
  });
});

describe.skipIf(!hasRedis)('KV-cache affinity shared in Redis', () => {
  let redis: TestRedis;
  const serves: RunningServe[] = [];
  beforeAll(async () => {
    redis = new TestRedis(tmp.dir);
    await redis.start();
  });
  afterAll(async () => {
    for (const s of serves) await s.stop();
    await redis?.stop();
  });

  it('two serves on one Redis agree on the pins: a turn through either finds the node the other sent the last one to', async () => {
    const cfg = config('redis.yaml', undefined, `state: { backend: redis, url: "${redis.url}", keyPrefix: "aff:" }\n`);
    for (const name of ['x', 'y']) serves.push(await startServe({ config: cfg, dataDir: path.join(tmp.dir, `data-${name}`), env: cleanEnv(tmp.dir), args: ['--health-interval', '600000'] }));
    const [x, y] = serves as [RunningServe, RunningServe];
    const client = (s: RunningServe) => new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'system', content: SYSTEM }];
    const seen: Turn[] = [];
    // Turns alternate between the two proxies, as a load balancer in front of them would send them.
    for (let i = 1; i <= 6; i++) {
      messages.push({ role: 'user', content: `r question ${i}` });
      const { data, response } = await client(i % 2 ? x : y).chat.completions.create({ model: 'm', messages }).withResponse();
      messages.push({ role: 'assistant', content: data.choices[0]!.message.content });
      seen.push({ node: response.headers.get('x-jarvis-node'), affinity: response.headers.get('x-jarvis-affinity') });
    }
    expect(seen.map((t) => t.affinity)).toEqual(['miss', 'hit', 'hit', 'hit', 'hit', 'hit']);
    expect(new Set(seen.map((t) => t.node)).size).toBe(1);
    // Redis away: the serve that answered the last turn still has its own pin.
    await redis.stop();
    messages.push({ role: 'user', content: 'r question 7' });
    const { response } = await client(y).chat.completions.create({ model: 'm', messages }).withResponse();
    expect([response.headers.get('x-jarvis-node'), response.headers.get('x-jarvis-affinity')]).toEqual([seen[0]!.node, 'hit']);
  });
});

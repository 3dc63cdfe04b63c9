/**
 * `jarvis serve`'s Anthropic front as a real process, used through the official
 * `@anthropic-ai/sdk` client, with OpenAI-style sim nodes behind it (translation): plain and
 * streamed messages, a tool round trip both ways, failover, a stream cut after its first event,
 * count_tokens, and the error shapes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cleanEnv, jarvis, startServe, startSim, tempDir, type RunningServe, type RunningSim } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

let tmp: ReturnType<typeof tempDir>;
let sim: RunningSim;
let env: NodeJS.ProcessEnv;
let serve: RunningServe & { config: string; dataDir: string };
let client: Anthropic;

const fault = (id: string, f: string) => jarvis(['sim', 'fault', sim.ready.control, id, f], { env });
const TOOLS = [{ name: 'get_weather', description: 'The weather in a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } }];

/**
 * A sim cluster of `nodes` and a `jarvis serve` in front of it (no background probe after the
 * first, unless `healthIntervalMs` says how often); `yaml` is added to the config.
 */
async function clusterBehindServe(name: string, nodes: object[], { yaml = '', healthIntervalMs = 3_600_000 } = {}): Promise<{ sim: RunningSim; serve: RunningServe & { config: string; dataDir: string } }> {
  const spec = path.join(tmp.dir, `${name}.spec.json`);
  writeFileSync(spec, JSON.stringify({ nodes }));
  const out = path.join(tmp.dir, `${name}.sim.yaml`);
  const sim = await startSim(['cluster', '--spec', spec, '--config-out', out]);
  const config = path.join(tmp.dir, `${name}.config.yaml`);
  writeFileSync(config, `${readFileSync(out, 'utf8')}cascade: { initialBackoffMs: 50, requestTimeoutMs: 5000 }\n${yaml}`);
  const dataDir = path.join(tmp.dir, `${name}-data`);
  return { sim, serve: Object.assign(await startServe({ config, dataDir, env, args: ['--health-interval', String(healthIntervalMs)] }), { config, dataDir }) };
}

beforeAll(async () => {
  tmp = tempDir();
  env = cleanEnv(tmp.dir);
  ({ sim, serve } = await clusterBehindServe('main', [{ id: 'a', kind: 'openai', models: ['qwen-coder'], priority: 1 }, { id: 'b', kind: 'ollama', models: ['qwen3:8b'], priority: 2 }]));
  // The one background probe lands with both nodes up (see serve.test.ts).
  await waitFor(
    async () => Object.values(((await (await fetch(`${serve.url}/api/status`)).json()) as { nodes: Record<string, { probe: string | null }> }).nodes).every((n) => n.probe === 'ok'),
    { what: 'the first background probe', intervalMs: 50 },
  );
  client = new Anthropic({ baseURL: serve.url, apiKey: 'sk-ant-unused', maxRetries: 0 });
});

afterAll(async () => {
  await serve?.stop();
  await sim?.stop();
  tmp?.cleanup();
});

beforeEach(async () => {
  for (const id of ['a', 'b']) await fault(id, 'up');
});

describe('the Anthropic front, translating to OpenAI-style nodes', () => {
  it("a Claude model name no node serves goes to the cascade; the answer is a Message; who answered is in the headers", async () => {
    const { data, response } = await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 200, system: [{ type: 'text', text: 'You are terse.', cache_control: { type: 'ephemeral' } }], messages: [{ role: 'user', content: 'hello there' }] }).withResponse();
    expect(data).toMatchObject({ type: 'message', role: 'assistant', stop_reason: 'end_turn', content: [{ type: 'text', text: '[a] hello there' }] });
    expect(data.id).toMatch(/^msg_/);
    expect(data.usage.output_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-jarvis-node')).toBe('a');
    expect(response.headers.get('x-jarvis-attempts')).toBe('a=ok');
  });

  it('streamed: the Messages event sequence, one block, text deltas, message_stop', async () => {
    const stream = client.messages.stream({ model: 'claude-opus-4-8', max_tokens: 200, messages: [{ role: 'user', content: [{ type: 'text', text: 'one two three' }] }] });
    const types: string[] = [];
    stream.on('streamEvent', (e) => types.push(e.type));
    const final = await stream.finalMessage();
    expect(final.content).toMatchObject([{ type: 'text', text: '[a] one two three' }]);
    expect(final.stop_reason).toBe('end_turn');
    expect(types[0]).toBe('message_start');
    expect(types.at(-1)).toBe('message_stop');
    expect(types.filter((t) => t === 'content_block_start')).toHaveLength(1);
    expect(types).toContain('content_block_delta');
  });

  for (const streamed of [false, true]) {
    it(`a tool round trip${streamed ? ', streamed' : ''}: the model asks, the client answers, the model says what the tool said`, async () => {
      const ask = async (messages: Anthropic.MessageParam[]) =>
        streamed ? client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 200, tools: TOOLS, messages }).finalMessage() : client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 200, tools: TOOLS, messages });
      const first = await ask([{ role: 'user', content: 'weather in Paris?' }]);
      expect(first.stop_reason).toBe('tool_use');
      const use = first.content.find((b) => b.type === 'tool_use');
      expect(use).toMatchObject({ type: 'tool_use', name: 'get_weather', input: { asked: 'weather in Paris?', by: 'a' } });
      const second = await ask([
        { role: 'user', content: 'weather in Paris?' },
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: (use as Anthropic.ToolUseBlock).id, content: 'sunny, 21 C' }] },
      ]);
      expect(second.stop_reason).toBe('end_turn');
      expect(second.content[0]).toMatchObject({ type: 'text', text: '[a] the tool said: sunny, 21 C' });
    });
  }

  it('fails over when the first node is down, streamed or not; Claude Code\'s ?beta=true path is the same route', async () => {
    await fault('a', 'down');
    const { data, response } = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    expect(data.content[0]).toMatchObject({ text: '[b] hi' });
    expect(response.headers.get('x-jarvis-attempts')).toMatch(/^a=refused,.*b=ok$/);
    const streamed = await client.messages.stream({ model: 'claude-haiku-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'again' }] }).finalMessage();
    expect(streamed.content[0]).toMatchObject({ text: '[b] again' });
    const beta = await fetch(`${serve.url}/v1/messages?beta=true`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: JSON.stringify({ model: 'claude-opus-4-8', max_tokens: 20, messages: [{ role: 'user', content: 'beta' }] }) });
    expect(beta.status).toBe(200);
    expect(((await beta.json()) as { content: { text: string }[] }).content[0]!.text).toBe('[b] beta');
  });

  it('a stream cut after its first event ends with an error event, not a clean end', async () => {
    // The failover test above opened a's breaker: close it (a running serve follows within a second).
    expect((await jarvis(['reset', 'a', '--config', serve.config, '--data-dir', serve.dataDir], { env })).code).toBe(0);
    await waitFor(async () => ((await (await fetch(`${serve.url}/api/status`)).json()) as { nodes: Record<string, { state: string }> }).nodes.a!.state === 'healthy', { what: "a's breaker closed" });
    await fault('a', 'cut');
    const stream = client.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'one two three' }] });
    await expect(stream.finalMessage()).rejects.toThrow(/overloaded_error|stream broke/);
  });

  it('count_tokens: an estimate from the request, never a completion', async () => {
    const r = await client.messages.countTokens({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'x'.repeat(400) }], tools: TOOLS });
    expect(r.input_tokens).toBeGreaterThan(100);
  });

  it("errors in Anthropic's shape: 400 bad JSON and missing max_tokens, 404 unknown model, 529 when every node failed", async () => {
    const post = (body: string) => fetch(`${serve.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const bad = await post('{"model":');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    const noMax = await post(JSON.stringify({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'hi' }] }));
    expect(noMax.status).toBe(400);
    expect(await noMax.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('max_tokens') } });
    await expect(client.messages.create({ model: 'gpt-99', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({ status: 404, error: { type: 'error', error: { type: 'not_found_error' } } });
    await fault('a', 'down');
    await fault('b', 'down');
    const err = (await client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e)) as { status: number; error: { error: { type: string; message: string } } };
    expect(err.status).toBe(529);
    expect(err.error.error.type).toBe('overloaded_error');
    expect(err.error.error.message).toMatch(/a=(refused|circuit_open),b=(refused|circuit_open)/);
  });
});

describe('an `anthropic` node first, the cluster behind it (Claude Code\'s failover)', () => {
  let sim2: RunningSim;
  let serve2: RunningServe & { config: string; dataDir: string };
  let claude: Anthropic;
  const fault2 = (id: string, f: string) => jarvis(['sim', 'fault', sim2.ready.control, id, f], { env });

  beforeAll(async () => {
    ({ sim: sim2, serve: serve2 } = await clusterBehindServe('claude', [{ id: 'claude', kind: 'anthropic', models: ['claude-sonnet-4-5'], priority: 1, apiKey: 'sk-ant-good' }, { id: 'local', kind: 'openai', models: ['qwen-coder'], priority: 2 }]));
    claude = new Anthropic({ baseURL: serve2.url, apiKey: 'sk-ant-good', maxRetries: 0 });
  });

  afterAll(async () => {
    await serve2?.stop();
    await sim2?.stop();
  });

  beforeEach(async () => {
    for (const id of ['claude', 'local']) await fault2(id, 'up');
    expect((await jarvis(['reset', '--all', '--config', serve2.config, '--data-dir', serve2.dataDir], { env })).code).toBe(0);
    await waitFor(async () => Object.values(((await (await fetch(`${serve2.url}/api/status`)).json()) as { nodes: Record<string, { state: string }> }).nodes).every((n) => n.state === 'healthy'), { what: 'breakers closed' });
  });

  it("status: the Anthropic node answers 401 to a probe without a key: up, the client's key is used", async () => {
    const r = await jarvis(['status', '--json', '--config', serve2.config], { env });
    const nodes = (JSON.parse(r.stdout) as { nodes: { id: string; status: string; detail?: string }[] }).nodes;
    expect(nodes.find((n) => n.id === 'claude')).toMatchObject({ status: 'ok', detail: expect.stringContaining("client's own key") });
  });

  it("passes through to it, whole and streamed, with the client's key; the node's own message comes back", async () => {
    const { data, response } = await claude.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'hello' }] }).withResponse();
    expect(data.id).toMatch(/^msg_claude_/);
    expect(data.content[0]).toMatchObject({ type: 'text', text: '[claude] hello' });
    expect(response.headers.get('x-jarvis-node')).toBe('claude');
    const streamed = await claude.messages.stream({ model: 'claude-opus-4-8', max_tokens: 50, messages: [{ role: 'user', content: 'one two' }] }).finalMessage();
    expect(streamed.id).toMatch(/^msg_claude_/);
    expect(streamed.content[0]).toMatchObject({ text: '[claude] one two' });
  });

  for (const [what, f] of [['overloaded (529)', '529'], ['rate limited (429)', '429:30'], ['down', 'down']] as const) {
    it(`Anthropic ${what}: the next node answers, translated, streamed or not`, async () => {
      await fault2('claude', f);
      const { data, response } = await claude.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
      expect(data.content[0]).toMatchObject({ text: '[local] hi' });
      expect(response.headers.get('x-jarvis-attempts')).toMatch(/claude=(server_error|throttled|refused).*local=ok$/);
      const streamed = await claude.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'again' }] }).finalMessage();
      expect(streamed.content[0]).toMatchObject({ text: '[local] again' });
    });
  }

  it("a request Anthropic rejects (400, 413) goes back to the client as Anthropic wrote it: no other node is asked, the breaker is not charged", async () => {
    for (const status of [400, 413]) {
      await fault2('claude', String(status));
      const r = await fetch(`${serve2.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'sk-ant-good', 'anthropic-version': '2023-06-01' }, body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 20, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
      expect(r.status).toBe(status);
      expect(await r.json()).toMatchObject({ type: 'error', error: { type: status === 400 ? 'invalid_request_error' : 'request_too_large' } });
      expect(r.headers.get('x-jarvis-attempts')).toBe('claude=rejected');
      expect(r.headers.get('x-jarvis-node')).toBe('claude');
    }
    const status = (await (await fetch(`${serve2.url}/api/status`)).json()) as { nodes: Record<string, { state: string }> };
    expect(status.nodes.claude!.state).toBe('healthy');
  });

  it('a wrong key: fails over, reported as a credentials problem, the breaker stays closed', async () => {
    const wrong = new Anthropic({ baseURL: serve2.url, apiKey: 'sk-ant-bad', maxRetries: 0 });
    for (let i = 0; i < 4; i++) {
      const { data, response } = await wrong.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
      expect(data.content[0]).toMatchObject({ text: '[local] hi' });
      expect(response.headers.get('x-jarvis-attempts')).toMatch(/^claude=auth,local=ok$/);
    }
    const status = (await (await fetch(`${serve2.url}/api/status`)).json()) as { nodes: Record<string, { state: string; last_error: string | null }> };
    expect(status.nodes.claude!.state).not.toBe('open');
    expect(status.nodes.claude!.last_error).toMatch(/auth/);
  });

  it('a stream cut after its first event ends with an error event', async () => {
    await fault2('claude', 'cut');
    await expect(claude.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'one two three' }] }).finalMessage()).rejects.toThrow(/overloaded_error|stream broke/);
  });

  it("the drill: JARVIS_FORCE_NODE sends Claude Code's requests to the local node", async () => {
    const drill = await startServe({ config: serve2.config, dataDir: path.join(tmp.dir, 'drill'), env: { ...env, JARVIS_FORCE_NODE: 'local' }, args: ['--health-interval', '3600000'] });
    try {
      const c = new Anthropic({ baseURL: drill.url, apiKey: 'sk-ant-good', maxRetries: 0 });
      const { data, response } = await c.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'drill' }] }).withResponse();
      expect(data.content[0]).toMatchObject({ text: '[local] drill' });
      expect(response.headers.get('x-jarvis-attempts')).toBe('local=ok');
    } finally {
      await drill.stop();
    }
  });

  it("count_tokens: Anthropic's own count while it answers, else the estimate; never a completion", async () => {
    const counted = await claude.messages.countTokens({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'hello' }] }).withResponse();
    expect(counted.data.input_tokens).toBeGreaterThan(0);
    expect(counted.response.headers.get('x-jarvis-node')).toBe('claude');
    await fault2('claude', 'down');
    const estimated = await claude.messages.countTokens({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'hello' }] }).withResponse();
    expect(estimated.data.input_tokens).toBeGreaterThan(0);
    expect(estimated.response.headers.get('x-jarvis-node')).toBe('estimate');
  });
});

describe("Claude Code's outage: Anthropic overloaded, a local llama.cpp server answers, Anthropic back by itself", () => {
  let sim3: RunningSim;
  let serve3: RunningServe & { config: string; dataDir: string };
  const fault3 = (id: string, f: string) => jarvis(['sim', 'fault', sim3.ready.control, id, f], { env });
  const post = (pathName: string, body: object) =>
    fetch(`${serve3.url}${pathName}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'sk-ant-good', 'anthropic-version': '2023-06-01' }, body: JSON.stringify(body) });

  beforeAll(async () => {
    // `llama` is a llama.cpp server marked `anthropic: true` (it speaks /v1/messages itself), its
    // tokens 150 ms apart; the background health check runs every 200 ms; pings after 40 ms of silence.
    ({ sim: sim3, serve: serve3 } = await clusterBehindServe(
      'outage',
      [
        { id: 'claude', kind: 'anthropic', models: ['claude-sonnet-4-5'], priority: 1, apiKey: 'sk-ant-good' },
        { id: 'llama', kind: 'openai', models: ['qwen-coder'], priority: 2, messagesApi: true, tokenDelayMs: 150 },
      ],
      { yaml: 'serve: { streamPingMs: 40 }\n', healthIntervalMs: 200 },
    ));
  });

  afterAll(async () => {
    await serve3?.stop();
    await sim3?.stop();
  });

  it('fails over to llama (passed through, pings while it is slow), counts tokens there, and goes back to Anthropic once it is up', async () => {
    const ask = async () => {
      const r = await post('/v1/messages', { model: 'claude-sonnet-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });
      expect(r.status).toBe(200);
      return { node: r.headers.get('x-jarvis-node'), attempts: r.headers.get('x-jarvis-attempts'), body: (await r.json()) as { id: string; content: { text: string }[] } };
    };
    expect((await ask()).node).toBe('claude');

    await fault3('claude', '529');
    const over = await ask();
    expect(over).toMatchObject({ node: 'llama', attempts: expect.stringMatching(/^claude=server_error,.*llama=ok$/) });
    // llama's own Messages reply (the sim's ids name the node): passed through, not translated.
    expect(over.body.id).toMatch(/^msg_llama_/);
    // Failures open Anthropic's breaker: then it is skipped at once.
    await waitFor(async () => (await ask()).attempts === 'claude=circuit_open,llama=ok', { what: "Anthropic's breaker open" });

    // A stream from the slow node: jarvis's pings fill the silences, between whole events.
    const streamed = await post('/v1/messages', { model: 'claude-sonnet-4-5', max_tokens: 20, stream: true, messages: [{ role: 'user', content: 'one two three' }] });
    const text = await streamed.text();
    expect(streamed.headers.get('x-jarvis-node')).toBe('llama');
    expect(text.match(/^event: ping$/gm)!.length).toBeGreaterThan(2);
    expect(text).toMatch(/event: message_stop\ndata: .*\n\n$/);
    for (const block of text.split('\n\n').filter(Boolean)) expect(block).toMatch(/^event: \w+\ndata: \{.*\}$/);

    // Counted by the node that would answer: llama, with the model it serves.
    const counted = await post('/v1/messages/count_tokens', { model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'hello' }] });
    expect(counted.headers.get('x-jarvis-node')).toBe('llama');
    expect(((await counted.json()) as { input_tokens: number }).input_tokens).toBeGreaterThan(0);

    // Anthropic is back: the health check half-opens its breaker (long before its 120 s recovery
    // time) and the next requests go to it again, without a restart or a reset.
    await fault3('claude', 'up');
    await waitFor(async () => (await ask()).node === 'claude', { what: 'requests back on Anthropic', timeoutMs: 30_000 });
    // Closed again (its success rate over the outage may still say `degraded`).
    const status = (await (await fetch(`${serve3.url}/api/status`)).json()) as { nodes: Record<string, { state: string; consecutive_failures: number }> };
    expect(status.nodes.claude).toMatchObject({ state: expect.stringMatching(/^(healthy|degraded)$/), consecutive_failures: 0 });
  });
});

/**
 * Client errors are the client's: a request whose messages no node could take is answered 400 in
 * the API's shape before any node sees it, on both fronts; a node's 400, 413 or 422 goes back to
 * the client as the node wrote it, with no failover and nothing charged to the node.
 */
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cleanEnv, jarvis, startCluster, startServe, tempDir, type RunningServe, type RunningSim } from '../helpers/cli.js';

let tmp: ReturnType<typeof tempDir>;
let sim: RunningSim;
let serve: RunningServe;
let env: NodeJS.ProcessEnv;
const model = 'qwen3:8b';

interface NodeStatus {
  state: string;
  consecutive_failures: number;
  total_requests: number;
  last_error: string | null;
}

const status = async () => ((await (await fetch(`${serve.url}/api/status`)).json()) as { nodes: Record<string, NodeStatus> }).nodes;
const post = (route: string, body: unknown, headers: Record<string, string> = {}) => fetch(`${serve.url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

beforeAll(async () => {
  tmp = tempDir();
  env = cleanEnv(tmp.dir);
  const cluster = await startCluster(tmp.dir, [{ id: 'first', kind: 'ollama', models: [model] }, { id: 'second', kind: 'ollama', models: [model] }], { timeoutMs: 5000, extra: 'routing: { strategy: priority }\n' });
  sim = cluster.sim;
  serve = await startServe({ config: cluster.cfg, dataDir: path.join(tmp.dir, 'data'), env, args: ['--health-interval', '3600000'] });
});

afterAll(async () => {
  await serve?.stop();
  await sim?.stop();
  tmp?.cleanup();
});

beforeEach(async () => {
  await jarvis(['sim', 'fault', sim.ready.control, 'first', 'up'], { env });
});

describe('messages no node could take: 400 at once, in the API shape', () => {
  it.each([
    [[1, 2], 'messages[0]', 'invalid_type'],
    [[{ role: 'robot', content: 'hi' }], 'messages[0].role', 'invalid_value'],
    [[{ content: 'hi' }], 'messages[0].role', 'missing_required_parameter'],
    [[{ role: 'user', content: 'hi' }, { role: 'user', content: 5 }], 'messages[1].content', 'invalid_type'],
    [[{ role: 'user', content: [{ type: 'text', text: 1 }] }], 'messages[0].content[0].text', 'invalid_type'],
    [[{ role: 'user' }], 'messages[0].content', 'missing_required_parameter'],
  ])('OpenAI front: %j', async (messages, param, code) => {
    const client = new OpenAI({ baseURL: `${serve.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const error = await client.chat.completions.create({ model, messages: messages as never }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({ type: 'invalid_request_error', param, code });
    expect((await status()).first!.total_requests).toBe(0);
  });

  it.each([
    [[{ role: 'user', content: 5 }], /messages\.0\.content: Input should be a valid string or a valid list/],
    [[{ role: 'user', content: [1] }], /messages\.0\.content\.0: Input should be an object/],
    [[{ role: 'user', content: [{ type: 'text' }] }], /messages\.0\.content\.0\.text: Field required/],
    [[{ role: 'user', content: [{ type: 'tool_result', content: 'x' }] }], /messages\.0\.content\.0\.tool_use_id: Field required/],
    [[1, 2], /messages\.0: expected \{role, content\}/],
  ])('Anthropic front: %j', async (messages, message) => {
    const client = new Anthropic({ baseURL: serve.url, apiKey: 'unused', maxRetries: 0 });
    const error = await client.messages.create({ model, max_tokens: 16, messages: messages as never }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect((error as InstanceType<typeof Anthropic.BadRequestError>).error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringMatching(message) as string } });
    expect((await status()).first!.total_requests).toBe(0);
  });
});

describe("a node's 400, 413 or 422: the client's answer, no failover, nothing charged", () => {
  it.each([400, 413, 422])('%i on both fronts, whole and streamed', async (code) => {
    await jarvis(['sim', 'fault', sim.ready.control, 'first', String(code)], { env });
    const chat = { model, messages: [{ role: 'user', content: 'hi' }] };
    for (const stream of [false, true]) {
      const r = await post('/v1/chat/completions', { ...chat, stream });
      expect(r.status).toBe(code);
      expect(r.headers.get('x-jarvis-attempts')).toBe('first=rejected');
      // As the node wrote it.
      const direct = await fetch(`${sim.ready.nodes[0]!.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...chat, stream }) });
      expect(await r.text()).toBe(await direct.text());
      const m = await post('/v1/messages', { ...chat, max_tokens: 16, stream });
      expect(m.status).toBe(code);
      expect(m.headers.get('x-jarvis-attempts')).toBe('first=rejected');
      // In the Messages API's shape, with the node's words.
      expect(await m.json()).toEqual({ type: 'error', error: { type: code === 413 ? 'request_too_large' : 'invalid_request_error', message: 'request rejected' } });
    }
    const client = new OpenAI({ baseURL: `${serve.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const error = await client.chat.completions.create(chat as never).catch((e: unknown) => e);
    expect((error as { status?: number }).status).toBe(code);
    const nodes = await status();
    expect(nodes.first).toMatchObject({ state: 'healthy', consecutive_failures: 0, last_error: null });
    expect(nodes.second!.total_requests).toBe(0);
  });

  it('a 400 that says no model is loaded is the node, not the request: it fails over', async () => {
    await jarvis(['sim', 'fault', sim.ready.control, 'first', 'model-missing'], { env });
    const r = await post('/v1/chat/completions', { model, messages: [{ role: 'user', content: 'hi' }] });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-jarvis-node')).toBe('second');
  });
});

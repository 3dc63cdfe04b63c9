/**
 * A model id that cannot go into an HTTP header (non-Latin-1, or CR/LF from the upstream) is
 * encoded in x-jarvis-model; the answer is a 200 on both fronts, whole and streamed, through the
 * official clients, and the body keeps the model as the node wrote it.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, startServe, startSim, tempDir, type RunningServe, type RunningSim } from '../helpers/cli.js';

let tmp: ReturnType<typeof tempDir>;
let sim: RunningSim;
let serve: RunningServe;
const MODELS = ['qwen-模型', 'evil\r\nx-injected: 1'];

beforeAll(async () => {
  tmp = tempDir();
  const spec = path.join(tmp.dir, 'spec.json');
  writeFileSync(spec, JSON.stringify({ nodes: [{ id: 'u', kind: 'openai', models: [MODELS[0]] }, { id: 'c', kind: 'openai', models: [MODELS[1]] }] }));
  sim = await startSim(['cluster', '--spec', spec]);
  const config = path.join(tmp.dir, 'jarvis.config.yaml');
  writeFileSync(config, `nodes:\n${sim.ready.nodes.map((n) => `  - { id: ${n.id}, kind: openai, url: "${n.url}", model: ${JSON.stringify(n.model)} }`).join('\n')}\n`);
  serve = await startServe({ config, dataDir: path.join(tmp.dir, 'data'), env: cleanEnv(tmp.dir), args: ['--health-interval', '3600000', '--access-log'] });
});

afterAll(async () => {
  await serve.stop();
  await sim.stop();
  tmp.cleanup();
});

describe('the access log', () => {
  it('a model name with CR/LF or ESC cannot forge or garble a line', async () => {
    await fetch(`${serve.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODELS[1], messages: [{ role: 'user', content: 'hi' }] }) });
    await fetch(`${serve.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x\n2026-12-06T00:00:00Z FORGED \u001b[2J', messages: [{ role: 'user', content: 'hi' }] }) });
    await serve.waitForLog(/model="evil\\r\\nx-injected: 1"/);
    const lines = serve.log().split('\n');
    expect(lines.some((l) => l.startsWith('x-injected') || /^\s*2026-12-06T00:00:00Z FORGED/.test(l))).toBe(false);
    expect(serve.log()).not.toMatch(/\u001b|\r/);
  });
});

describe('model ids that cannot be header values', () => {
  it.each(MODELS)('%j: OpenAI front, whole and streamed', async (model) => {
    const client = new OpenAI({ baseURL: `${serve.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const { data, response } = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    expect(response.status).toBe(200);
    expect(data.model).toBe(model);
    expect(response.headers.get('x-jarvis-model')).toBe(encodeURIComponent(model));
    expect(response.headers.get('x-injected')).toBeNull();
    const stream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text.length).toBeGreaterThan(0);
  });

  it.each(MODELS)('%j: Anthropic front, whole and streamed', async (model) => {
    const client = new Anthropic({ baseURL: serve.url, apiKey: 'unused', maxRetries: 0 });
    const { data, response } = await client.messages.create({ model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    expect(response.status).toBe(200);
    expect(data.content.length).toBeGreaterThan(0);
    expect(response.headers.get('x-jarvis-model')).toBe(encodeURIComponent(model));
    const stream = client.messages.stream({ model, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    expect((await stream.finalMessage()).content.length).toBeGreaterThan(0);
  });
});

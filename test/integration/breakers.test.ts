/**
 * Breakers that learn as things happen, through the built proxy and the official clients: a node
 * that breaks every stream after its first token loses the traffic once its breaker opens (both
 * fronts); a hung node costs each of 16 concurrent requests one attempt at most, since the
 * failure that opens its breaker moves every request still waiting on it along.
 */
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { cleanEnv, jarvis, probedOnce, startCluster, startServe, perTest } from '../helpers/cli.js';

const run = perTest();

interface StatusNode {
  state: string;
  consecutive_failures: number;
}

async function nodeState(id: string): Promise<StatusNode> {
  const status = (await (await fetch(`${run.serve!.url}/api/status`)).json()) as { nodes: Record<string, StatusNode> };
  return status.nodes[id]!;
}

describe('a node that breaks every stream', () => {
  it('is charged for each broken stream; after the threshold new streams, on both fronts, go to the healthy node', async () => {
    const model = 'qwen3:8b';
    const cluster = await startCluster(run.dir, [{ id: 'cutter', kind: 'ollama', models: [model], fault: 'cut' }, { id: 'good', kind: 'ollama', models: [model] }], {
      timeoutMs: 5000,
      extra: 'routing: { strategy: priority }\ncascade: { failureThreshold: 3 }\n',
    });
    run.sim = cluster.sim;
    // No probes meanwhile: a probe that answers would let a trial through the open breaker.
    run.serve = await startServe({ config: cluster.cfg, dataDir: path.join(run.dir, 'data'), env: cleanEnv(run.dir), args: ['--health-interval', '3600000'] });
    await probedOnce(run.serve.url);
    const openai = new OpenAI({ baseURL: `${run.serve.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const anthropic = new Anthropic({ baseURL: run.serve.url, apiKey: 'unused', maxRetries: 0 });
    const viaOpenAI = async () => {
      const { data: stream, response } = await openai.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: 'one two three four' }] }).withResponse();
      let text = '';
      try {
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
        return { node: response.headers.get('x-jarvis-node'), text, broke: false };
      } catch {
        return { node: response.headers.get('x-jarvis-node'), text, broke: true };
      }
    };
    const viaAnthropic = async () => {
      const stream = anthropic.messages.stream({ model, max_tokens: 64, messages: [{ role: 'user', content: 'one two three four' }] });
      try {
        const message = await stream.finalMessage();
        return { text: message.content.map((b) => (b.type === 'text' ? b.text : '')).join(''), broke: false };
      } catch {
        return { text: '', broke: true };
      }
    };
    // Two streams break on the OpenAI front, one on the Anthropic front: three in a row.
    expect(await viaOpenAI()).toMatchObject({ node: 'cutter', broke: true });
    expect(await nodeState('cutter')).toMatchObject({ state: 'degraded', consecutive_failures: 1 });
    expect(await viaAnthropic()).toMatchObject({ broke: true });
    expect(await viaOpenAI()).toMatchObject({ node: 'cutter', broke: true });
    expect(await nodeState('cutter')).toMatchObject({ state: 'circuit_open', consecutive_failures: 3 });
    // From now on the healthy node answers, whole, on both fronts.
    const next = await viaOpenAI();
    expect(next).toMatchObject({ node: 'good', broke: false });
    expect(next.text).toContain('[good]');
    expect(await viaAnthropic()).toMatchObject({ broke: false, text: expect.stringContaining('[good]') as string });
  });
});

describe('a hung node under 16 concurrent requests', () => {
  it('costs each request one attempt at most: the failure that opens its breaker moves the rest along, and no request retries it', async () => {
    const model = 'qwen3:8b';
    const nodes = ['hung', 'n2', 'n3', 'n4'].map((id) => ({ id, kind: 'ollama', models: [model] }));
    const cluster = await startCluster(run.dir, nodes, {
      timeoutMs: 5000,
      extra: 'routing: { strategy: priority }\ncascade: { requestTimeoutMs: 1500, initialBackoffMs: 100, maxBackoffMs: 200, failureThreshold: 3 }\n',
    });
    run.sim = cluster.sim;
    const env = cleanEnv(run.dir);
    run.serve = await startServe({ config: cluster.cfg, dataDir: path.join(run.dir, 'data'), env, args: ['--health-interval', '3600000'] });
    // Hung once the proxy's first probe saw it healthy (a failed probe would put it last already).
    await waitFor(async () => ((await (await fetch(`${run.serve!.url}/api/status`)).json()) as { nodes: Record<string, { probe: string | null }> }).nodes.hung!.probe === 'ok', { what: 'the first probe' });
    expect((await jarvis(['sim', 'fault', run.sim.ready.control, 'hung', 'hang'], { env })).code).toBe(0);
    const client = new OpenAI({ baseURL: `${run.serve.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60_000 });
    const traces: { wave: number; trace: string }[] = [];
    // 16 clients, 3 requests each, one after another: the first wave meets the hung node, the later ones its open breaker.
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = 0; i < 3; i++) {
          const { data, response } = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
          expect(data.choices[0]?.message.content).toMatch(/^\[n2\]/);
          traces.push({ wave: i, trace: response.headers.get('x-jarvis-attempts') ?? '' });
        }
      }),
    );
    expect(traces).toHaveLength(48);
    // No request timed out on the hung node twice.
    const timeouts = traces.map((t) => t.trace.split(',').filter((a) => a === 'hung=timeout').length);
    expect(Math.max(...timeouts)).toBeLessThanOrEqual(1);
    // Exactly the threshold's three are charged to it (giving up is not a failure of the node's)...
    expect(timeouts.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3);
    expect((await nodeState('hung')).state).toBe('circuit_open');
    // ...and every request of the later waves skipped it without waiting (each client's first
    // request ended only once the breaker had opened: by its own timeout, or by giving up).
    expect(traces.filter((t) => t.wave > 0).map((t) => t.trace)).toEqual(Array(32).fill('hung=circuit_open,n2=ok'));
  });
});

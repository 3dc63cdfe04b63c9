/**
 * Stale connections are not node faults: a node that closes the connection after each streamed
 * reply while its head said keep-alive (llama.cpp's server does) costs nothing. A request that
 * meets such a connection before any byte of its answer is sent again at once on another, not
 * counted as an attempt nor against the node.
 */
import path from 'node:path';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { cleanEnv, startCluster, startServe, perTest } from '../helpers/cli.js';

const run = perTest();

describe('a node that closes its connections after each stream', () => {
  it('answers every request, with no retry, failover or failure counted', async () => {
    const model = 'm.gguf';
    const cluster = await startCluster(run.dir, [{ id: 'closer', kind: 'openai', models: [model], closeAfterStream: true }, { id: 'other', kind: 'openai', models: [model] }], {
      timeoutMs: 5000,
      extra: 'routing: { strategy: priority }\n',
    });
    run.sim = cluster.sim;
    run.serve = await startServe({ config: cluster.cfg, dataDir: path.join(run.dir, 'data'), env: cleanEnv(run.dir), args: ['--health-interval', '3600000'] });
    const client = new OpenAI({ baseURL: `${run.serve.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const traces: string[] = [];
    // Eight clients, 25 streams each, one after another: each stream's connection is reused by the next request while the node closes it.
    await Promise.all(
      Array.from({ length: 8 }, async (_, c) => {
        for (let i = 0; i < 25; i++) {
          const { data: stream, response } = await client.chat.completions.create({ model, stream: true, messages: [{ role: 'user', content: `c${c} r${i} a b c` }] }).withResponse();
          let text = '';
          for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
          expect(text).toBe(`[closer] c${c} r${i} a b c`);
          traces.push(response.headers.get('x-jarvis-attempts') ?? '');
          // A whole answer between the streams: it may land on a connection the last stream left closing.
          const whole = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] }).withResponse();
          traces.push(whole.response.headers.get('x-jarvis-attempts') ?? '');
        }
      }),
    );
    expect(traces.filter((t) => t !== 'closer=ok')).toEqual([]);
    const status = (await (await fetch(`${run.serve.url}/api/status`)).json()) as { nodes: Record<string, { consecutive_failures: number; total_requests: number; last_error: string | null }> };
    expect(status.nodes.closer).toMatchObject({ consecutive_failures: 0, total_requests: 400, last_error: null });
    expect(status.nodes.other!.total_requests).toBe(0);
  });
});

/**
 * Where the request path's features meet, on the built CLI and `jarvis serve` with the official
 * `openai` client: several nodes failing before healthy ones, tool calls, model groups and their
 * balancing, embeddings by model, name resolution, credentials, client keys, bad requests, a
 * busy port, SIGHUP, the drain deadline, and `jarvis reset` against a running serve.
 */
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cleanEnv, jarvis, probedOnce, type RunningServe, type RunningSim, startServe, startSim, tempDir } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

let tmp: ReturnType<typeof tempDir>;
let sim: RunningSim;
let simYaml: string;
let env: NodeJS.ProcessEnv;
let n = 0;
const serves: RunningServe[] = [];

const NODE_KEY = 'sk-node-secret-4242';
const CLIENT_KEY = 'client-key-0123456789';

beforeAll(async () => {
  tmp = tempDir();
  env = cleanEnv(tmp.dir, { NODE_KEY });
  const spec = path.join(tmp.dir, 'spec.json');
  writeFileSync(
    spec,
    JSON.stringify({
      nodes: [
        { id: 'p1', kind: 'lmstudio', models: ['deepseek-coder-v2-lite-instruct'], configModel: 'deepseek', priority: 1 },
        { id: 'p2', kind: 'lmstudio', models: ['mistral-7b-instruct'], priority: 2 },
        { id: 'g1', kind: 'ollama', models: ['llama3:latest'], configModel: 'llama3', priority: 3 },
        { id: 'g2', kind: 'lmstudio', models: ['llama3'], priority: 4, tokenDelayMs: 40 },
        { id: 'h', kind: 'openai', models: ['h.gguf'], priority: 5 },
        { id: 'e', kind: 'ollama', models: ['qwen3:8b', 'nomic-embed-text:latest'], priority: 6 },
        { id: 'm1', kind: 'lmstudio', models: ['qwen3-30b-a3b'], configModel: 'qwen3-30b', priority: 7, embeddings: true },
        { id: 'k', kind: 'openai', models: ['private-model'], priority: 8, apiKey: NODE_KEY },
      ],
    }),
  );
  simYaml = path.join(tmp.dir, 'sim.yaml');
  sim = await startSim(['cluster', '--spec', spec, '--config-out', simYaml]);
});

afterAll(async () => {
  await Promise.all(serves.map((s) => s.stop()));
  await sim?.stop();
  tmp?.cleanup();
});

beforeEach(async () => {
  for (const id of ['p1', 'p2', 'g1', 'g2', 'h', 'e', 'm1', 'k']) await fault(id, 'up');
});

const fault = (id: string, f: string) => jarvis(['sim', 'fault', sim.ready.control, id, f], { env });

/** A config: the sim's nodes (k with its key from $NODE_KEY), the cascade settings, then `extra` YAML sections. */
function writeConfig(extra = '', cascade = '{ initialBackoffMs: 20, requestTimeoutMs: 5000 }'): string {
  const nodes = readFileSync(simYaml, 'utf8').replace(/^( {2}- id: k\n)/m, '$1    apiKeyEnv: NODE_KEY\n');
  const file = path.join(tmp.dir, `c${n++}.yaml`);
  writeFileSync(file, `${nodes}cascade: ${cascade}\n${extra}`);
  return file;
}
const freshData = () => path.join(tmp.dir, `data-${n++}`);

async function serve(extra = '', args: string[] = [], where: { config?: string; dataDir?: string; env?: NodeJS.ProcessEnv } = {}) {
  const s = await startServe({ config: where.config ?? writeConfig(extra), dataDir: where.dataDir ?? freshData(), env: where.env ?? env, args: ['--health-interval', '60000', ...args] });
  serves.push(s);
  return { ...s, client: new OpenAI({ baseURL: `${s.url}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 }) };
}

interface AskJson {
  node: string | null;
  model: string | null;
  content: string | null;
  toolCalls?: { name: string; arguments: string }[];
  error?: string;
  attempts: { node: string; outcome: string; class?: string }[];
}
const ask = async (args: string[], config = writeConfig(), dataDir = freshData()) => {
  const r = await jarvis(['ask', ...args, '--config', config, '--data-dir', dataDir], { env, timeoutMs: 60_000 });
  return { ...r, json: args.includes('--json') && r.stdout ? (JSON.parse(r.stdout) as AskJson) : undefined };
};

describe('the cascade with two failing nodes before healthy ones', () => {
  it('jarvis ask: both 500s are tried, then the first healthy node answers; the progress says only what happened', async () => {
    await fault('p1', '500');
    await fault('p2', '500');
    const r = await ask(['--json', 'hello']);
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ node: 'g1', content: '[g1] hello' });
    expect(r.json!.attempts.filter((a) => a.node === 'g1')).toHaveLength(1);
    expect(new Set(r.json!.attempts.filter((a) => a.outcome === 'failed').map((a) => a.node))).toEqual(new Set(['p1', 'p2']));
    const plain = await ask(['--stream', 'one two']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain('[g1] one two');
    const failovers = plain.stderr.split('\n').filter((l) => l.startsWith('failover'));
    expect(failovers).toEqual(['failover p1 -> p2 (server_error)', 'failover p2 -> g1 (server_error)']);
    expect(plain.stderr).not.toMatch(/gave up/);
  });

  it('jarvis serve: the same, plain and streamed', async () => {
    await fault('p1', '500');
    await fault('p2', '502');
    const { client } = await serve();
    const { data, response } = await client.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'x' }] }).withResponse();
    expect(data.choices[0]!.message.content).toBe('[g1] x');
    expect(response.headers.get('x-jarvis-attempts')).toMatch(/^(p1=server_error,)+(p2=server_error,)+g1=ok$/);
    const stream = await client.chat.completions.create({ model: 'auto', stream: true, messages: [{ role: 'user', content: 'a b c' }] });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text).toBe('[g1] a b c');
  });
});

describe('tool calls', () => {
  const tools = [
    { type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
    { type: 'function' as const, function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
  ];

  it('a reply with content null and several tool calls passes through, counts as success, keeps the breaker closed', async () => {
    const dataDir = freshData();
    const { client, url } = await serve('', [], { dataDir });
    for (let i = 0; i < 4; i++) {
      const { data, response } = await client.chat.completions.create({ model: 'deepseek', messages: [{ role: 'user', content: 'weather?' }], tools }).withResponse();
      expect(response.headers.get('x-jarvis-attempts')).toBe('p1=ok');
      const message = data.choices[0]!.message;
      expect(message.content).toBeNull();
      expect(message.tool_calls?.map((c) => c.type === 'function' && c.function.name)).toEqual(['get_weather', 'get_time']);
      expect(data.choices[0]!.finish_reason).toBe('tool_calls');
    }
    const status = (await (await fetch(`${url}/api/status`)).json()) as { nodes: Record<string, { state: string; consecutive_failures: number; total_requests: number }> };
    expect(status.nodes.p1).toMatchObject({ state: 'healthy', consecutive_failures: 0, total_requests: 4 });
  });

  it('streamed tool calls arrive whole, with their arguments in pieces', async () => {
    const { client } = await serve();
    const stream = await client.chat.completions.create({ model: 'llama3', stream: true, messages: [{ role: 'user', content: 'time?' }], tools });
    const calls: { name: string; args: string }[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      for (const d of chunk.choices[0]?.delta?.tool_calls ?? []) {
        calls[d.index] ??= { name: '', args: '' };
        calls[d.index]!.name += d.function?.name ?? '';
        calls[d.index]!.args += d.function?.arguments ?? '';
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(finish).toBe('tool_calls');
    expect(calls.map((c) => c.name)).toEqual(['get_weather', 'get_time']);
    expect(JSON.parse(calls[0]!.args)).toMatchObject({ by: 'g1' });
  });

  it('jarvis ask --tools prints the calls readably, and --json carries them', async () => {
    const file = path.join(tmp.dir, 'tools.json');
    writeFileSync(file, JSON.stringify(tools));
    const r = await ask(['--tools', file, 'weather in Paris?']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^tool call get_weather \{ ?"asked": "weather in Paris\?", "by": "p1" ?\}/m);
    expect(r.stdout).toMatch(/^tool call get_time /m);
    const j = await ask(['--tools', file, '--json', '--stream', 'x']);
    expect(j.json?.toolCalls?.map((c) => c.name)).toEqual(['get_weather', 'get_time']);
    expect((await ask(['--tools', path.join(tmp.dir, 'nope.json'), 'x'])).code).toBe(2);
  });
});

describe('a model name is a group', () => {
  it('two nodes serve llama3, the first is down: the second answers, and says which node and model', async () => {
    await fault('g1', 'down');
    const { client } = await serve();
    const { data, response } = await client.chat.completions.create({ model: 'llama3', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    expect(data.choices[0]!.message.content).toBe('[g2] hi');
    expect(response.headers.get('x-jarvis-node')).toBe('g2');
    expect(response.headers.get('x-jarvis-model')).toBe('llama3');
    expect(response.headers.get('x-jarvis-attempts')).toBe('g1=refused,g2=ok');
  });

  it('the whole group down: another model answers unless strict, and the answer names it', async () => {
    await fault('g1', 'down');
    await fault('g2', 'down');
    const loose = await ask(['--model', 'llama3', '--json', 'q']);
    expect(loose.code).toBe(0);
    expect(loose.json).toMatchObject({ node: 'p1', model: 'deepseek-coder-v2-lite-instruct' });
    const strict = await ask(['--model', 'llama3', '--strict', '--json', 'q']);
    expect(strict.code).toBe(1);
    expect(strict.json?.node).toBeNull();
    expect(strict.json!.attempts.map((a) => a.node)).toEqual(['g1', 'g2']);
    // Strict in the config, for the group.
    const { client } = await serve('routing: { groups: { llama3: { strict: true } } }\n');
    const r = await fetch(`${client.baseURL}/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'llama3', messages: [{ role: 'user', content: 'q' }] }) });
    expect(r.status).toBe(503);
    expect(r.headers.get('x-jarvis-attempts')).toBe('g1=refused,g2=refused');
  });

  it('the served id responses carry is a name too; /v1/models lists each model once, with its nodes', async () => {
    const { client } = await serve();
    const byServedId = await client.chat.completions.create({ model: 'deepseek-coder-v2-lite-instruct', messages: [{ role: 'user', content: 'x' }] });
    expect(byServedId.choices[0]!.message.content).toBe('[p1] x');
    const models = (await client.models.list()).data as unknown as { id: string; nodes?: string[] }[];
    const ids = models.map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(models.find((m) => m.id === 'llama3')?.nodes).toContain('g2');
    expect(ids).toEqual(expect.arrayContaining(['auto', 'deepseek-coder-v2-lite-instruct', 'mistral-7b-instruct']));
  });

  it('jarvis ask --node with no fallbacks goes on to the cascade', async () => {
    await fault('h', 'down');
    const r = await ask(['--node', 'h', '--json', 'x']);
    expect(r.code).toBe(0);
    expect(r.json!.attempts.map((a) => `${a.node}=${a.outcome}`)).toEqual(['h=failed', 'p1=ok']);
  });
});

describe('balancing within a group', () => {
  const spread = async (strategy: string, count: number, concurrency = 1, extraArgs: string[] = [], dataDir = freshData()) => {
    const { client } = await serve(`routing: { groups: { llama3: { strategy: ${strategy} } } }\n`, extraArgs, { dataDir });
    const seen: Record<string, number> = {};
    // The first request alone: what each node serves is listed once, before the batches.
    for (let i = 0; i < count; i += i === 0 ? 1 : concurrency) {
      await Promise.all(
        Array.from({ length: i === 0 ? 1 : Math.min(concurrency, count - i) }, async () => {
          const { response } = await client.chat.completions.create({ model: 'llama3', messages: [{ role: 'user', content: 'x' }] }).withResponse();
          const node = response.headers.get('x-jarvis-node')!;
          seen[node] = (seen[node] ?? 0) + 1;
        }),
      );
    }
    return seen;
  };

  it('priority: all to the first; round-robin: turns', async () => {
    expect(await spread('priority', 6)).toEqual({ g1: 6 });
    expect(await spread('round-robin', 10)).toEqual({ g1: 5, g2: 5 });
  });

  it('least-busy: with requests in flight on the slow node, the other takes them', async () => {
    await fault('g1', 'slow:400');
    const seen = await spread('least-busy', 9, 4);
    // After a first request, four at a time: g1 (slow) holds one, the next find it busy.
    expect(seen.g2).toBeGreaterThanOrEqual(4);
  });

  it('latency: the faster node takes the traffic once measured', async () => {
    await fault('g1', 'slow:150');
    const seen = await spread('latency', 16);
    expect(seen.g2 ?? 0).toBeGreaterThanOrEqual(12);
  });

  it('success-rate: the node with the better record first', async () => {
    const dataDir = freshData();
    const h = (successes: number, failures: number) => ({ breaker: { phase: 'closed', consecutiveFailures: 0, opens: 0 }, successes, failures, consecutiveFailures: 0, totalRequests: successes + failures });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(path.join(dataDir, 'state.json'), JSON.stringify({ cascade: { nodes: { g1: h(1, 9), g2: h(9, 1) } } }));
    expect(await spread('success-rate', 4, 1, [], dataDir)).toEqual({ g2: 4 });
  });
});

describe('embeddings honour the model', () => {
  it('to the group serving it, failing over only within it; with none named, the embedding nodes', async () => {
    const { client, url } = await serve();
    const { response } = await client.embeddings.create({ model: 'nomic-embed-text', input: 'hello' }).withResponse();
    expect(response.headers.get('x-jarvis-node')).toBe('e');
    expect(response.headers.get('x-jarvis-model')).toBe('nomic-embed-text:latest');
    const none = await client.embeddings.create({ input: 'hello' } as never).withResponse();
    expect(none.response.headers.get('x-jarvis-node')).toBe('m1');
    await fault('e', 'down');
    const down = await fetch(`${url}/v1/embeddings`, { method: 'POST', body: JSON.stringify({ model: 'nomic-embed-text', input: 'x' }) });
    expect(down.status).toBe(503);
    expect(down.headers.get('x-jarvis-attempts')).toBe('e=refused');
    const unknown = await fetch(`${url}/v1/embeddings`, { method: 'POST', body: JSON.stringify({ model: 'text-embedding-3-small', input: 'x' }) });
    expect(unknown.status).toBe(404);
  });
});

describe('model-name resolution costs no attempt', () => {
  it('a fresh state: one attempt, the served id sent, nothing in the trace or the metrics', async () => {
    const r = await ask(['--model', 'deepseek', '--json', 'x']);
    expect(r.json!.attempts).toEqual([expect.objectContaining({ node: 'p1', outcome: 'ok', model: 'deepseek-coder-v2-lite-instruct' })]);
    expect(r.stderr).toMatch(/1 attempt\(s\)|^$/);
    const { client, url } = await serve();
    const { response } = await client.chat.completions.create({ model: 'deepseek', messages: [{ role: 'user', content: 'x' }] }).withResponse();
    expect(response.headers.get('x-jarvis-attempts')).toBe('p1=ok');
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).not.toMatch(/model_missing/);
  });
});

describe('credentials and keys', () => {
  it("a node's key from apiKeyEnv reaches it on probes and requests, and appears in no output", async () => {
    const config = writeConfig();
    const dataDir = freshData();
    const status = await jarvis(['status', '--json', '--config', config, '--data-dir', dataDir], { env });
    const k = (JSON.parse(status.stdout) as { nodes: { id: string; status: string }[] }).nodes.find((x) => x.id === 'k');
    expect(k?.status).toBe('ok');
    const diagnose = await jarvis(['diagnose', 'k', '--config', config, '--data-dir', dataDir], { env });
    const s = await serve('', ['--access-log'], { config, dataDir });
    const answer = await s.client.chat.completions.create({ model: 'private-model', messages: [{ role: 'user', content: 'x' }] });
    expect(answer.choices[0]!.message.content).toBe('[k] x');
    const apiStatus = await (await fetch(`${s.url}/api/status`)).text();
    for (const text of [status.stdout, status.stderr, diagnose.stdout, diagnose.stderr, apiStatus, s.log()]) expect(text).not.toContain(NODE_KEY);
    // Without the key: a 401, and the diagnosis says what to check.
    const noKey = cleanEnv(tmp.dir);
    const d = await jarvis(['diagnose', 'k', '--config', config, '--data-dir', dataDir], { env: noKey });
    expect(d.stdout).toMatch(/401/);
    expect(d.stdout).toMatch(/\$NODE_KEY is not set/);
  });

  it('serve.protect: all puts client keys on /v1/* too; /health stays open', async () => {
    const { url } = await serve(`serve: { apiKeys: [${CLIENT_KEY}], protect: all }\n`);
    expect((await fetch(`${url}/v1/models`)).status).toBe(401);
    expect((await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer wrong-key-000000' } })).status).toBe(401);
    expect((await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })).status).toBe(200);
    expect((await fetch(`${url}/v1/models`, { headers: { 'x-api-key': CLIENT_KEY } })).status).toBe(200);
    expect((await fetch(`${url}/health`)).status).toBe(200);
    expect((await fetch(`${url}/api/status`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })).status).toBe(200);
  });
});

describe('bad requests get 4xx, never 404 for a type or 500', () => {
  it('model: 42 is 400; deeply nested JSON is 400; a Content-Length over the limit is 413 before the body', async () => {
    const { url } = await serve('', ['--body-limit', '2048']);
    const post = (body: string) => fetch(`${url}/v1/chat/completions`, { method: 'POST', body });
    const typed = await post(JSON.stringify({ model: 42, messages: [{ role: 'user', content: 'x' }] }));
    expect(typed.status).toBe(400);
    expect(((await typed.json()) as { error: { param: string } }).error.param).toBe('model');
    const deep = await post(`{"messages":${'['.repeat(1000)}${']'.repeat(1000)}}`);
    expect(deep.status).toBe(400);
    expect(((await deep.json()) as { error: { message: string } }).error.message).toMatch(/nested deeper/);
    // A client that announces 1 GB and sends nothing: answered at once, not waited for.
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(url);
      const req = http.request({ host: u.hostname, port: u.port, path: '/v1/chat/completions', method: 'POST', headers: { 'content-length': String(1 << 30), 'content-type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(status).toBe(413);
    expect((await post(JSON.stringify({ messages: [{ role: 'user', content: 'x' }], max_tokens: 'lots' }))).status).toBe(400);
  });
});

describe('serve as a process', () => {
  it('a port in use: exit 3 at once with one line naming the address', async () => {
    const first = await serve();
    const port = new URL(first.url).port;
    const r = await jarvis(['serve', '--port', port, '--config', writeConfig(), '--data-dir', freshData()], { env, timeoutMs: 15_000 });
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toEqual([`jarvis: cannot listen on 127.0.0.1:${port}: the address is already in use (another jarvis serve? choose another --port)`]);
  });

  it('SIGHUP reloads a good config, keeps the old one over a bad one', async () => {
    const config = writeConfig();
    const s = await serve('', [], { config });
    writeFileSync(config, `${readFileSync(config, 'utf8')}tasks: { quick: [g2] }\n`);
    s.child.kill('SIGHUP');
    await s.waitForLog(/reloaded/);
    const quick = await s.client.chat.completions.create({ model: 'jarvis/quick', messages: [{ role: 'user', content: 'x' }] });
    expect(quick.choices[0]!.message.content).toBe('[g2] x');
    writeFileSync(config, 'nodes: [ {id: broken');
    s.child.kill('SIGHUP');
    await s.waitForLog(/config not reloaded, keeping the one in use: .*not valid YAML/);
    const still = await s.client.chat.completions.create({ model: 'jarvis/quick', messages: [{ role: 'user', content: 'y' }] });
    expect(still.choices[0]!.message.content).toBe('[g2] y');
    expect(s.child.exitCode).toBeNull();
  });

  it('the drain deadline: an open stream gets an error event before the connection closes', async () => {
    await fault('g2', 'up');
    const s = await serve('', ['--drain', '300']);
    // g2 streams a token every 40 ms: its answer (about 50 words) takes 2 s.
    const stream = await s.client.chat.completions.create({ model: 'g2', stream: true, messages: [{ role: 'user', content: Array.from({ length: 60 }, (_, i) => `w${i}`).join(' ') }] });
    let text = '';
    const reading = (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      return text;
    })();
    // Mid-stream: some of the answer came, not all of it.
    await waitFor(() => text.length > 0, { what: 'the first tokens', intervalMs: 10 });
    const code = s.stop();
    await expect(reading).rejects.toThrow(/shutting down/);
    expect(await code).toBe(0);
  });
});

describe('jarvis reset reaches a running serve', () => {
  it('after serve opened a breaker, reset closes it for serve too, and health agrees', async () => {
    const dataDir = freshData();
    const config = writeConfig('', '{ initialBackoffMs: 20, requestTimeoutMs: 5000, recoveryMs: 600000 }');
    await fault('p1', '500');
    const s = await serve('', [], { config, dataDir });
    // Serve's first health round (a second after it starts) out of the way: a later one, finding
    // p1 up again, would half-open its breaker before \`health\` could see it open. By name: p1
    // first whatever that round saw of it.
    await probedOnce(s.url);
    await s.client.chat.completions.create({ model: 'p1', messages: [{ role: 'user', content: 'x' }] });
    const skipped = await s.client.chat.completions.create({ model: 'p1', messages: [{ role: 'user', content: 'x' }] }).withResponse();
    expect(skipped.response.headers.get('x-jarvis-attempts')).toBe('p1=circuit_open,p2=ok');
    await fault('p1', 'up');
    const health = async () => JSON.parse((await jarvis(['health', '--json', '--config', config, '--data-dir', dataDir], { env })).stdout) as Record<string, { state: string }>;
    // serve saves within a second: health sees what serve uses.
    await until(async () => (await health()).p1?.state === 'circuit_open');
    const reset = await jarvis(['reset', 'p1', '--config', config, '--data-dir', dataDir], { env });
    expect(reset.stdout).toMatch(/Reset p1: breaker closed/);
    expect((await health()).p1?.state).toBe('healthy');
    await until(async () => {
      const r = await s.client.chat.completions.create({ model: 'p1', messages: [{ role: 'user', content: 'x' }] }).withResponse();
      return r.response.headers.get('x-jarvis-attempts') === 'p1=ok';
    });
    expect((await health()).p1?.state).toBe('healthy');
    const all = await jarvis(['reset', '--all', '--config', config, '--data-dir', dataDir], { env });
    expect(all.code).toBe(0);
  });
});

/** Polls `check` every 100 ms until it holds (at most 10 s). */
const until = (check: () => Promise<boolean>) => waitFor(check, { what: 'the condition' });

/**
 * `jarvis serve` as a real process, used through the official `openai` npm client, with simulated
 * nodes behind it: completions plain and streamed, failover, error shapes, a node dying
 * mid-stream, 200 concurrent streams, a SIGTERM that drains, and the body a node gets.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SERVE_V8_FLAGS } from '../../src/serve/tuning.js';
import { BIN, cleanEnv, freePort, jarvis, nextHit, startServe as startServeProcess, startSim, stopChild, stopRestarted, tempDir, type RunningServe, type RunningSim, type ServeListening } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

let tmp: ReturnType<typeof tempDir>;
let sim: RunningSim;
let cfg: string;
let env: NodeJS.ProcessEnv;
let serve: ChildProcess;
let url: string;
let listening: ServeListening;
let client: OpenAI;

/** `jarvis serve` on a free port (the main config and data dir unless told). */
function startServe(args: string[] = [], where: { config?: string; dataDir?: string } = {}): Promise<RunningServe> {
  return startServeProcess({ config: where.config ?? cfg, dataDir: where.dataDir ?? path.join(tmp.dir, 'data'), env, args });
}

beforeAll(async () => {
  tmp = tempDir();
  env = cleanEnv(tmp.dir);
  const spec = path.join(tmp.dir, 'spec.json');
  writeFileSync(
    spec,
    JSON.stringify({
      nodes: [
        { id: 'a', kind: 'lmstudio', models: ['deepseek'], priority: 1 },
        { id: 'b', kind: 'ollama', models: ['qwen3:8b'], priority: 2, embeddings: true },
      ],
    }),
  );
  const out = path.join(tmp.dir, 'sim.yaml');
  sim = await startSim(['cluster', '--spec', spec, '--config-out', out]);
  cfg = path.join(tmp.dir, 'jarvis.config.yaml');
  writeFileSync(cfg, `${readFileSync(out, 'utf8')}tasks: { code: [a, b], fast: [b] }\ncascade: { initialBackoffMs: 50, requestTimeoutMs: 5000 }\n`);
  // One background probe, with both nodes up, before the tests: one landing while a test has a node
  // down would hold it back for the next tests (the heal tests below check that on their own serve).
  ({ child: serve, url, listening } = await startServe(['--health-interval', '3600000']));
  await waitFor(
    async () => {
      const status = (await (await fetch(`${url}/api/status`)).json()) as { nodes: Record<string, { probe: string | null }> };
      return Object.values(status.nodes).every((n) => n.probe === 'ok');
    },
    { what: 'the first background probe', intervalMs: 50 },
  );
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  if (serve) await stopChild(serve);
  await sim?.stop();
  tmp?.cleanup();
});

beforeEach(async () => {
  for (const id of ['a', 'b']) await jarvis(['sim', 'fault', sim.ready.control, id, 'up'], { env });
});

describe('jarvis serve with the openai client', () => {
  it('plain completion, with the answering node and the trace in headers', async () => {
    const { data, response } = await client.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'hello' }] }).withResponse();
    expect(data.choices[0]!.message.content).toBe('[a] hello');
    expect(response.headers.get('x-jarvis-node')).toBe('a');
    expect(response.headers.get('x-jarvis-attempts')).toBe('a=ok');
  });

  it('streamed completion, chunk by chunk', async () => {
    const stream = await client.chat.completions.create({ model: 'jarvis/fast', stream: true, messages: [{ role: 'user', content: 'one two three' }] });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text).toBe('[b] one two three');
    // The connection kept or closed as the client asked (node:http's own header, not one of ours).
    const streamed = (connection: string) =>
      new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = http.request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', connection }, agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res));
        });
        req.on('error', reject);
        req.end(JSON.stringify({ model: 'jarvis/fast', stream: true, messages: [{ role: 'user', content: 'a' }] }));
      });
    expect((await streamed('keep-alive')).headers).toMatchObject({ 'content-type': 'text/event-stream', connection: 'keep-alive' });
    expect((await streamed('close')).headers).toMatchObject({ 'content-type': 'text/event-stream', connection: 'close' });
  });

  it('fails over when the primary is down; a node picked by its model name', async () => {
    await jarvis(['sim', 'fault', sim.ready.control, 'a', 'down'], { env });
    const { data, response } = await client.chat.completions.create({ model: 'jarvis/code', messages: [{ role: 'user', content: 'x' }] }).withResponse();
    expect(data.choices[0]!.message.content).toBe('[b] x');
    expect(response.headers.get('x-jarvis-attempts')).toMatch(/^a=refused,b=ok$|^a=(refused|circuit_open),b=ok$/);
    const byModel = await client.chat.completions.create({ model: 'qwen3:8b', messages: [{ role: 'user', content: 'y' }] });
    expect(byModel.choices[0]!.message.content).toBe('[b] y');
  });

  it('error shapes: unknown model 404, bad JSON 400, every node down 503 with Retry-After', async () => {
    await expect(client.chat.completions.create({ model: 'gpt-99', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
    const bad = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: '{not json' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    for (const id of ['a', 'b']) await jarvis(['sim', 'fault', sim.ready.control, id, 'down'], { env });
    const down = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }) });
    expect(down.status).toBe(503);
    expect(Number(down.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const trace = down.headers.get('x-jarvis-attempts');
    expect(trace).toMatch(/^a=(refused|circuit_open),b=(refused|circuit_open)$/);
    const error = ((await down.json()) as { error: { code: string; message: string } }).error;
    expect(error).toMatchObject({ code: 'all_nodes_failed', message: expect.stringMatching(/a=refused/) });
    expect(error.message).toContain(`(attempts: ${trace})`);
  });

  it('an upstream that dies mid-stream: the client gets an error, nothing hangs', async () => {
    await jarvis(['sim', 'fault', sim.ready.control, 'a', 'cut'], { env });
    const stream = await client.chat.completions.create({ model: 'a', stream: true, messages: [{ role: 'user', content: 'one two three' }] });
    let text = '';
    await expect(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
      })(),
    ).rejects.toThrow(/stream broke/);
    expect(text).toBe('[a]');
    // A broken stream is the node's failure: counted against it, as its breaker's threshold needs.
    const status = async () => ((await (await fetch(`${url}/api/status`)).json()) as { nodes: Record<string, { consecutive_failures: number; last_error: string | null }> }).nodes.a!;
    expect(await status()).toMatchObject({ last_error: expect.stringMatching(/^stream_broken: /) as string });
    expect((await status()).consecutive_failures).toBeGreaterThanOrEqual(1);
    // Cleared for the tests that follow (the proxy takes the reset in at its next sync).
    expect((await jarvis(['reset', 'a', '--config', cfg, '--data-dir', path.join(tmp.dir, 'data')], { env })).code).toBe(0);
    await waitFor(async () => (await status()).consecutive_failures === 0, { what: 'the reset to reach the proxy' });
  });

  it('200 concurrent streams complete', async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const stream = await client.chat.completions.create({ model: 'auto', stream: true, messages: [{ role: 'user', content: `n${i}` }] });
        let text = '';
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
        return text;
      }),
    );
    expect(results.every((t, i) => t === `[a] n${i}`)).toBe(true);
  });

  it('embeddings go to the nodes that serve them', async () => {
    const { data, response } = await client.embeddings.create({ model: 'auto', input: 'hello' }).withResponse();
    expect(data.data[0]!.embedding.length).toBeGreaterThan(0);
    expect(response.headers.get('x-jarvis-node')).toBe('b');
  });

  it('management: /health, /v1/models, /api/status on a loopback bind', async () => {
    expect(await (await fetch(`${url}/health`)).json()).toMatchObject({ status: 'ok' });
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(expect.arrayContaining(['auto', 'jarvis/code', 'jarvis/fast', 'deepseek', 'qwen3:8b']));
    const status = (await (await fetch(`${url}/api/status`)).json()) as { nodes: Record<string, { state: string }> };
    expect(Object.keys(status.nodes)).toEqual(['a', 'b']);
  });

  it("the listening line: pid and the V8 memory settings serve applied (V8's own by default; --low-memory's flags, used below)", () => {
    expect(listening).toMatchObject({ event: 'listening', pid: serve.pid, v8Flags: [] });
  });

  it('SIGTERM: stops accepting, lets an in-flight request finish, saves state, exits 0', async () => {
    const second = await startServe(['--low-memory']);
    expect(second.listening.v8Flags).toEqual([...SERVE_V8_FLAGS]);
    await jarvis(['sim', 'fault', sim.ready.control, 'a', 'slow:1000'], { env });
    const c = new OpenAI({ baseURL: `${second.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const arrived = await nextHit(sim.ready.control, 'a', '/v1/chat/completions');
    const pending = c.chat.completions.create({ model: 'a', messages: [{ role: 'user', content: 'slow' }] });
    // In flight on the node (not merely sent) when the signal comes.
    await arrived();
    second.child.kill('SIGTERM');
    const answer = await pending;
    expect(answer.choices[0]!.message.content).toBe('[a] slow');
    const code = await new Promise((r) => second.child.once('exit', r));
    expect(code).toBe(0);
    const state = JSON.parse(readFileSync(path.join(tmp.dir, 'data', 'state.json'), 'utf8')) as { cascade: { nodes: Record<string, unknown> } };
    expect(state.cascade.nodes.a).toBeDefined();
  });
});

describe('jarvis serve heals', () => {
  it('/metrics passes promtool; /api/diagnostics; background recovery brings a killed node back and the next request goes to it', async () => {
    const { spawnSync } = await import('node:child_process');
    const promtool = spawnSync('promtool', ['--version']).error === undefined;
    if (!promtool) console.warn('[skip part] promtool not installed (apt-get install prometheus): /metrics not checked by promtool');

    // Node x runs as its own process with a restart argv; kill it.
    const own = await startSim(['node', '--kind', 'ollama', '--id', 'x', '--model', 'qwen3:8b']);
    const xUrl = own.ready.nodes[0]!.url;
    own.child.kill('SIGKILL');
    await new Promise((r) => own.child.once('exit', r));
    const healCfg = path.join(tmp.dir, 'heal.yaml');
    const restart = [process.execPath, BIN, 'sim', 'node', '--kind', 'ollama', '--id', 'x', '--port', new URL(xUrl).port, '--model', 'qwen3:8b'];
    // x first (priority 0), then the sim cluster's a and b.
    const simNodes = readFileSync(path.join(tmp.dir, 'sim.yaml'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('  '))
      .join('\n');
    writeFileSync(healCfg, `nodes:\n  - { id: x, kind: ollama, url: "${xUrl}", model: "qwen3:8b", priority: 0, timeoutMs: 500, restart: ${JSON.stringify(restart)} }\n${simNodes}\ncascade: { initialBackoffMs: 50 }\nserve: { downAfterProbes: 100 }\n`);
    const healData = path.join(tmp.dir, 'heal-data');
    const { child, url: base, log } = await startServe(['--auto-recover', '--health-interval', '300'], { config: healCfg, dataDir: healData });
    try {
      const c = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused', maxRetries: 0 });
      // x is asked for and refuses: three requests open its breaker; a answers meanwhile. By name,
      // and with recoveries on probes out of reach (downAfterProbes: 100), whatever the health
      // check has seen by then: only the breaker sends x to the healer.
      for (let i = 0; i < 3; i++) {
        const { response } = await c.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
        expect(response.headers.get('x-jarvis-node')).not.toBe('x');
      }
      // The background check sees x down with its breaker open, recovers it, verifies it.
      await waitFor(() => /heal: x recovered, back in service/.test(log()), { what: 'heal: x recovered' }).catch(() => undefined);
      expect(log()).toMatch(/heal: x recovered, back in service/);
      const incidents = JSON.parse(readFileSync(path.join(healData, 'incidents.json'), 'utf8')) as { incidents: { node: string; outcome: string; steps: { pid?: number }[] }[] };
      expect(incidents.incidents[0]).toMatchObject({ node: 'x', outcome: 'recovered' });
      const { response } = await c.chat.completions.create({ model: 'auto', messages: [{ role: 'user', content: 'back?' }] }).withResponse();
      expect(response.headers.get('x-jarvis-node')).toBe('x');

      const diag = (await (await fetch(`${base}/api/diagnostics`)).json()) as { nodes: { node: string; cause: string }[] };
      expect(diag.nodes.find((n) => n.node === 'x')!.cause).toBe('healthy');

      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/^jarvis_upstream_attempts_total\{node="x",outcome="refused"\} 3$/m);
      expect(metrics).toMatch(/^jarvis_breaker_state\{node="x"\} 0$/m);
      expect(metrics).toMatch(/^jarvis_recoveries_total\{node="x",outcome="recovered"\} 1$/m);
      expect(metrics).toMatch(/^jarvis_failovers_total\{from="x",to="a"\} 3$/m);
      if (promtool) {
        const check = spawnSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
        expect(check.stdout + check.stderr).not.toMatch(/error/i);
        expect(check.status).toBe(0);
      }
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
      // Every server a recovery started (a busy machine may have needed two), not only the first.
      stopRestarted(healData);
    }
  });

  it('a recovery that cannot help is tried once per breaker opening, not at every probe; escalation is logged once', async () => {
    // y refuses and its restart command fails: the recovery is tried and fails (not_recovered). One
    // such incident escalates (escalateAfter: 1), so the second opening meets the escalation rule.
    const dead = `http://127.0.0.1:${await freePort()}`;
    const yCfg = path.join(tmp.dir, 'once.yaml');
    writeFileSync(yCfg, `nodes:\n  - { id: y, kind: openai, url: "${dead}", priority: 0, restart: [${JSON.stringify(process.execPath)}, -e, "process.exit(1)"], process: false }\ncascade: { recoveryMs: 2000, initialBackoffMs: 0 }\nincidents: { escalateAfter: 1 }\n`);
    const yData = path.join(tmp.dir, 'once-data');
    const { child, url: base, log } = await startServe(['--auto-recover', '--health-interval', '100'], { config: yCfg, dataDir: yData });
    const count = (re: RegExp) => log().split('\n').filter((l) => re.test(l)).length;
    const until = (re: RegExp) => waitFor(() => count(re) > 0, { what: String(re), timeoutMs: 30_000, intervalMs: 50 }).catch(() => undefined);
    const incidents = () => (JSON.parse(readFileSync(path.join(yData, 'incidents.json'), 'utf8')) as { incidents: { node: string; outcome: string }[] }).incidents;
    const ask = () => fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'y', messages: [{ role: 'user', content: 'hi' }] }) });
    try {
      // Three refusals open y's breaker for 2 s.
      for (let i = 0; i < 3; i++) expect((await ask()).status).toBe(503);
      const opened = Date.now();
      await until(/heal: y not_recovered/);
      await new Promise((r) => setTimeout(r, 600)); // several more probes of the same opening
      expect(count(/health: y refused with its breaker open: recovering it in the background/)).toBe(1);
      expect(incidents()).toMatchObject([{ node: 'y', outcome: 'not_recovered' }]);

      // The trial after the opening fails: the breaker opens again (for 4 s), and the healer
      // meets the escalation rule once, not at every probe.
      await new Promise((r) => setTimeout(r, Math.max(0, opened + 2100 - Date.now())));
      expect((await ask()).status).toBe(503);
      await until(/health: y is escalated/);
      await new Promise((r) => setTimeout(r, 600));
      expect(count(/health: y is escalated: not restarting it automatically/)).toBe(1);
      expect(count(/recovering it in the background/)).toBe(1);
      expect(incidents()).toHaveLength(1);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
    }
  });
  it('a node its probes find down before any request reaches it is recovered once per outage (with auto, no request would open its breaker)', async () => {
    // x is dead from the start and comes back when restarted; z is dead and its restart fails. No
    // request is sent: with `auto` the balancer puts both last, so no breaker opens, and the probes
    // alone must bring the healer in.
    const own = await startSim(['node', '--kind', 'ollama', '--id', 'x', '--model', 'qwen3:8b']);
    const xUrl = own.ready.nodes[0]!.url;
    own.child.kill('SIGKILL');
    await new Promise((r) => own.child.once('exit', r));
    const restart = [process.execPath, BIN, 'sim', 'node', '--kind', 'ollama', '--id', 'x', '--port', new URL(xUrl).port, '--model', 'qwen3:8b'];
    const simNodes = readFileSync(path.join(tmp.dir, 'sim.yaml'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('  '))
      .join('\n');
    const dead = `http://127.0.0.1:${await freePort()}`;
    const cfg = path.join(tmp.dir, 'outage.yaml');
    writeFileSync(
      cfg,
      `nodes:\n  - { id: x, kind: ollama, url: "${xUrl}", model: "qwen3:8b", priority: 0, timeoutMs: 500, restart: ${JSON.stringify(restart)} }\n  - { id: z, kind: openai, url: "${dead}", priority: 0, restart: [${JSON.stringify(process.execPath)}, -e, "process.exit(1)"], process: false }\n${simNodes}\n`,
    );
    const data = path.join(tmp.dir, 'outage-data');
    const { child, url: base, log } = await startServe(['--auto-recover', '--health-interval', '150'], { config: cfg, dataDir: data });
    const count = (re: RegExp) => log().split('\n').filter((l) => re.test(l)).length;
    const incidents = () => (JSON.parse(readFileSync(path.join(data, 'incidents.json'), 'utf8')) as { incidents: { node: string; outcome: string; steps: { pid?: number }[] }[] }).incidents;
    try {
      await waitFor(() => /heal: x recovered, back in service/.test(log()) && /heal: z not_recovered/.test(log()), { what: 'x recovered and z not', timeoutMs: 20_000 }).catch(() => undefined);
      expect(log()).toMatch(/health: x refused on 2 probes in a row: recovering it in the background/);
      expect(log()).toMatch(/heal: x recovered, back in service/);
      // z stays down: more probes of the same outage, and no second recovery.
      await new Promise((r) => setTimeout(r, 900));
      expect(count(/health: z .* recovering it in the background/)).toBe(1);
      expect(incidents().map((i) => `${i.node}:${i.outcome}`).sort()).toEqual(['x:recovered', 'z:not_recovered']);
      // x is back in the order: first again.
      const r = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'auto', messages: [{ role: 'user', content: 'back?' }] }) });
      expect(r.status).toBe(200);
      expect(r.headers.get('x-jarvis-node')).toBe('x');
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
      // Every server a recovery started (a busy machine may have needed two), not only the first.
      stopRestarted(data);
    }
  });
});

describe('the body a node gets', () => {
  // A node that records what it was sent: the client's own text, with the node's model in place
  // of the client's, rather than the request serialised again.
  let node: http.Server;
  let got: { path: string; text: string }[] = [];
  let rec: RunningServe;
  beforeAll(async () => {
    node = http.createServer((req, res) => {
      let text = '';
      req.setEncoding('utf8').on('data', (d: string) => (text += d));
      req.on('end', () => {
        const json = (value: unknown) => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(value));
        if (req.method === 'GET' && req.url === '/v1/models') return json({ object: 'list', data: [{ id: 'qwen2.5:7b-instruct' }, { id: 'qwen-coder' }] });
        if (req.method !== 'POST') return void res.writeHead(404).end();
        got.push({ path: req.url ?? '', text });
        if (req.url === '/v1/messages') return json({ id: 'msg_1', type: 'message', role: 'assistant', model: 'qwen-coder', content: [{ type: 'text', text: 'ok' }], stop_reason: 'end_turn', usage: { input_tokens: 1, output_tokens: 1 } });
        json({ object: 'chat.completion', model: 'qwen2.5:7b-instruct', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }] });
      });
    });
    await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
    const at = `http://127.0.0.1:${(node.address() as AddressInfo).port}`;
    const config = path.join(tmp.dir, 'recording.yaml');
    writeFileSync(config, `nodes:\n  - { id: rec, kind: openai, url: "${at}", model: "qwen2.5:7b-instruct" }\n  - { id: plain, kind: openai, url: "${at}" }\n  - { id: lm, kind: lmstudio, url: "${at}", model: qwen-coder, anthropic: true }\n`);
    rec = await startServe(['--health-interval', '3600000'], { config, dataDir: path.join(tmp.dir, 'data-recording') });
  });
  afterAll(async () => {
    await rec?.stop();
    await new Promise((resolve) => node?.close(resolve));
  });
  beforeEach(() => {
    got = [];
  });

  const post = async (route: string, text: string) => {
    const r = await fetch(`${rec.url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: text });
    expect(r.status, await r.clone().text()).toBe(200);
    await r.text();
    expect(got).toHaveLength(1);
    return got[0]!;
  };
  const conversation = '[{"role":"user","content":"weather in Zürich? \\"quoted\\", \\"model\\": \\"not this\\""}]';
  const tools = '[{"type":"function","function":{"name":"model","parameters":{"type":"object","properties":{"model":{"type":"string"}}}}}]';

  it('the client text as it came, only its model changed: fields, spacing and key order kept', async () => {
    const text = `{\n  "model" : "rec",\n  "messages": ${conversation},\n  "tools": ${tools},\n  "temperature": 0.2, "__proto__": {"x": 1}, "max_tokens": 50\n}`;
    const sent = await post('/v1/chat/completions', text);
    expect(sent.path).toBe('/v1/chat/completions');
    expect(sent.text).toBe(text.replace('"rec"', '"qwen2.5:7b-instruct"'));
  });

  it('a node with no model configured gets no model field; a body the text cannot be edited for is serialised, to the same effect', async () => {
    const plain = await post('/v1/chat/completions', `{"messages":${conversation},"model":"plain","stream":false}`);
    expect(JSON.parse(plain.text)).toEqual({ messages: JSON.parse(conversation), stream: false });
    got = [];
    // `model` twice, once written with an escape (JSON.parse takes the last): serialised again.
    const twice = await post('/v1/chat/completions', `{"model":"plain","messages":${conversation},"tools":${tools},"mod\\u0065l":"rec"}`);
    expect(JSON.parse(twice.text)).toEqual({ model: 'qwen2.5:7b-instruct', messages: JSON.parse(conversation), tools: JSON.parse(tools), stream: false });
  });

  it("Anthropic's Messages API to a node that speaks it: the client's text with the node's model", async () => {
    const text = `{ "model": "lm", "max_tokens": 64,\n  "system": [{"type":"text","text":"be brief","cache_control":{"type":"ephemeral"}}],\n  "messages": ${conversation} }`;
    const sent = await post('/v1/messages', text);
    expect(sent.path).toBe('/v1/messages');
    expect(sent.text).toBe(text.replace('"lm"', '"qwen-coder"'));
  });
});

describe('a client that goes away', () => {
  // A node that holds every request open (a streamed one after its role chunk) and records when
  // jarvis closes it: a client gone must not leave its upstream request running to its timeout.
  let node: http.Server;
  const closed: string[] = [];
  const arrived: string[] = [];
  let srv: RunningServe;
  beforeAll(async () => {
    node = http.createServer((req, res) => {
      let text = '';
      req.setEncoding('utf8').on('data', (d: string) => (text += d));
      req.on('end', () => {
        if (req.method === 'GET') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: [{ id: 'm' }] }));
        const what = (JSON.parse(text) as { messages: { content: string }[] }).messages[0]!.content;
        arrived.push(what);
        res.on('close', () => {
          if (!res.writableEnded) closed.push(what);
        });
        if (what.startsWith('stream')) {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(`data: ${JSON.stringify({ object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] })}\n\n`);
          res.write(`data: ${JSON.stringify({ object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta: { content: 'one' }, finish_reason: null }] })}\n\n`);
        }
        // else: never answered
      });
    });
    await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
    const at = `http://127.0.0.1:${(node.address() as AddressInfo).port}`;
    const config = path.join(tmp.dir, 'holding.yaml');
    writeFileSync(config, `nodes:\n  - { id: hold, kind: openai, url: "${at}", timeoutMs: 60000 }\ncascade: { requestTimeoutMs: 60000, deadlineMs: 120000 }\n`);
    srv = await startServe(['--health-interval', '3600000'], { config, dataDir: path.join(tmp.dir, 'data-holding') });
  });
  afterAll(async () => {
    await srv?.stop();
    node?.closeAllConnections();
    await new Promise((resolve) => node?.close(resolve));
  });

  it.each([
    ['a whole answer still awaited', 'whole', false],
    ['a stream under way', 'stream', true],
  ])('%s: the upstream request is closed at once, and the next request is served', async (_what, content, stream) => {
    const controller = new AbortController();
    const pending = fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'hold', stream, messages: [{ role: 'user', content }] }), signal: controller.signal });
    await waitFor(() => arrived.includes(content), { what: `the node got ${content}`, timeoutMs: 30_000, intervalMs: 20 });
    if (stream) {
      // The first token reached the client: the stream is jarvis's client's now.
      const reader = (await pending).body!.getReader();
      const first = new TextDecoder().decode((await reader.read()).value as Uint8Array);
      expect(first).toContain('"role":"assistant"');
    }
    controller.abort();
    await pending.then((r) => r.body?.cancel()).catch(() => undefined);
    await waitFor(() => closed.includes(content), { what: `jarvis closed the node's ${content} request`, timeoutMs: 30_000, intervalMs: 20 });
    // Nothing is left in flight, and the node took no blame for a client that left.
    await waitFor(async () => ((await (await fetch(`${srv.url}/api/status`)).json()) as { nodes: Record<string, { in_flight: number }> }).nodes.hold!.in_flight === 0, { what: 'nothing in flight', timeoutMs: 30_000, intervalMs: 20 });
    const status = (await (await fetch(`${srv.url}/api/status`)).json()) as { nodes: Record<string, { last_error: string | null }> };
    expect(status.nodes.hold!.last_error).toBeNull();
    await waitFor(() => new RegExp(`model=hold${stream ? ' stream' : ''} -> client gone`).test(srv.log()), { what: 'the access log line', timeoutMs: 30_000, intervalMs: 20 });
  });
});

describe('connections to a node', () => {
  it('at most serve.upstreamConnections at once; the requests beyond wait for one and are answered', async () => {
    let inFlight = 0;
    let most = 0;
    const node = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        // serve's own health probe (its first round, a second after it starts) is not a request.
        if (req.method === 'GET') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: [{ id: 'm', object: 'model' }] }));
        most = Math.max(most, ++inFlight);
        setTimeout(() => {
          inFlight--;
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'chat.completion', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }] }));
        }, 150);
      });
    });
    await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
    const config = path.join(tmp.dir, 'connections.yaml');
    writeFileSync(config, `nodes:\n  - { id: held, kind: openai, url: "http://127.0.0.1:${(node.address() as AddressInfo).port}", model: m }\nserve: { upstreamConnections: 2 }\n`);
    const capped = await startServe(['--health-interval', '3600000'], { config, dataDir: path.join(tmp.dir, 'data-connections') });
    try {
      const answers = await Promise.all(
        Array.from({ length: 6 }, async () => {
          const r = await fetch(`${capped.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
          return r.status;
        }),
      );
      expect(answers).toEqual([200, 200, 200, 200, 200, 200]);
      expect(most).toBe(2);
    } finally {
      await capped.stop();
      node.closeAllConnections();
      await new Promise((resolve) => node.close(resolve));
    }
  });
});

describe('long answers', () => {
  it('a stream longer than cascade.requestTimeoutMs and the deadline reaches its end; a node that falls silent mid-stream is cut after the timeout', async () => {
    // A node that streams a word every 100 ms, or (asked "silent") one word and then nothing.
    const node = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const line = (delta: object, finish: string | null = null) => `data: ${JSON.stringify({ object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
        res.write(line({ role: 'assistant' }));
        res.write(line({ content: 'w0 ' }));
        if (body.includes('silent')) return;
        let i = 1;
        const timer = setInterval(() => {
          if (i < 12) return void res.write(line({ content: `w${i++} ` }));
          clearInterval(timer);
          res.end(`${line({}, 'stop')}data: [DONE]\n\n`);
        }, 100);
        res.on('close', () => clearInterval(timer));
      });
    });
    await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
    const config = path.join(tmp.dir, 'long.yaml');
    writeFileSync(config, `nodes:\n  - { id: slow, kind: openai, url: "http://127.0.0.1:${(node.address() as AddressInfo).port}", model: m }\ncascade: { requestTimeoutMs: 400, deadlineMs: 800 }\n`);
    const long = await startServe(['--health-interval', '3600000'], { config, dataDir: path.join(tmp.dir, 'data-long') });
    try {
      const c = new OpenAI({ baseURL: `${long.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      // About 1.2 s of answer, against a 400 ms timeout and an 800 ms deadline.
      let text = '';
      for await (const chunk of await c.chat.completions.create({ model: 'slow', stream: true, messages: [{ role: 'user', content: 'talk' }] })) text += chunk.choices[0]?.delta?.content ?? '';
      expect(text).toBe(Array.from({ length: 12 }, (_, i) => `w${i} `).join(''));
      // Silent after its first word: the client gets that word, then an error in the stream.
      const silent = await c.chat.completions.create({ model: 'slow', stream: true, messages: [{ role: 'user', content: 'silent' }] });
      let got = '';
      const read = (async () => {
        for await (const chunk of silent) got += chunk.choices[0]?.delta?.content ?? '';
      })();
      await expect(read).rejects.toThrow(/sent nothing for \d+ ms/);
      expect(got).toBe('w0 ');
    } finally {
      await long.stop();
      node.closeAllConnections();
      await new Promise((resolve) => node.close(resolve));
    }
  });
});

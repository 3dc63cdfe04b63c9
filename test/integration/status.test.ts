/**
 * `jarvis status` and `jarvis diagnose` as real processes against simulated nodes running as
 * their own process on 127.0.0.1: every status of the contract, read off real sockets.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, jarvis, startSim, tempDir, type RunningSim } from '../helpers/cli.js';

const TIMEOUT_MS = 1500;

const SPEC = {
  nodes: [
    { id: 'ok-ollama', kind: 'ollama', models: ['qwen3:8b'] },
    { id: 'ok-lms', kind: 'lmstudio', models: ['mistral-7b-instruct'] },
    { id: 'ok-llama', kind: 'openai', models: ['qwen2.5-7b-instruct-q4_k_m.gguf'] },
    { id: 'slow', kind: 'ollama', models: ['qwen3:8b'], fault: 'slow:200' },
    { id: 'down', kind: 'ollama', models: ['qwen3:8b'], fault: 'down' },
    { id: 'hang1', kind: 'lmstudio', models: ['m'], fault: 'hang' },
    { id: 'hang2', kind: 'ollama', models: ['m'], fault: 'hang' },
    { id: 'hang3', kind: 'openai', models: ['m'], fault: 'hang' },
    { id: 'e500', kind: 'ollama', models: ['m'], fault: '500' },
    { id: 'e502', kind: 'openai', models: ['m'], fault: '502' },
    { id: 'quota', kind: 'openai', configKind: 'proxy', models: ['gemini'], fault: '429:30' },
    { id: 'loading', kind: 'openai', models: ['m'], fault: 'loading' },
    { id: 'garbage', kind: 'ollama', models: ['m'], fault: 'garbage' },
    { id: 'html', kind: 'lmstudio', models: ['m'], fault: 'html' },
    { id: 'reset', kind: 'openai', models: ['m'], fault: 'reset' },
    { id: 'nomodel-ollama', kind: 'ollama', models: ['qwen3:8b'], fault: 'model-missing' },
    { id: 'nomodel-lms', kind: 'lmstudio', models: ['mistral'], fault: 'model-missing' },
  ],
};

const EXPECTED: Record<string, { status: string; httpStatus?: number }> = {
  'ok-ollama': { status: 'ok', httpStatus: 200 },
  'ok-lms': { status: 'ok' },
  'ok-llama': { status: 'ok' },
  slow: { status: 'ok' },
  down: { status: 'refused' },
  hang1: { status: 'timeout' },
  hang2: { status: 'timeout' },
  hang3: { status: 'timeout' },
  e500: { status: 'http_error', httpStatus: 500 },
  e502: { status: 'http_error', httpStatus: 502 },
  quota: { status: 'http_error', httpStatus: 429 },
  loading: { status: 'loading', httpStatus: 503 },
  garbage: { status: 'bad_response' },
  html: { status: 'bad_response' },
  reset: { status: 'bad_response' },
  'nomodel-ollama': { status: 'model_missing' },
  'nomodel-lms': { status: 'model_missing' },
};

interface StatusJson {
  checkedAt: string;
  durationMs: number;
  nodes: { id: string; kind: string; url: string; priority: number; status: string; latencyMs: number; httpStatus?: number; models?: string[]; detail?: string; throttled?: boolean; retryAfterS?: number }[];
}

let sim: RunningSim;
let tmp: ReturnType<typeof tempDir>;
let configPath: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  tmp = tempDir();
  const specPath = path.join(tmp.dir, 'spec.json');
  configPath = path.join(tmp.dir, 'jarvis.config.yaml');
  writeFileSync(specPath, JSON.stringify(SPEC));
  sim = await startSim(['cluster', '--spec', specPath, '--config-out', configPath, '--timeout', String(TIMEOUT_MS)]);
  env = cleanEnv(tmp.dir);
});

afterAll(async () => {
  await sim?.stop();
  tmp?.cleanup();
});

describe('jarvis status', () => {
  it('classifies every failure the contract names, all nodes at once', async () => {
    const r = await jarvis(['status', '--json', '--config', configPath], { env });
    expect(r.code).toBe(1);
    const json = JSON.parse(r.stdout) as StatusJson;
    expect(Date.parse(json.checkedAt)).not.toBeNaN();
    const seen = Object.fromEntries(json.nodes.map((n) => [n.id, { status: n.status, ...(n.httpStatus !== undefined && { httpStatus: n.httpStatus }) }]));
    for (const [id, want] of Object.entries(EXPECTED)) expect(seen[id], id).toMatchObject(want);
    // Three nodes hang for the whole timeout: probed one after another this would take 3 x 1.5 s.
    expect(json.durationMs).toBeLessThan(3 * TIMEOUT_MS);
    expect(json.durationMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);

    const byId = Object.fromEntries(json.nodes.map((n) => [n.id, n]));
    expect(byId['ok-ollama']!.models).toEqual(['qwen3:8b']);
    expect(byId.slow!.latencyMs).toBeGreaterThanOrEqual(190);
    expect(byId.quota).toMatchObject({ throttled: true, retryAfterS: 30, kind: 'proxy' });
    expect(byId.hang1!.detail).toMatch(/no reply within 1500 ms/);
    expect(byId['nomodel-lms']!.detail).toMatch(/no model is loaded/);
    for (const n of json.nodes) {
      expect(n.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(typeof n.priority).toBe('number');
      expect(typeof n.latencyMs).toBe('number');
    }
  });

  it('human output: table, summary, no colour under NO_COLOR, nothing on stderr', async () => {
    const r = await jarvis(['status', '--config', configPath], { env });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^node\s+kind\s+prio\s+status\s+latency\s+model\s+detail/);
    expect(r.stdout).toMatch(/^down\s+ollama\s+\d+\s+refused/m);
    expect(r.stdout).toMatch(/^quota\s+proxy\s+\d+\s+throttled/m);
    expect(r.stdout).toMatch(/4\/17 ok · .* next: jarvis diagnose down/);
    expect(r.stdout).not.toMatch(/\u001b\[/);
    expect(r.stderr).toBe('');
  });

  it('colour only when wanted: FORCE_COLOR on, --no-color beats it', async () => {
    const colour = await jarvis(['status', '--config', configPath], { env: { ...env, NO_COLOR: '', FORCE_COLOR: '1' } });
    expect(colour.stdout).toMatch(/\u001b\[/);
    const off = await jarvis(['status', '--no-color', '--config', configPath], { env: { ...env, NO_COLOR: '', FORCE_COLOR: '1' } });
    expect(off.stdout).not.toMatch(/\u001b\[/);
  });

  it('exit 0 when every node is ok; JARVIS_CONFIG is honoured', async () => {
    const ok = path.join(tmp.dir, 'ok.yaml');
    const full = readFileSync(configPath, 'utf8');
    const okNodes = full.split(/\n(?= {2}- id:)/).filter((block, i) => i === 0 || /id: ok-/.test(block));
    writeFileSync(ok, okNodes.join('\n'));
    const r = await jarvis(['status', '--json'], { env: { ...env, JARVIS_CONFIG: ok } });
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as StatusJson).nodes.map((n) => n.status)).toEqual(['ok', 'ok', 'ok']);
  });

  it('faults switch at run time: down, then back up', async () => {
    const down = await jarvis(['sim', 'fault', sim.ready.control, 'ok-lms', 'down'], { env });
    expect(down.code).toBe(0);
    const r1 = JSON.parse((await jarvis(['status', '--json', '--config', configPath], { env })).stdout) as StatusJson;
    expect(r1.nodes.find((n) => n.id === 'ok-lms')!.status).toBe('refused');
    await jarvis(['sim', 'fault', sim.ready.control, 'ok-lms', 'up'], { env });
    const r2 = JSON.parse((await jarvis(['status', '--json', '--config', configPath], { env })).stdout) as StatusJson;
    expect(r2.nodes.find((n) => n.id === 'ok-lms')!.status).toBe('ok');
    const bad = await jarvis(['sim', 'fault', sim.ready.control, 'ok-lms', 'sideways'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown fault "sideways"/);
  });
});

describe('jarvis diagnose', () => {
  it('refused: cause, actions, fallbacks with live status; exit 1; ids are case-insensitive', async () => {
    const cfg = path.join(tmp.dir, 'fallbacks.yaml');
    // The sim's config restarts nodes as sim processes; make `down` look like a stock Ollama node.
    const stock = (block: string) => block.replace(/^ {4}(restart|process):.*\n/gm, '');
    writeFileSync(cfg, readFileSync(configPath, 'utf8').replace(/( {2}- id: down\n(?: {4}.*\n)*)/, (block) => `${stock(block)}    fallbacks: [ok-ollama, { node: hang1, for: code }]\n`));
    const r = await jarvis(['diagnose', 'DOWN', '--json', '--config', cfg], { env });
    expect(r.code).toBe(1);
    const d = JSON.parse(r.stdout) as {
      node: { id: string; status: string };
      host: { host: string; reachable: boolean | null } | null;
      diagnosis: { cause: string; recovery: string; actions: string[] };
      fallbacks: { node: string; for?: string; status: string }[];
    };
    expect(d.node).toMatchObject({ id: 'down', status: 'refused' });
    expect(d.host?.host).toBe('127.0.0.1');
    expect(d.diagnosis).toMatchObject({ cause: 'connection refused', recovery: 'restart' });
    expect(d.diagnosis.actions).toEqual(['Is the process alive? pgrep -x ollama', 'Restart it: ollama serve']);
    // Its own fallbacks first, then the rest of the cascade, as a request for it goes on.
    expect(d.fallbacks.slice(0, 2)).toEqual([
      { node: 'ok-ollama', status: 'ok', latencyMs: expect.any(Number) as number },
      expect.objectContaining({ node: 'hang1', for: 'code', status: 'timeout' }),
    ]);
    expect(d.fallbacks.slice(2).map((f) => f.for)).toEqual(Array(SPEC.nodes.length - 3).fill('cascade'));
    expect(d.fallbacks.find((f) => f.node === 'ok-lms')).toMatchObject({ for: 'cascade', status: 'ok' });
  });

  it('human output names the cause, the actions and who takes over', async () => {
    const r = await jarvis(['diagnose', 'e500', '--config', configPath], { env });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/Cause\s+internal server error/);
    expect(r.stdout).toMatch(/1\. Check the logs: journalctl -u ollama/);
    // No fallbacks of its own: the cascade's healthy nodes are named.
    expect(r.stdout).toMatch(/Meanwhile\n {2}the cascade: ok-ollama ok \(\d+ ms\), ok-lms ok \(\d+ ms\), ok-llama ok \(\d+ ms\), slow ok \(\d+ ms\) · 12 more not answering/);
  });

  it('a healthy node exits 0', async () => {
    const r = await jarvis(['diagnose', 'ok-llama', '--config', configPath], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Cause\s+healthy/);
  });

  it('unknown node: lists the known ids, exit 2', async () => {
    const r = await jarvis(['diagnose', 'm9', '--config', configPath], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown node "m9". Known nodes: ok-ollama, ok-lms, ok-llama/);
    expect(r.stdout).toBe('');
  });
});

describe('proxy nodes checked by a command (the runbook: gemini-proxy.js --ping)', () => {
  it('exit 0 is ok; quota in the output is throttled; a hung check times out', async () => {
    const cfg = path.join(tmp.dir, 'proxies.yaml');
    const node = process.execPath;
    writeFileSync(
      cfg,
      [
        'nodes:',
        `  - { id: gemini, kind: proxy, check: { command: [${JSON.stringify(node)}, -e, "console.log('pong')"] } }`,
        `  - { id: quota, kind: proxy, check: { command: [${JSON.stringify(node)}, -e, "console.error('Error 429: quota exceeded'); process.exit(1)"] } }`,
        `  - { id: stuck, kind: proxy, check: { command: [${JSON.stringify(node)}, -e, "setTimeout(() => {}, 60000)"], timeoutMs: 800 } }`,
        '',
      ].join('\n'),
    );
    const r = await jarvis(['status', '--json', '--config', cfg], { env });
    const byId = Object.fromEntries((JSON.parse(r.stdout) as StatusJson).nodes.map((n) => [n.id, n]));
    expect(byId.gemini).toMatchObject({ status: 'ok', detail: 'pong' });
    expect(byId.quota).toMatchObject({ status: 'http_error', httpStatus: 429, throttled: true });
    expect(byId.stuck).toMatchObject({ status: 'timeout' });
    expect(r.code).toBe(1);
  });
});

/** `jarvis ask` through the built CLI against simulated nodes: the cascade end to end. */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cleanEnv, jarvis, nextHit, simFault, startSim, tempDir, type RunningSim } from '../helpers/cli.js';

let tmp: ReturnType<typeof tempDir>;
let sim: RunningSim;
let cfg: string;
let dataDir: string;
let env: NodeJS.ProcessEnv;

interface AskJson {
  node: string | null;
  model: string | null;
  content: string | null;
  error?: string;
  durationMs: number;
  attempts: { node: string; outcome: string; class?: string; ms: number }[];
}

beforeAll(async () => {
  tmp = tempDir();
  const spec = path.join(tmp.dir, 'spec.json');
  writeFileSync(
    spec,
    JSON.stringify({
      nodes: [
        { id: 'a', kind: 'lmstudio', models: ['deepseek-coder-v2-lite-instruct'], configModel: 'deepseek', priority: 1 },
        { id: 'b', kind: 'ollama', models: ['qwen3:8b'], priority: 2 },
        { id: 'c', kind: 'openai', models: ['m.gguf'], priority: 3 },
      ],
    }),
  );
  const out = path.join(tmp.dir, 'sim.yaml');
  sim = await startSim(['cluster', '--spec', spec, '--config-out', out]);
  cfg = path.join(tmp.dir, 'jarvis.config.yaml');
  writeFileSync(cfg, `${readFileSync(out, 'utf8')}cascade: { initialBackoffMs: 50, recoveryMs: 60000 }\n`);
  env = cleanEnv(tmp.dir);
});
afterAll(async () => {
  await sim?.stop();
  tmp?.cleanup();
});

let n = 0;
beforeEach(async () => {
  dataDir = path.join(tmp.dir, `data-${n++}`);
  for (const id of ['a', 'b', 'c']) await jarvis(['sim', 'fault', sim.ready.control, id, 'up'], { env });
});

const fault = (id: string, f: string) => jarvis(['sim', 'fault', sim.ready.control, id, f], { env });
const ask = async (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => {
  const r = await jarvis(['ask', ...args, '--config', cfg, '--data-dir', dataDir], { env: { ...env, ...extraEnv }, timeoutMs: 60_000 });
  return { ...r, json: args.includes('--json') && r.stdout ? (JSON.parse(r.stdout) as AskJson) : undefined };
};
const health = async (extraEnv: NodeJS.ProcessEnv = {}) =>
  JSON.parse((await jarvis(['health', '--json', '--config', cfg, '--data-dir', dataDir], { env: { ...env, ...extraEnv } })).stdout) as Record<string, { state: string; success_rate: number; consecutive_failures: number; total_requests: number }>;

describe('jarvis ask', () => {
  it('answers from the first node; the short model name is resolved to the served id', async () => {
    const r = await ask(['--json', 'hello', 'there']);
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ node: 'a', model: 'deepseek-coder-v2-lite-instruct', content: '[a] hello there' });
    const plain = await ask(['what now']);
    expect(plain.stdout).toBe('[a] what now\n');
    expect(plain.stderr).toMatch(/answered by a/);
  });

  it('primary refused: the answer comes from the next node, with the trace', async () => {
    await fault('a', 'down');
    const r = await ask(['--json', 'hi']);
    expect(r.code).toBe(0);
    expect(r.json!.node).toBe('b');
    expect(r.json!.attempts.map((x) => [x.node, x.outcome, x.class])).toEqual([
      ['a', 'failed', 'refused'],
      ['b', 'ok', undefined],
    ]);
    const human = await ask(['hi']);
    expect(human.stderr).toMatch(/failover a -> b \(refused\)/);
  });

  it('a node failing three times is skipped on the next run, and tried again after the recovery time', async () => {
    await fault('a', 'down');
    for (let i = 0; i < 3; i++) await ask(['--json', 'hi']);
    expect((await health()).a).toMatchObject({ state: 'circuit_open', consecutive_failures: 3, total_requests: 3 });
    const skipped = await ask(['--json', 'hi']);
    expect(skipped.json!.attempts[0]).toMatchObject({ node: 'a', outcome: 'skipped', class: 'circuit_open' });
    expect(skipped.json!.node).toBe('b');

    await fault('a', 'up');
    const later = { JARVIS_NOW: new Date(Date.now() + 61_000).toISOString() };
    expect((await health(later)).a!.state).toBe('half_open');
    const trial = await ask(['--json', 'hi'], later);
    expect(trial.json!.node).toBe('a');
    expect((await health(later)).a).toMatchObject({ state: 'degraded', consecutive_failures: 0 });

    const reset = await jarvis(['reset', 'A', '--config', cfg, '--data-dir', dataDir], { env });
    expect(reset.stdout).toMatch(/Reset a: breaker closed, counts cleared/);
    expect((await health()).a).toEqual({ state: 'healthy', success_rate: 1, consecutive_failures: 0, total_requests: 0, failed_requests: 0 });
  });

  it('429 with Retry-After: waits, retries the same node', async () => {
    await fault('a', '429:1');
    const answered429 = await nextHit(sim.ready.control, 'a', '/v1/chat/completions');
    const pending = ask(['--json', 'hi']);
    // Up once the 429 is on its way, well before its Retry-After ends.
    await answered429();
    await simFault(sim.ready.control, 'a', 'up');
    const r = await pending;
    expect(r.json!.node).toBe('a');
    // (a model_missing entry, if any, is the one-time lookup of the served model id)
    expect(r.json!.attempts.map((x) => x.class ?? 'ok').filter((c) => c !== 'model_missing')).toEqual(['throttled', 'ok']);
    expect(r.json!.durationMs).toBeGreaterThanOrEqual(900);
  });

  it('401 is not retried and does not open the breaker', async () => {
    await fault('a', '401');
    for (let i = 0; i < 4; i++) {
      const r = await ask(['--json', 'hi']);
      expect(r.json!.node).toBe('b');
      expect(r.json!.attempts[0]).toMatchObject({ node: 'a', class: 'auth' });
    }
    expect((await health()).a).toMatchObject({ consecutive_failures: 0 });
    expect((await health()).a!.state).not.toBe('circuit_open');
  });

  it('the deadline holds when every node hangs', async () => {
    for (const id of ['a', 'b', 'c']) await fault(id, 'hang');
    const r = await ask(['--json', '--timeout', '2000', 'hi']);
    expect(r.code).toBe(1);
    expect(r.json!.error).toMatch(/deadline of 2000 ms reached|every node failed|gave up/);
    expect(r.json!.durationMs).toBeLessThanOrEqual(2100);
    const human = await ask(['--timeout', '1000', 'hi']);
    expect(human.code).toBe(1);
    expect(human.stderr).toMatch(/node\s+outcome\s+class\s+took\s+detail/);
  });

  it('streaming: fails over before the first token', async () => {
    await fault('a', 'down');
    const r = await ask(['--stream', 'stream', 'this']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('[b] stream this\n');
  });

  it('streaming: a break after the first token is reported, never stitched from another node', async () => {
    await fault('a', 'cut');
    const r = await ask(['--stream', 'one', 'two', 'three']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('[a]\n');
    expect(r.stderr).toMatch(/a: the stream broke after 1 token\(s\).*not failing over mid-answer/);
    expect(r.stderr).not.toMatch(/failover/);
  });

  it('reads the prompt from stdin; usage errors exit 2', async () => {
    const { spawnSync } = await import('node:child_process');
    const { BIN } = await import('../helpers/cli.js');
    const r = spawnSync(process.execPath, [BIN, 'ask', '--config', cfg, '--data-dir', dataDir], { input: 'from stdin', env, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('[a] from stdin\n');
    expect((await ask(['--task', 'nope', 'hi'])).code).toBe(2);
    expect((await ask(['--node', 'zz', 'hi'])).code).toBe(2);
    expect((await ask(['hi'], { JARVIS_MAX_ATTEMPTS: 'many' })).code).toBe(3);
  });
});

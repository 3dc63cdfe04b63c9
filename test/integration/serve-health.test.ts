/**
 * `/health` means something for a load balancer in front of several jarvis: 200 ok with every node
 * routable, 200 degraded when some are, 503 down when none can answer; `/health/live` stays 200
 * while the process serves.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanEnv, jarvis, startCluster, startServe, perTest } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

const run = perTest();

describe('/health', () => {
  it('ok, degraded with the count, down (503) as the nodes go; /health/live stays 200', async () => {
    const env = cleanEnv(run.dir);
    const cluster = await startCluster(run.dir, [{ id: 'a', kind: 'ollama', models: ['qwen3:8b'] }, { id: 'b', kind: 'ollama', models: ['qwen3:8b'] }], { timeoutMs: 500 });
    run.sim = cluster.sim;
    run.serve = await startServe({ config: cluster.cfg, dataDir: path.join(run.dir, 'data'), env, args: ['--health-interval', '200'] });
    const health = async () => {
      const r = await fetch(`${run.serve!.url}/health`);
      return { code: r.status, ...((await r.json()) as { status: string; routable: number; unroutable?: string[] }) };
    };
    const fault = (id: string, f: string) => jarvis(['sim', 'fault', run.sim!.ready.control, id, f], { env });
    await waitFor(async () => (await health()).status === 'ok', { what: 'ok', timeoutMs: 30_000 });
    expect(await health()).toMatchObject({ code: 200, status: 'ok', routable: 2 });
    await fault('b', 'down');
    await waitFor(async () => (await health()).status === 'degraded', { what: 'degraded', timeoutMs: 30_000 });
    expect(await health()).toMatchObject({ code: 200, status: 'degraded', routable: 1, unroutable: ['b'] });
    await fault('a', '500');
    await waitFor(async () => (await health()).status === 'down', { what: 'down', timeoutMs: 30_000 });
    expect(await health()).toMatchObject({ code: 503, status: 'down', routable: 0, unroutable: ['a', 'b'] });
    expect((await fetch(`${run.serve.url}/health/live`)).status).toBe(200);
    await fault('a', 'up');
    await fault('b', 'up');
    await waitFor(async () => (await health()).status === 'ok', { what: 'ok again', timeoutMs: 30_000 });
  });
});

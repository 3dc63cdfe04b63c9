/**
 * One truth on every surface: a throttled node (429 the whole time), a healthy one and a down
 * one, read through `status`, `status --json`, `report`, `report --json`, serve's status.json,
 * the status page and /health, as real processes against simulated nodes.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, jarvis, probedOnce, startCluster, startServe, tempDir, type RunningSim } from '../helpers/cli.js';

let tmp: ReturnType<typeof tempDir>;
let sim: RunningSim;
let cfg: string;
let env: NodeJS.ProcessEnv;
let data: string;

beforeAll(async () => {
  tmp = tempDir('jarvis-agree-');
  ({ sim, cfg } = await startCluster(tmp.dir, [{ id: 'q', kind: 'openai', models: ['gemini'], fault: '429:30' }, { id: 'u', kind: 'ollama', models: ['qwen3:8b'] }, { id: 'd', kind: 'ollama', models: ['qwen3:8b'], fault: 'down' }], { timeoutMs: 5000 }));
  env = cleanEnv(tmp.dir);
  data = path.join(tmp.dir, 'data');
});

afterAll(async () => {
  await sim?.stop();
  tmp?.cleanup();
});

const run = (args: string[]) => jarvis([...args, '--config', cfg, '--data-dir', data], { env });

describe('a throttled node, the same on every surface', () => {
  it('status table and JSON, report and its JSON, the page, status.json and /health', async () => {
    for (let i = 0; i < 3; i++) await run(['status', '--json']);
    const table = await run(['status']);
    expect(table.stdout).toMatch(/^q\s+openai\s+\d+\s+throttled\s/m);
    expect(table.stdout).toMatch(/q throttled/);
    const json = JSON.parse((await run(['status', '--json'])).stdout) as { nodes: { id: string; status: string; throttled?: boolean }[]; summary: { throttled: number; failing: number } };
    // `status` stays the contract's word; `throttled: true` says the rest.
    expect(json.nodes.find((n) => n.id === 'q')).toMatchObject({ status: 'http_error', throttled: true });
    expect(json.summary).toMatchObject({ failing: 2, throttled: 1 });

    type NodeReport = { node: string; uptimePct: number | null; throttledMs: number; downMs: number; watchedMs: number; windowMs: number };
    const report = JSON.parse((await run(['report', '--json'])).stdout) as { nodes: NodeReport[] };
    const by = Object.fromEntries(report.nodes.map((n) => [n.node, n]));
    // Throttled is neither up nor down: no uptime at all, its own time.
    expect(by.q).toMatchObject({ uptimePct: null, downMs: 0 });
    expect(by.q!.throttledMs).toBeGreaterThan(0);
    expect(by.u!.uptimePct).toBe(100);
    expect(by.d!.uptimePct).toBe(0);
    // Watched for seconds of a week: said, and no percentage for the rest.
    for (const n of report.nodes) expect(n.watchedMs).toBeLessThan(n.windowMs / 1000);
    const human = (await run(['report'])).stdout;
    expect(human).toMatch(/^node\s+uptime\s+throttled\s+watched\s/m);
    expect(human).toMatch(/^q\s+-\s+[\d.]+ s\s+[\d.]+ s of 7 d\s/m);
    expect(human).toMatch(/^u\s+100\.00 %\s+-\s+[\d.]+ s of 7 d\s/m);

    const serve = await startServe({ config: cfg, dataDir: data, env, args: ['--health-interval', '1000'] });
    try {
      await probedOnce(serve.url);
      const live = (await (await fetch(`${serve.url}/status.json`)).json()) as { cluster: { overall: string; down: string[]; throttled: string[] }; nodes: { id: string; status: string }[] };
      expect(live.nodes.map((n) => [n.id, n.status])).toEqual([
        ['q', 'throttled'],
        ['u', 'ok'],
        ['d', 'refused'],
      ]);
      expect(live.cluster).toMatchObject({ overall: 'partial_outage', down: ['d'], throttled: ['q'] });
      const health = (await (await fetch(`${serve.url}/health`)).json()) as { status: string; overall: string; unroutable: string[] };
      expect(health).toMatchObject({ status: 'degraded', overall: 'partial_outage', unroutable: ['d', 'q'] });
      const html = await (await fetch(`${serve.url}/status`)).text();
      expect(html).toMatch(/<tr data-node="q" data-status="throttled">.*?<span class="st thr">throttled<\/span>/);
      expect(html).toContain('<b id="overall">Partial outage</b>');
    } finally {
      await serve.stop();
    }
  });
});

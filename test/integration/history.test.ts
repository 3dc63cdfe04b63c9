/**
 * The probe history through the built CLI: sim nodes switched down and up across midnight
 * (JARVIS_NOW), eight `jarvis status` processes and a `jarvis serve` writing at once, and
 * `jarvis report` reading it back.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, jarvis, startServe, startCluster, tempDir, type RunningSim } from '../helpers/cli.js';

let tmp: ReturnType<typeof tempDir>;
let sim: RunningSim;
let cfg: string;

beforeAll(async () => {
  tmp = tempDir('jarvis-history-');
  ({ sim, cfg } = await startCluster(tmp.dir, [{ id: 'a', kind: 'openai', models: ['m-a'] }, { id: 'b', kind: 'ollama', models: ['qwen3:8b'] }], { timeoutMs: 1000, extra: 'check: { upAfter: 2, confirmProbes: 1, confirmDelayMs: 0 }\n' }));
});

afterAll(async () => {
  await sim?.stop();
  tmp?.cleanup();
});

interface ReportJson {
  nodes: { node: string; uptimePct: number | null; downPeriods: { from: string; to?: string; cause?: string }[]; probes: { ok: number; failed: number }; requests?: { ok: number; failed: number } }[];
}

describe('probe history', () => {
  it('a node switched down and up across midnight: one outage, from its first failure to its second answer', async () => {
    const data = path.join(tmp.dir, 'data-midnight');
    const t0 = Date.parse('2026-11-30T23:58:00Z');
    const at = (m: number) => cleanEnv(tmp.dir, { JARVIS_NOW: new Date(t0 + m * 60_000).toISOString() });
    const status = (m: number) => jarvis(['status', '--json', '--config', cfg, '--data-dir', data], { env: at(m) });
    const fault = async (f: string) => expect((await jarvis(['sim', 'fault', sim.ready.control, 'a', f], { env: cleanEnv(tmp.dir) })).code).toBe(0);
    await status(0);
    await status(1);
    await fault('down');
    await status(2); // 00:00, the next day
    await status(3);
    await fault('up');
    await status(4);
    await status(5);
    // An hour later: the hours before are folded into their day files.
    const r = await jarvis(['report', '--since', '2026-11-30T23:00:00Z', '--json', '--config', cfg, '--data-dir', data], { env: at(65) });
    const j = JSON.parse(r.stdout) as ReportJson;
    const a = j.nodes.find((n) => n.node === 'a')!;
    // JARVIS_NOW pins each process's start; its own run adds some ms (seconds on a busy machine).
    expect(a.downPeriods).toEqual([{ from: expect.stringMatching(/^2026-12-01T00:00:0\d\.\d+Z$/) as string, to: expect.stringMatching(/^2026-12-01T00:03:0\d\.\d+Z$/) as string, ms: expect.any(Number) as number, cause: 'refused' }]);
    expect(Math.abs(Date.parse(a.downPeriods[0]!.to!) - Date.parse(a.downPeriods[0]!.from) - 180_000)).toBeLessThan(10_000);
    expect(a.probes).toEqual({ ok: 4, failed: 2 });
    expect(j.nodes.find((n) => n.node === 'b')!.uptimePct).toBe(100);
    const md = await jarvis(['report', '--since', '2026-11-30T23:00:00Z', '--markdown', '--config', cfg, '--data-dir', data], { env: at(65) });
    expect(md.stdout).toMatch(/^## Cluster report, 2026-11-30 to 2026-12-01\n\n\| node \| uptime/);
    expect(md.stdout).toContain('- **a** down from 2026-12-01 00:00 UTC for 3 min (refused)');
  });

  it('eight status processes and a serve write at once: every probe and request is counted, nothing is lost', async () => {
    const data = path.join(tmp.dir, 'data-concurrent');
    const env = cleanEnv(tmp.dir);
    const serve = await startServe({ config: cfg, dataDir: data, env, args: ['--health-interval', '600000'] });
    let requests = 0;
    try {
      const statuses = Array.from({ length: 8 }, () => jarvis(['status', '--json', '--config', cfg, '--data-dir', data], { env }));
      for (let i = 0; i < 20; i++) {
        const res = await fetch(`${serve.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'a', messages: [{ role: 'user', content: 'hi' }] }) });
        if (res.ok) requests++;
        await res.text();
      }
      await Promise.all(statuses);
    } finally {
      // Its request outcomes are appended at shutdown.
      expect(await serve.stop()).toBe(0);
    }
    const r = await jarvis(['report', '--since', '1h', '--json', '--config', cfg, '--data-dir', data], { env });
    const j = JSON.parse(r.stdout) as ReportJson;
    const a = j.nodes.find((n) => n.node === 'a')!;
    // serve's own health check probes at start too: at least the eight of status.
    expect(a.probes.ok).toBeGreaterThanOrEqual(8);
    expect(j.nodes.find((n) => n.node === 'b')!.probes.ok).toBe(a.probes.ok);
    expect(requests).toBe(20);
    expect(a.requests).toEqual({ ok: 20, failed: 0, p50Ms: expect.any(Number) as number, p95Ms: expect.any(Number) as number, ttftP50Ms: null });
  });

  it('a bad --since is a usage error', async () => {
    const r = await jarvis(['report', '--since', 'yesterday-ish', '--config', cfg, '--data-dir', path.join(tmp.dir, 'd')], { env: cleanEnv(tmp.dir) });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--since: expected a duration such as 24h/);
  });
});

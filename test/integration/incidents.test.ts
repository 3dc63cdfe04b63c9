/**
 * The incident log under real concurrency and controlled time: eight jarvis processes appending
 * at once lose nothing; the 24 h window and retention follow JARVIS_NOW (an injected clock).
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, freePort, jarvis, tempDir } from '../helpers/cli.js';

let tmp: ReturnType<typeof tempDir>;
let cfg: string;
let dataDir: string;
let env: NodeJS.ProcessEnv;

beforeEach(async () => {
  tmp = tempDir();
  dataDir = path.join(tmp.dir, 'data');
  env = cleanEnv(tmp.dir);
  const fail = path.join(tmp.dir, 'fail.cjs');
  writeFileSync(fail, 'process.exit(1)');
  const port = await freePort();
  // A refused port answers at once: the timeout is far away so that a busy machine (eight
  // recoveries, each probing the other seven nodes of its machine) never turns it into a timeout.
  const nodes = Array.from({ length: 8 }, (_, i) => `  - { id: n${i + 1}, kind: ollama, url: "http://127.0.0.1:${port}", timeoutMs: 5000, restart: [${JSON.stringify(process.execPath)}, ${JSON.stringify(fail)}] }`);
  cfg = path.join(tmp.dir, 'jarvis.config.yaml');
  writeFileSync(cfg, `nodes:\n${nodes.join('\n')}\n`);
});
afterEach(() => tmp.cleanup());

const run = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
  new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args, '--config', cfg, '--data-dir', dataDir], { env: { ...env, ...extraEnv }, stdio: 'ignore' });
    child.once('exit', resolve);
  });

interface StoredIncident {
  id: string;
  node: string;
  at: string;
  escalated: boolean;
  outcome: string;
}
const stored = () => (JSON.parse(readFileSync(path.join(dataDir, 'incidents.json'), 'utf8')) as { incidents: StoredIncident[] }).incidents;

describe('concurrent writers', () => {
  it('eight processes appending at once lose nothing and leave valid JSON', async () => {
    const rounds = 3;
    await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        for (let r = 0; r < rounds; r++) expect(await run(['recover', `n${i + 1}`])).toBe(1);
      }),
    );
    const incidents = stored();
    expect(incidents).toHaveLength(8 * rounds);
    expect(new Set(incidents.map((i) => i.id)).size).toBe(8 * rounds);
    for (let i = 1; i <= 8; i++) {
      const mine = incidents.filter((x) => x.node === `n${i}`);
      expect(mine).toHaveLength(rounds);
      // The third on each node escalates: each append saw the ones before it.
      expect(mine.filter((x) => x.escalated)).toHaveLength(1);
    }
  });
});

describe('jarvis incidents', () => {
  const t0 = Date.parse('2026-11-01T08:00:00Z');
  const at = (hours: number) => ({ JARVIS_NOW: new Date(t0 + hours * 3600_000).toISOString() });

  it('the 24 h window follows the clock; filters; per-node counts; --json', async () => {
    await run(['recover', 'n1'], at(0));
    await run(['recover', 'n1'], at(20));
    await run(['recover', 'n1'], at(25)); // the first has left the window: 2 within 24 h
    await run(['recover', 'n1'], at(26)); // 20 h, 25 h, 26 h: three within 24 h
    await run(['recover', 'n2'], at(26));
    expect(stored().map((i) => [i.node, i.escalated])).toEqual([
      ['n1', false],
      ['n1', false],
      ['n1', false],
      ['n1', true],
      ['n2', false],
    ]);

    const json = await jarvis(['incidents', '--json', '--config', cfg, '--data-dir', dataDir], { env: { ...env, ...at(27) } });
    expect(json.code).toBe(0);
    const r = JSON.parse(json.stdout) as { total: number; matched: number; incidents: StoredIncident[]; window: { nodes: { node: string; count: number; escalated: boolean }[] } };
    expect(r.total).toBe(5);
    expect(r.incidents.map((i) => i.at)).toEqual([...r.incidents.map((i) => i.at)].sort().reverse());
    expect(r.window.nodes).toEqual([
      { node: 'n1', count: 3, recorded: 3, escalated: true },
      { node: 'n2', count: 1, recorded: 1, escalated: false },
    ]);

    const filtered = async (...args: string[]) =>
      (JSON.parse((await jarvis(['incidents', '--json', ...args, '--config', cfg, '--data-dir', dataDir], { env: { ...env, ...at(27) } })).stdout) as { matched: number }).matched;
    expect(await filtered('--node', 'N1')).toBe(4);
    expect(await filtered('--since', '150m')).toBe(3);
    expect(await filtered('--escalated')).toBe(1);
    expect(await filtered('--since', '2026-11-02T09:30:00Z')).toBe(2);

    const human = await jarvis(['incidents', '--config', cfg, '--data-dir', dataDir], { env: { ...env, ...at(27) } });
    expect(human.stdout).toMatch(/^when\s+node\s+status\s+diagnosis\s+outcome\s+took/);
    expect(human.stdout).toMatch(/ESCALATED/);
    expect(human.stdout).toMatch(/last 24 h: n1 3, 3 counting \(escalated\) · n2 1, 1 counting/);

    const bad = await jarvis(['incidents', '--since', 'yesterday-ish', '--config', cfg, '--data-dir', dataDir], { env });
    expect(bad.code).toBe(2);
  });

  it('retention: old incidents are reported, and pruned only when said so, never silently', async () => {
    await run(['recover', 'n1'], at(0));
    await run(['recover', 'n2'], at(24 * 80));
    const later = { ...env, JARVIS_NOW: new Date(t0 + 91 * 86_400_000).toISOString() };
    const list = await jarvis(['incidents', '--config', cfg, '--data-dir', dataDir], { env: later });
    expect(list.stdout).toMatch(/1 incident\(s\) are older than the retention period/);
    expect(stored()).toHaveLength(2);
    const pruned = await jarvis(['incidents', '--prune', '--json', '--config', cfg, '--data-dir', dataDir], { env: later });
    expect((JSON.parse(pruned.stdout) as { pruned: number }).pruned).toBe(1);
    expect(stored().map((i) => i.node)).toEqual(['n2']);
  });

  it('no incidents yet: says so, exit 0', async () => {
    const r = await jarvis(['incidents', '--config', cfg, '--data-dir', dataDir], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/no incidents recorded/);
  });
});

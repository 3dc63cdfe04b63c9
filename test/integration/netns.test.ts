/**
 * `unreachable` and `dns` need a network where other addresses really are unreachable: an empty
 * network namespace (`unshare -rn`) made by the test. Nothing leaves it; where the machine does
 * not allow one, the tests are skipped with the reason printed.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, jarvis, tempDir } from '../helpers/cli.js';

const probe = spawnSync('unshare', ['-rn', 'true'], { encoding: 'utf8' });
const netnsReason = probe.error ? `unshare not available: ${probe.error.message}` : probe.status !== 0 ? `unshare -rn failed: ${probe.stderr.trim()}` : '';
if (netnsReason) console.warn(`[skip] network-namespace tests: ${netnsReason}`);
const hasPing = spawnSync('ping', ['-V'], { encoding: 'utf8' }).error === undefined;

let tmp: ReturnType<typeof tempDir>;
let configPath: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  tmp = tempDir();
  env = cleanEnv(tmp.dir);
  configPath = path.join(tmp.dir, 'ns.yaml');
  // 192.0.2.0/24 is TEST-NET-1 (RFC 5737), and .invalid never resolves (RFC 2606); inside the
  // empty namespace there is no route and no resolver anyway.
  writeFileSync(
    configPath,
    [
      'nodes:',
      '  - { id: far, kind: lmstudio, url: "http://192.0.2.1:1234", model: mistral, timeoutMs: 2000, fallbacks: [named] }',
      '  - { id: named, kind: ollama, url: "http://jarvis-test-node.invalid:11434", timeoutMs: 2000 }',
      '',
    ].join('\n'),
  );
});
afterAll(() => tmp?.cleanup());

describe.skipIf(Boolean(netnsReason))('inside an empty network namespace', () => {
  const inNetns = ['unshare', '-rn'];

  it('status: no route -> unreachable, no resolver -> dns, at once', async () => {
    const r = await jarvis(['status', '--json', '--config', configPath], { env, wrapper: inNetns });
    expect(r.code).toBe(1);
    const json = JSON.parse(r.stdout) as { nodes: { id: string; status: string; detail: string; latencyMs: number }[] };
    expect(json.nodes.find((n) => n.id === 'far')).toMatchObject({ status: 'unreachable', detail: expect.stringMatching(/ENETUNREACH|EHOSTUNREACH/) });
    expect(json.nodes.find((n) => n.id === 'named')).toMatchObject({ status: 'dns' });
    // Both are decided by the kernel / resolver, not by waiting out the timeout.
    for (const n of json.nodes) expect(n.latencyMs).toBeLessThan(2000);
  });

  it('diagnose: machine unreachable, host check, fallbacks named', async () => {
    const r = await jarvis(['diagnose', 'far', '--json', '--config', configPath], { env, wrapper: inNetns });
    expect(r.code).toBe(1);
    const d = JSON.parse(r.stdout) as { diagnosis: { cause: string; recovery: string }; host: { reachable: boolean | null; detail: string }; fallbacks: { node: string; status: string }[] };
    expect(d.diagnosis).toMatchObject({ cause: 'machine unreachable', recovery: 'none' });
    if (hasPing) expect(d.host.reachable).toBe(false);
    else expect(d.host).toMatchObject({ reachable: null, detail: expect.stringMatching(/no ping command/) });
    expect(d.fallbacks).toEqual([expect.objectContaining({ node: 'named', status: 'dns' })]);
  });
});

describe('host check on loopback', () => {
  it(hasPing ? 'ping answers for 127.0.0.1' : 'no ping binary: the host check is unknown, not a crash', async () => {
    const cfg = path.join(tmp.dir, 'lo.yaml');
    // Port 9 (discard) on loopback: nothing listens, so the probe is refused and the host pinged.
    writeFileSync(cfg, 'nodes:\n  - { id: lo, kind: ollama, url: "http://127.0.0.1:9", timeoutMs: 1000 }\n');
    const r = await jarvis(['diagnose', 'lo', '--json', '--config', cfg], { env });
    expect(r.code).toBe(1);
    const d = JSON.parse(r.stdout) as { node: { status: string }; host: { reachable: boolean | null; detail: string } };
    expect(d.node.status).toBe('refused');
    if (hasPing) expect(d.host.reachable).toBe(true);
    else expect(d.host).toMatchObject({ reachable: null, detail: expect.stringMatching(/no ping command/) });
  });
});

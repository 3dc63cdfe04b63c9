/** The CLI's edges as a user meets them: config problems, init, usage errors, the demo. */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INIT_TEMPLATE } from '../../src/config/template.js';
import { cleanEnv, jarvis, tempDir } from '../helpers/cli.js';

let tmp: ReturnType<typeof tempDir>;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  tmp = tempDir();
  env = cleanEnv(tmp.dir);
});
afterAll(() => tmp?.cleanup());

describe('config problems exit 3 with what and where', () => {
  it('no config anywhere: says where it looked, points at init and demo', async () => {
    const r = await jarvis(['status'], { env, cwd: tmp.dir });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/no config found/);
    expect(r.stderr).toContain(path.join(tmp.dir, 'jarvis.config.yaml'));
    expect(r.stderr).toMatch(/jarvis init/);
    expect(r.stderr).toMatch(/jarvis demo/);
    expect(r.stdout).toBe('');
  });

  it('an invalid field: file, line, field path, expectation', async () => {
    const file = path.join(tmp.dir, 'bad.yaml');
    writeFileSync(file, 'nodes:\n  - id: a\n    kind: ollama\n    url: http://127.0.0.1:1\n  - id: b\n    kind: ollama\n    url: http://127.0.0.1:2\n  - id: c\n    kind: lmstudio\n    url: not-a-url\n');
    const r = await jarvis(['status', '--json', '--config', file], { env });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`invalid config ${file}`);
    expect(r.stderr).toMatch(/line 10: nodes\[2\]\.url: expected an http\(s\) URL, got "not-a-url"/);
    expect(r.stdout).toBe('');
  });

  it('a missing --config file', async () => {
    const r = await jarvis(['status', '--config', path.join(tmp.dir, 'nope.yaml')], { env });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/config file not found: .*nope\.yaml \(from --config\)/);
  });
});

describe('jarvis init', () => {
  it('writes the runbook cluster, refuses to overwrite, --force replaces', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const first = await jarvis(['init'], { env, cwd: dir });
      expect(first.code).toBe(0);
      const file = path.join(dir, 'jarvis.config.yaml');
      expect(readFileSync(file, 'utf8')).toBe(`# yaml-language-server: $schema=./jarvis.schema.json\n${INIT_TEMPLATE}`);
      expect(first.stdout).toMatch(/Wrote .*jarvis\.config\.yaml \(the runbook's 6 nodes\)/);

      writeFileSync(file, '# my edits\n');
      const second = await jarvis(['init'], { env, cwd: dir });
      expect(second.code).toBe(3);
      expect(second.stderr).toMatch(/already exists; not overwriting it \(use --force/);
      expect(readFileSync(file, 'utf8')).toBe('# my edits\n');

      const forced = await jarvis(['init', '--force', '--json'], { env, cwd: dir });
      expect(forced.code).toBe(0);
      expect(JSON.parse(forced.stdout)).toMatchObject({ path: file, nodes: 6, overwritten: true });
      expect(readFileSync(file, 'utf8')).toBe(`# yaml-language-server: $schema=./jarvis.schema.json\n${INIT_TEMPLATE}`);
    } finally {
      cleanup();
    }
  });
});

describe('usage', () => {
  it('--help and --version exit 0', async () => {
    const help = await jarvis(['--help'], { env });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/status[\s\S]*diagnose[\s\S]*demo/);
    const version = await jarvis(['--version'], { env });
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('unknown command or option, missing argument: exit 2', async () => {
    expect((await jarvis(['frobnicate'], { env })).code).toBe(2);
    expect((await jarvis(['status', '--frob'], { env })).code).toBe(2);
    expect((await jarvis(['diagnose'], { env })).code).toBe(2);
  });

  it('sim fault with a control URL that is wrong or not answering: one line naming it, exit 3, no trace', async () => {
    for (const [url, said] of [
      ['notaurl', /"notaurl" is not the control URL a sim prints when ready/],
      ['http://127.0.0.1:1', /sim control http:\/\/127\.0\.0\.1:1: connection refused/],
    ] as const) {
      const r = await jarvis(['sim', 'fault', url, 'a', 'up'], { env });
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(said);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});

describe('jarvis demo', () => {
  it('runs the runbook cluster simulated, shows status and diagnoses, cleans up, exits 0', async () => {
    // About a minute alone; beside another suite on two cores, three or four.
    const r = await jarvis(['demo', '--keep'], { env, timeoutMs: 280_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\$ jarvis status/);
    expect(r.stdout).toMatch(/^ol1\s+ollama\s+3\s+refused/m);
    expect(r.stdout).toMatch(/^m2\s+lmstudio\s+1\s+timeout/m);
    expect(r.stdout).toMatch(/^gemini\s+proxy\s+4\s+throttled/m);
    expect(r.stdout).toMatch(/\$ jarvis diagnose ol1[\s\S]*Restart it: /);
    expect(r.stdout).toMatch(/Demo done: jarvis saw every fault the demo made/);
    // The sim process it started is gone.
    const pid = Number(/sim pid (\d+)/.exec(r.stdout)?.[1]);
    expect(pid).toBeGreaterThan(0);
    expect(() => process.kill(pid, 0)).toThrow();
    // jarvis serve in front of the same cluster: the trace, then OL1 healed in the background.
    expect(r.stdout).toMatch(/\{"model":"jarvis\/code"\}\n {2}-> 200 from m3, x-jarvis-attempts: m2=circuit_open,m3=ok/);
    expect(r.stdout).toMatch(/serve log │ heal: ol1 recovered, back in service/);
    expect(r.stdout).toMatch(/serve log │ jarvis serve: stopped; breaker state saved/);
    const servePid = Number(/listening on \S+ \(pid (\d+)\)/.exec(r.stdout)?.[1]);
    expect(servePid).toBeGreaterThan(0);
    expect(() => process.kill(servePid, 0)).toThrow();
    const kept = /Kept (\S+)/.exec(r.stdout)?.[1];
    expect(kept && existsSync(path.join(kept, 'jarvis.config.yaml'))).toBe(true);
    // Every node process a recovery started (jarvis recover, then serve's healer) is gone too.
    const { incidents } = JSON.parse(readFileSync(path.join(kept!, 'data', 'incidents.json'), 'utf8')) as { incidents: { steps: { pid?: number }[] }[] };
    const restarted = incidents.flatMap((i) => i.steps.flatMap((s) => (s.pid ? [s.pid] : [])));
    expect(restarted.length).toBe(2);
    const alive = (p: number) => {
      try {
        process.kill(p, 0);
        return true;
      } catch {
        return false;
      }
    };
    // Orphans are reaped by init, which may take a moment.
    for (let i = 0; i < 50 && restarted.some(alive); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(restarted.filter(alive)).toEqual([]);
    if (kept) rmSync(kept, { recursive: true, force: true });
  }, 300_000);
});

/**
 * Record, then act, on a data dir that cannot take the record: a full disk (a 64 KiB tmpfs,
 * filled), a read-only one, one under a file, one under /proc. `recover`, `check --recover`,
 * `check --nagios` and `POST /api/heal` restart nothing, say in one line which path and why, and
 * leave no lock held and no temp file; once there is room again the next recovery works,
 * without restarting serve. The tmpfs tests need mount (root); elsewhere they are skipped, saying so.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanEnv, freePort, jarvis, startServe, tempDir } from '../helpers/cli.js';

let tmp: ReturnType<typeof tempDir>;
let env: NodeJS.ProcessEnv;
const mounts: string[] = [];
/** Ports a restart may have started a server on: whatever listens there is stopped after the test. */
const ports: number[] = [];

beforeEach(() => {
  tmp = tempDir();
  env = cleanEnv(tmp.dir);
});

afterEach(async () => {
  const { portHolders } = await import('../../src/system/ports.js');
  const { runCommand } = await import('../../src/system/process.js');
  for (const port of ports.splice(0)) {
    for (const h of (await portHolders(port, runCommand)) ?? []) {
      try {
        process.kill(h.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  }
  for (const m of mounts.splice(0)) spawnSync('umount', ['-l', m]);
  tmp.cleanup();
});

/** A tmpfs of `size` at `dir`, unmounted after the test; undefined where mount is not permitted. */
function tmpfs(dir: string, options: string): boolean {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
  if (r.status !== 0) return false;
  mounts.push(dir);
  return true;
}
const canMount = (() => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const probe = tempDir('jarvis-mount-');
  const ok = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8k', 'tmpfs', probe.dir]).status === 0;
  if (ok) spawnSync('umount', [probe.dir]);
  probe.cleanup();
  return ok;
})();
if (!canMount) console.warn('data-dir.test: mount -t tmpfs is not permitted here (needs root on Linux): the full-disk and read-only cases are skipped');

/** Fills the file system under `dir` to the last byte. */
function fill(dir: string): string {
  const file = path.join(dir, 'ballast');
  spawnSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1k', 'count=100000']);
  spawnSync('sh', ['-c', `for i in $(seq 1 64); do echo x > ${dir}/tiny-$i 2>/dev/null || break; done`]);
  return file;
}

/** A node that is down, whose restart leaves a marker (did jarvis act?) and starts a sim node on its port. */
async function downNode(): Promise<{ config: string; marker: string; port: number }> {
  const port = await freePort();
  ports.push(port);
  const marker = path.join(tmp.dir, 'restarted');
  const script = path.join(tmp.dir, 'start.cjs');
  writeFileSync(script, `require('fs').appendFileSync(${JSON.stringify(marker)}, 'x'); require('http').createServer((q, s) => { s.setHeader('content-type', 'application/json'); s.end(q.url.startsWith('/api/tags') ? '{"models":[{"name":"qwen3:8b"}]}' : '{"model":"qwen3:8b","message":{"role":"assistant","content":"pong"},"done":true}'); }).listen(${port}, '127.0.0.1');`);
  const config = path.join(tmp.dir, 'jarvis.config.yaml');
  writeFileSync(config, `nodes:\n  - { id: x, kind: ollama, url: "http://127.0.0.1:${port}", model: "qwen3:8b", timeoutMs: 2000, restart: [${JSON.stringify(process.execPath)}, ${JSON.stringify(script)}], process: false }\ncheck: { confirmDelayMs: 0 }\n`);
  return { config, marker, port };
}

/** Files a failed write could leave: lowdb's and ours temp files, lock dirs, owner files. */
function leftovers(dataDir: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of existsSync(d) ? readdirSync(d, { withFileTypes: true }) : []) {
      const p = path.join(d, e.name);
      if (/\.tmp$|\.lock$|\.owner\.json/.test(e.name)) found.push(path.relative(dataDir, p));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dataDir);
  return found;
}

const oneLine = (stderr: string) => stderr.trim().split('\n').filter((l) => !l.startsWith('(node:'));

describe.skipIf(!canMount)('a full disk', () => {
  it('recover, check --recover, check --nagios: exit 3 naming the path, nothing restarted, no lock or temp left; --force acts and says it is unrecorded; room again: it works', async () => {
    const { config, marker } = await downNode();
    const dataDir = path.join(tmp.dir, 'data');
    expect(tmpfs(dataDir, 'size=64k')).toBe(true);
    // A log with history in it, then no room for another byte.
    const seed = await jarvis(['incidents', '--json', '--config', config, '--data-dir', dataDir], { env });
    expect(seed.code).toBe(0);
    const ballast = fill(dataDir);
    const run = (args: string[]) => jarvis([...args, '--config', config, '--data-dir', dataDir], { env, timeoutMs: 60_000 });

    const r = await run(['recover', 'x']);
    expect(r.code).toBe(3);
    expect(oneLine(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/ENOSPC/);
    expect(r.stderr).toMatch(new RegExp(`${dataDir.replace(/[/.]/g, '\\$&')}/\\S+`));
    expect(r.stderr).not.toMatch(/\n\s+at |internal error/);
    expect(existsSync(marker)).toBe(false);
    expect(leftovers(dataDir)).toEqual([]);

    const check = await run(['check', '--recover']);
    expect(check.code).toBe(3);
    expect(check.stdout + check.stderr).toMatch(/ENOSPC/);
    expect(check.stderr).not.toMatch(/\n\s+at /);
    const nagios = await run(['check', '--recover', '--nagios']);
    expect(nagios.code).toBe(3);
    expect(nagios.stdout).toMatch(/^JARVIS UNKNOWN - .*ENOSPC/);
    expect(nagios.stdout.trim().split('\n')).toHaveLength(1);
    expect(existsSync(marker)).toBe(false);
    expect(leftovers(dataDir)).toEqual([]);

    const forced = await run(['recover', 'x', '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/forced: this recovery could not be recorded in the incident log \(.*ENOSPC/);
    expect(existsSync(marker)).toBe(true);
    expect(leftovers(dataDir)).toEqual([]);

    // Room again: the next recovery records as usual.
    rmSync(ballast);
    spawnSync('sh', ['-c', `rm -f ${dataDir}/tiny-*`]);
    const stop = await run(['recover', 'x', '--json']);
    expect(stop.code).toBe(0);
  });

  it('POST /api/heal: 503 in the API\'s shape, nothing restarted; after space is freed, the next heal works without restarting serve', async () => {
    const { config, marker } = await downNode();
    const dataDir = path.join(tmp.dir, 'data');
    expect(tmpfs(dataDir, 'size=256k')).toBe(true);
    const serve = await startServe({ config, dataDir, env });
    try {
      const ballast = fill(dataDir);
      const heal = () => fetch(`${serve.url}/api/heal`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ node: 'x' }) });
      const refused = await heal();
      expect(refused.status).toBe(503);
      const body = (await refused.json()) as { error: { message: string; type: string; code: string } };
      expect(body.error).toMatchObject({ type: 'server_error', code: 'incidents_unwritable', message: expect.stringMatching(/ENOSPC/) });
      expect(existsSync(marker)).toBe(false);
      expect(leftovers(dataDir)).toEqual([]);
      rmSync(ballast);
      spawnSync('sh', ['-c', `rm -f ${dataDir}/tiny-*`]);
      const healed = await heal();
      expect(healed.status).toBe(200);
      expect(((await healed.json()) as { outcome: string }).outcome).toBe('recovered');
      expect(existsSync(marker)).toBe(true);
      expect(serve.log()).not.toMatch(/\n\s+at /);
    } finally {
      await serve.stop();
    }
  });
});

describe.skipIf(!canMount)('a read-only data dir', () => {
  it('recover: exit 3 with EROFS, nothing restarted', async () => {
    const { config, marker } = await downNode();
    const dataDir = path.join(tmp.dir, 'data');
    expect(tmpfs(dataDir, 'size=64k,ro')).toBe(true);
    const r = await jarvis(['recover', 'x', '--config', config, '--data-dir', dataDir], { env, timeoutMs: 60_000 });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/EROFS/);
    expect(oneLine(r.stderr)).toHaveLength(1);
    expect(existsSync(marker)).toBe(false);
  });
});

describe('a corrupt incident log under serve --auto-recover', () => {
  it('the health loop goes on (probes, metrics), restarts nothing, and says why in one log line', async () => {
    const { config, marker } = await downNode();
    const dataDir = path.join(tmp.dir, 'data');
    mkdirSync(dataDir);
    writeFileSync(path.join(dataDir, 'incidents.json'), '{"incidents": [');
    const serve = await startServe({ config, dataDir, env, args: ['--auto-recover', '--health-interval', '200'] });
    try {
      await serve.waitForLog(/health: x refused: not restarting it, since its incident cannot be recorded: .*incidents\.json is not valid JSON/, 20_000);
      const metrics = await (await fetch(`${serve.url}/metrics`)).text();
      expect(metrics).toMatch(/jarvis_probe_up\{node="x"\} 0/);
      expect(existsSync(marker)).toBe(false);
      expect(serve.log()).not.toMatch(/health: check failed|\n\s+at /);
    } finally {
      await serve.stop();
    }
  });
});

describe('a data dir that cannot be made', () => {
  it.each([
    ['under a file', (dir: string) => (writeFileSync(path.join(dir, 'file'), 'x'), path.join(dir, 'file', 'data')), /ENOTDIR/],
    ['under /proc', () => '/proc/jarvis-data', /ENOENT|EACCES|EPERM/],
  ])('%s: recover and check --recover fail at once, exit 3, nothing restarted', async (_what, make, code) => {
    const { config, marker } = await downNode();
    const dataDir = make(tmp.dir);
    for (const args of [['recover', 'x'], ['check', '--recover'], ['check', '--recover', '--nagios']]) {
      const r = await jarvis([...args, '--config', config, '--data-dir', dataDir], { env, timeoutMs: 30_000 });
      expect(r.code).toBe(3);
      expect(r.stdout + r.stderr).toMatch(code);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(existsSync(marker)).toBe(false);
  });
});

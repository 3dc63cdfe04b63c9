/**
 * The package as a user gets it: `npm pack` of this checkout, installed globally into an empty
 * prefix without devDependencies and without the network, then run from there against simulated
 * nodes. The CLI is one bundle, so the install brings nothing else.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanEnv, ROOT, startCluster, tempDir, type RunningSim } from '../helpers/cli.js';

const tmp = tempDir('jarvis-package-');
let sim: RunningSim | undefined;
afterAll(async () => {
  await sim?.stop();
  tmp.cleanup();
});

const npm = (args: string[], cwd: string) => spawnSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' }, timeout: 120_000 });

describe('the package', () => {
  it('packs bin, dist without source maps, the runbook, docs and LICENSE; installs alone and runs', async () => {
    // --ignore-scripts: the dist/ the other tests run is not rebuilt under them.
    const packed = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', tmp.dir], ROOT);
    expect(packed.status, packed.stderr).toBe(0);
    const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    const files = info!.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'bin/jarvis.js', 'dist/main.js', 'runbooks/failover.yaml', 'runbooks/failover.md', 'package.json']));
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('node_modules/'))).toEqual([]);

    // Into an empty prefix, runtime dependencies only (there are none), offline.
    const prefix = path.join(tmp.dir, 'prefix');
    const installed = npm(['install', '--global', '--prefix', prefix, '--omit=dev', '--offline', '--no-audit', '--no-fund', path.join(tmp.dir, info!.filename)], tmp.dir);
    expect(installed.status, installed.stderr).toBe(0);
    const pkgDir = path.join(prefix, 'lib', 'node_modules', 'jarvis-cluster');
    expect(existsSync(path.join(pkgDir, 'node_modules')) ? readdirSync(path.join(pkgDir, 'node_modules')) : []).toEqual([]);
    const bin = path.join(prefix, 'bin', 'jarvis');
    const env = cleanEnv(tmp.dir);
    const help = spawnSync(bin, ['--help'], { encoding: 'utf8', env });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: jarvis/);

    const cluster = await startCluster(tmp.dir, [{ id: 'a', kind: 'ollama', models: ['qwen3:8b'] }, { id: 'b', kind: 'lmstudio', models: ['mistral-7b'], fault: 'down' }], { timeoutMs: 2000 });
    sim = cluster.sim;
    const status = spawnSync(bin, ['status', '--json', '--config', cluster.cfg, '--data-dir', path.join(tmp.dir, 'data')], { encoding: 'utf8', env });
    expect(status.status).toBe(1);
    const json = JSON.parse(status.stdout) as { nodes: { id: string; status: string }[] };
    expect(json.nodes.map((n) => [n.id, n.status])).toEqual([
      ['a', 'ok'],
      ['b', 'refused'],
    ]);
  });
});

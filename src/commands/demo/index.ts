/**
 * `jarvis demo`: the main job on a simulated copy of the runbook's cluster. Starts the sim as its
 * own process on free loopback ports with a temp config and data dir, breaks some nodes the way
 * the runbook describes, runs the real CLI on them as a user would (cli-tour.ts), then the proxy
 * (serve-tour.ts), checks that jarvis saw what was broken, and cleans every process up.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stopChild } from '../../system/children.js';
import { askChapter, BROKEN, diagnoseChapter, recordsChapter, recoverChapter, statusChapter, type Chapter } from './cli-tour.js';
import { heading, restartedPids, runCli, startSim } from './parts.js';
import { claudeCodeTour, serveTour } from './serve-tour.js';
import { affinityTour } from './affinity-tour.js';

export interface DemoOptions {
  keep: boolean;
  color: boolean;
  print: (text: string) => void;
  signal: AbortSignal;
}

export async function runDemo(options: DemoOptions): Promise<number> {
  const { print } = options;
  const dir = await mkdtemp(path.join(tmpdir(), 'jarvis-demo-'));
  const configPath = path.join(dir, 'jarvis.config.yaml');
  const dataDir = path.join(dir, 'data');
  const env = { ...process.env, ...(options.color ? { FORCE_COLOR: '1' } : { NO_COLOR: '1' }) };
  let sim: ChildProcess | undefined;
  /** PIDs of restarted sim nodes the demo has stopped itself. */
  const stopped = new Set<number>();
  let failures = 0;
  try {
    print(heading('jarvis demo: the runbook cluster, simulated on 127.0.0.1'));
    print(`Breaking: ${BROKEN.map((b) => b.story).join(', ')}.`);
    const started = await startSim(['--preset', 'runbook', '--config-out', configPath, ...BROKEN.flatMap((b) => ['--fault', `${b.id}=${b.fault}`])], options.signal);
    sim = started.child;
    print(`Six simulated nodes are up (sim pid ${started.child.pid}); config: ${configPath}\n`);
    const chapter: Chapter = {
      run: (args) => runCli([...args, '--config', configPath, '--data-dir', dataDir], env, options.signal),
      print,
      miss: (what) => {
        failures++;
        if (what) print(`demo: expected ${what}`);
      },
      env,
      signal: options.signal,
      configPath,
      dataDir,
      sim: { pid: started.child.pid, control: started.control },
    };
    const seen = await statusChapter(chapter);
    await diagnoseChapter(chapter);
    await recoverChapter(chapter, seen);
    await askChapter(chapter);
    failures += await serveTour({ configPath, dataDir, env, print, signal: options.signal, stopped });
    print('');
    failures += await claudeCodeTour({ configPath, dataDir, env, print, signal: options.signal, stopped, dir });
    print('');
    failures += await affinityTour({ configPath, dataDir, env, print, signal: options.signal, stopped, dir });
    print('');
    await recordsChapter(chapter);
    print(failures === 0 ? 'Demo done: jarvis saw every fault the demo made.' : `Demo finished with ${failures} unexpected result(s).`);
    return failures === 0 ? 0 : 1;
  } finally {
    // Every sim process a recovery started (jarvis recover, serve's healer), once each.
    for (const pid of await restartedPids(dataDir)) {
      if (stopped.has(pid)) continue;
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    if (sim) await stopChild(sim);
    if (options.keep) print(`Kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Builds the context a command runs with (src/commands/context.ts) from the global flags and the
 * process: config, data dir, output, clock, signal and the doors to the network and processes.
 * Each door is imported when first asked for, so `jarvis --help` loads none of them.
 */
import { hostname } from 'node:os';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import type { CommandContext, Sleep } from '../commands/context.js';
import type { ProbeDeps } from '../probe/probe.js';
import type { ExecutorDeps } from '../runbook/executor.js';
import type { Runbook } from '../runbook/runbook.js';
import type { Records } from '../store/records.js';
import { createOutput } from '../ui/output.js';
import { systemClock, type Clock } from '../system/clock.js';

export interface GlobalOptions {
  config?: string;
  dataDir?: string;
  json: boolean;
  color: boolean;
}

export interface ProcessParts {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
}

/** Memoizes an async getter: the first call's promise is every call's. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => (value ??= make());
}

export function createContext(globals: GlobalOptions, proc: ProcessParts): CommandContext {
  const clock = systemClock(proc.env);
  const out = createOutput({ json: globals.json, color: globals.color }, proc.env);
  const signal = proc.signal;
  const dataDir = path.resolve(globals.dataDir ?? proc.env.JARVIS_DATA_DIR ?? 'data');

  // Set once the records are open: a reload (serve's SIGHUP) reaches their retention and escalation.
  let reloaded: (c: Config) => void = () => undefined;
  const reloadConfig = async (): Promise<Config> => {
    const [{ loadConfig }, { rememberConfigSecrets }] = await Promise.all([import('../config/load.js'), import('../config/secrets.js')]);
    const loaded = await loadConfig({ ...(globals.config && { flag: globals.config }), env: proc.env });
    rememberConfigSecrets(loaded, proc.env);
    reloaded(loaded);
    return loaded;
  };
  const config = once(reloadConfig);
  const runbook = once(async (): Promise<Runbook> => (await import('../runbook/runbook.js')).loadRunbook());
  const commandLine = `jarvis ${proc.argv.slice(2).join(' ')}`;
  let opened: Promise<Records> | undefined;
  const records = () => (opened ??= (async (): Promise<Records> => {
    const [{ openRecords }, first] = await Promise.all([import('../store/records.js'), config()]);
    let current = first;
    const made = openRecords({ dataDir, config: () => current, env: proc.env, clock, warn: (m) => process.stderr.write(`jarvis: ${m}\n`), owner: { pid: process.pid, command: commandLine }, instance: `${hostname()}:${process.pid}` });
    reloaded = (c) => void (current = c);
    return made;
  })());
  const { probeDeps, sleep, executorDeps } = doors(proc, clock, records);

  return {
    out,
    dataDir,
    clock,
    signal,
    env: proc.env,
    commandLine,
    hostname: hostname(),
    config,
    reloadConfig,
    runbook,
    records,
    probeDeps,
    executorDeps,
    sleep,
    readStdin: async () => {
      if (process.stdin.isTTY) return '';
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    busy: async (text, work) => {
      const { startSpinner } = await import('../ui/output.js');
      const spinner = await startSpinner(out, text);
      return work().finally(() => spinner.stop());
    },
    close: async () => {
      if (opened) await (await opened).close();
    },
    onHangup: (listener) => {
      process.on('SIGHUP', listener);
      return () => void process.off('SIGHUP', listener);
    },
  };
}

/** The doors to the network and to processes, each imported when first asked for. */
function doors(proc: ProcessParts, clock: Clock, records: () => Promise<Records>): Pick<CommandContext, 'probeDeps' | 'sleep' | 'executorDeps'> {
  const probeDeps = once(async (): Promise<ProbeDeps> => {
    const [{ httpRequest }, { runCommand }] = await Promise.all([import('../probe/http.js'), import('../system/process.js')]);
    return { http: httpRequest, run: runCommand, now: () => clock.monotonic(), signal: proc.signal };
  });
  const sleep = once(async (): Promise<Sleep> => {
    const [{ setTimeout: wait }, { toAbortSignal }] = await Promise.all([import('node:timers/promises'), import('../system/cancel.js')]);
    return (ms, s) => wait(ms, undefined, s ? { signal: toAbortSignal(s) } : {});
  });
  const executorDeps = once(async (): Promise<ExecutorDeps> => {
    const [probe, { spawnDetached }, wait, { readLogTail }, ports, pidFiles] = await Promise.all([probeDeps(), import('../system/process.js'), sleep(), import('../system/logs.js'), import('../system/ports.js'), import('../store/pid-files.js')]);
    return {
      ...probe,
      spawn: spawnDetached,
      sleep: wait,
      readLogTail,
      portHolders: (port) => ports.portHolders(port, probe.run),
      stopHolders: (port, pids, graceMs) => ports.stopHolders(port, pids, graceMs, { run: probe.run, sleep: (ms) => wait(ms) }),
      writePidFile: async (node, started) => pidFiles.writePidFile((await records()).paths.pidFile(node), { ...started, startedAt: new Date(clock.now()).toISOString() }),
      env: proc.env,
      platform: process.platform,
      // By hand, a person's terminal is on stdin; cron, systemd (INVOCATION_ID) and serve's healer have none.
      scheduled: !process.stdin.isTTY || proc.env.INVOCATION_ID !== undefined,
    };
  });
  return { probeDeps, sleep, executorDeps };
}

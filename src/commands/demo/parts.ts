/**
 * What the demo's tours share: the simulated cluster and `jarvis serve` as children, the CLI run
 * as a user would, headings, and the count of what did not go as expected.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { JARVIS_BIN as BIN } from '../../system/paths.js';
import { startReady } from '../../system/children.js';

/** Demo timeouts are shorter than the runbook's 3 s so the tour does not drag. */
const DEMO_TIMEOUT_MS = 1500;

export interface TourOptions {
  configPath: string;
  dataDir: string;
  env: NodeJS.ProcessEnv;
  print: (text: string) => void;
  signal: AbortSignal;
  /** Restarted sim PIDs the tour stops itself (so the demo's cleanup does not signal them twice). */
  stopped: Set<number>;
}

export type CliRun = { code: number; stdout: string; stderr: string };

/** What a tour expects: each miss is printed and counted. */
export function expectations(print: (text: string) => void): { expect: (ok: boolean, what: string) => void; failures: () => number } {
  let count = 0;
  return {
    expect: (ok, what) => {
      if (ok) return;
      count++;
      print(`demo: expected ${what}`);
    },
    failures: () => count,
  };
}

/** A `jarvis serve` child with its log: shown indented as it comes (`showLog`), or waited for. */
export function serveChild(args: string[], o: Pick<TourOptions, 'env' | 'print' | 'signal'>) {
  const child = spawn(process.execPath, [BIN, 'serve', '--json', '--port', '0', ...args], { env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  let shown = 0;
  createInterface({ input: child.stderr }).on('line', (line) => log.push(line.replace(/^\S+Z /, '')));
  /** The server's log lines since the last call, indented. */
  const showLog = () => {
    for (; shown < log.length; shown++) o.print(`  serve log │ ${log[shown]}`);
  };
  const waitLog = async (re: RegExp, ms: number) => {
    const end = Date.now() + ms;
    while (!log.some((l) => re.test(l)) && Date.now() < end && !o.signal.aborted) await new Promise((r) => setTimeout(r, 50));
    return log.some((l) => re.test(l));
  };
  return { child, showLog, waitLog };
}

/** PIDs of the sim processes `jarvis recover` started (from the incident log's step details). */
export async function restartedPids(dataDir: string): Promise<number[]> {
  try {
    const { incidents } = JSON.parse(await readFile(path.join(dataDir, 'incidents.json'), 'utf8')) as { incidents: { steps?: { pid?: number }[] }[] };
    return incidents.flatMap((i) => (i.steps ?? []).flatMap((s) => (s.pid ? [s.pid] : [])));
  } catch {
    return [];
  }
}

export function heading(text: string): string {
  return `── ${text} ${'─'.repeat(Math.max(3, 70 - text.length))}`;
}

/** `jarvis sim cluster ARGS` as a child; resolves when it is ready, with its control URL. */
export async function startSim(args: string[], signal: AbortSignal): Promise<{ child: ChildProcess; control: string }> {
  const child = spawn(process.execPath, [BIN, 'sim', 'cluster', ...args, '--timeout', String(DEMO_TIMEOUT_MS), '--exit-with-parent'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = await startReady(child, { what: 'the simulated cluster', event: 'ready', signal });
  return { child, control: String(ready.control) };
}

export function runCli(args: string[], env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], signal });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

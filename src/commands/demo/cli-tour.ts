/**
 * The demo's command-line chapters: what a person types on a broken cluster (status, diagnose,
 * check, recover, ask, health, report, incidents), each shown as it prints and checked against
 * what the demo broke. Each chapter returns the number of unexpected results.
 */
import { heading, runCli, type CliRun } from './parts.js';

/** What the demo breaks, and what jarvis must report for each. */
export const BROKEN: { id: string; fault: string; expect: string; story: string }[] = [
  { id: 'ol1', fault: 'down', expect: 'refused', story: 'OL1 (Ollama) stopped' },
  { id: 'm2', fault: 'hang', expect: 'timeout', story: 'M2 (LM Studio) hanging' },
  { id: 'gemini', fault: '429:60', expect: 'http_error', story: 'GEMINI over quota' },
];

/** What a chapter works with: the CLI on the demo's config and data dir, and the simulator's control. */
export interface Chapter {
  run: (args: string[]) => Promise<CliRun>;
  print: (text: string) => void;
  /** Counts an unexpected result, saying what was expected. */
  miss: (what?: string) => void;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  configPath: string;
  dataDir: string;
  sim: { pid: number | undefined; control: string };
}

type Node = { id: string; status: string };

/** `jarvis status`, then `--json` checked against exactly what was broken. Returns the nodes seen. */
export async function statusChapter(c: Chapter): Promise<Node[]> {
  c.print(heading('$ jarvis status'));
  const status = await c.run(['status']);
  c.print(status.stdout.trimEnd());
  c.print(`(exit ${status.code}: ${status.code === 1 ? 'some nodes are not ok' : 'unexpected'})\n`);
  if (status.code !== 1) c.miss();
  const nodes = (JSON.parse((await c.run(['status', '--json'])).stdout) as { nodes: Node[] }).nodes;
  for (const b of BROKEN) {
    const seen = nodes.find((n) => n.id === b.id)?.status;
    if (seen !== b.expect) c.miss(`${b.id} to be ${b.expect}, jarvis saw ${seen}`);
  }
  for (const n of nodes.filter((h) => !BROKEN.some((b) => b.id === h.id) && h.status !== 'ok')) c.miss(`${n.id} to be ok, jarvis saw ${n.status}`);
  return nodes;
}

/** `jarvis diagnose` on each broken node and on a healthy one; then `check`, as cron sees it. */
export async function diagnoseChapter(c: Chapter): Promise<void> {
  for (const b of BROKEN) {
    c.print(heading(`$ jarvis diagnose ${b.id}`));
    const d = await c.run(['diagnose', b.id]);
    c.print(d.stdout.trimEnd());
    if (d.stderr.trim()) c.print(d.stderr.trimEnd());
    c.print('');
    if (d.code !== 1) c.miss();
  }
  c.print(heading('$ jarvis diagnose m3   (a healthy node)'));
  const ok = await c.run(['diagnose', 'm3']);
  c.print(ok.stdout.trimEnd());
  if (ok.code !== 0) c.miss();
  // What cron sees: `jarvis check` reports transitions once, and exits like a Nagios plugin.
  c.print(heading('$ jarvis check   (what cron runs; quiet unless something changed)'));
  const check = await c.run(['check']);
  c.print(check.stdout.trimEnd());
  c.print(`(exit ${check.code}: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)\n`);
  if (check.code !== 1 && check.code !== 2) c.miss();
}

/**
 * Runbook steps 3 to 5: bring OL1 back (its restart argv starts the sim again), prove it answers,
 * record the incident. M2 hangs: its process cannot be checked here, so it is not killed, and its
 * work goes to the fallbacks. Then M3, whose port the simulator holds for every node: refused.
 */
export async function recoverChapter(c: Chapter, before: Node[]): Promise<void> {
  for (const id of ['ol1', 'm2']) {
    c.print(heading(`$ jarvis recover ${id}`));
    const r = await c.run(['recover', id]);
    c.print(r.stdout.trimEnd());
    if (r.stderr.trim()) c.print(r.stderr.trimEnd());
    c.print(`(exit ${r.code})\n`);
    if (r.code !== (id === 'ol1' ? 0 : 1)) c.miss(`recover ${id} to exit ${id === 'ol1' ? 0 : 1}, got ${r.code}`);
  }
  // One process serves all six simulated nodes, as a Docker proxy or a supervisor may serve
  // several ports on a real machine: restarting M3 would mean stopping it, and with it the other
  // five. jarvis shows the process is not M3's own server and refuses, even with --force.
  c.print(heading('$ jarvis recover m3 --force   (M3 answers 500; its port is held by the simulator serving every node)'));
  await runCli(['sim', 'fault', c.sim.control, 'm3', '500'], c.env, c.signal);
  const refused = await c.run(['recover', 'm3', '--force']);
  c.print(refused.stdout.trimEnd());
  c.print(`(exit ${refused.code})\n`);
  const after = (JSON.parse((await c.run(['status', '--json'])).stdout) as { nodes: Node[] }).nodes;
  const harmed = after.filter((n) => n.id !== 'm3' && n.status !== before.find((b) => b.id === n.id)?.status && n.id !== 'ol1');
  c.print(`The simulator (pid ${c.sim.pid}) is still running; the other nodes are as they were: ${after.filter((n) => n.id !== 'm3').map((n) => `${n.id} ${n.status}`).join(', ')}.\n`);
  if (refused.code !== 1 || !/which is not this node's server/.test(refused.stdout) || harmed.length > 0) {
    c.miss(`recover m3 to refuse to stop the simulator and leave the other nodes alone (exit ${refused.code}${harmed.length > 0 ? `; changed: ${harmed.map((n) => n.id).join(', ')}` : ''})`);
  }
  await runCli(['sim', 'fault', c.sim.control, 'm3', 'up'], c.env, c.signal);
  c.print(heading('$ jarvis check   (after the recovery)'));
  const check = await c.run(['check']);
  c.print(check.stdout.trimEnd());
  if (!/ol1 RESOLVED/.test(check.stdout)) c.miss('check to report ol1 resolved');
  c.print('');
}

/** Requests keep flowing while M2 hangs: the cascade retries it, opens its breaker, fails over. */
export async function askChapter(c: Chapter): Promise<void> {
  const askEnv = { ...c.env, JARVIS_REQUEST_TIMEOUT_MS: '800', JARVIS_INITIAL_BACKOFF_MS: '200' };
  for (const [i, prompt] of ['write a binary search in Rust', 'and now in Go'].entries()) {
    c.print(heading(`$ jarvis ask --task code "${prompt}"${i === 0 ? '   (M2 hangs)' : '   (M2 breaker open)'}`));
    const a = await runCli(['ask', '--task', 'code', prompt, '--config', c.configPath, '--data-dir', c.dataDir], askEnv, c.signal);
    if (a.stderr.trim()) c.print(a.stderr.trimEnd());
    c.print(a.stdout.trimEnd());
    if (a.code !== 0 || !/\[m3\]/.test(a.stdout)) c.miss(`the answer from m3 (exit ${a.code})`);
    c.print('');
  }
  c.print(heading('$ jarvis health'));
  c.print((await c.run(['health'])).stdout.trimEnd());
  c.print('');
}

/** Every probe of the tour went into the history: the report of this last hour; then the incident log. */
export async function recordsChapter(c: Chapter): Promise<void> {
  c.print(heading('$ jarvis report --since 1h   (from the probe history the tour wrote)'));
  const report = await c.run(['report', '--since', '1h']);
  c.print(report.stdout.trimEnd());
  if (report.code !== 0 || !/ol1/.test(report.stdout)) c.miss(`a report with ol1 (exit ${report.code})`);
  c.print('');
  c.print(heading('$ jarvis incidents'));
  const incidents = await c.run(['incidents']);
  c.print(incidents.stdout.trimEnd());
  if (incidents.code !== 0) c.miss();
  c.print('');
}

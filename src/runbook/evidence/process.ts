/** Is the service's process alive? The runbook's question, asked where the node's commands run (plan.ts builds the command). */
import type { CommandRunner } from '../../system/process.js';
import { displayArgv } from '../../system/process.js';
import { lmsRunning, tasklistHas, type processCheck } from '../commands.js';

export interface ProcessState {
  alive: boolean | null;
  command?: string;
  detail: string;
}

export async function checkProcess(check: ReturnType<typeof processCheck>, run: CommandRunner, options: { timeoutMs: number; signal?: AbortSignal }): Promise<ProcessState> {
  if (!check) return { alive: null, detail: 'no process check for this node' };
  const command = displayArgv(check.argv);
  const r = await run(check.argv, { timeoutMs: options.timeoutMs, ...(options.signal && { signal: options.signal }) });
  let alive: boolean | null = null;
  if (!r.notFound && !r.timedOut) {
    if (check.read === 'tasklist') alive = r.exitCode === 0 ? tasklistHas(r.stdout, check.name ?? '') : null;
    else if (check.read === 'lms-status') alive = lmsRunning(r.stdout);
    else alive = r.exitCode === 0 ? true : r.exitCode === 1 ? false : null;
  }
  const what = check.read === 'lms-status' ? 'the LM Studio server' : `process ${check.name}`;
  const detail =
    alive === true ? `${what} is running` : alive === false ? `${what} is not running` : r.notFound ? `${check.argv[0]} not found: cannot tell` : r.timedOut ? `cannot tell (no answer within ${options.timeoutMs} ms)` : `cannot tell (${r.error ?? `exit ${r.exitCode}`})`;
  return { alive, command, detail };
}

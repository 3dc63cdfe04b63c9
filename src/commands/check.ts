/** `jarvis check`, for cron: the check of every node (check/run.ts) with this run's doors. */
import { checkCluster, type CheckResult } from '../check/run.js';
import type { CommandContext } from './context.js';

export async function runCheck(options: { recover: boolean }, ctx: CommandContext): Promise<CheckResult> {
  const [config, runbook, deps, records] = await Promise.all([ctx.config(), ctx.runbook(), ctx.executorDeps(), ctx.records()]);
  return checkCluster({
    config,
    runbook,
    records,
    deps,
    clock: ctx.clock,
    recover: options.recover || config.check.autoRecover,
    commandLine: ctx.commandLine,
    host: ctx.hostname,
  });
}

/** `jarvis check`, for cron: the check of every node (check/run.ts) with this run's doors. */
import { checkCluster, type CheckResult } from '../check/run.js';
import type { CommandContext } from './context.js';

export async function runCheck(options: { recover: boolean }, ctx: CommandContext): Promise<CheckResult> {
  const [config, runbook, deps] = await Promise.all([ctx.config(), ctx.runbook(), ctx.executorDeps()]);
  return checkCluster({
    config,
    runbook,
    dataDir: ctx.dataDir,
    deps,
    clock: ctx.clock,
    recover: options.recover || config.check.autoRecover,
    commandLine: ctx.commandLine,
    host: ctx.hostname,
  });
}

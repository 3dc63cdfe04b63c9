/** `jarvis check`, for cron: the check of every node (check/run.ts) with this run's doors. */
import { checkCluster, type CheckResult } from '../check/run.js';
import type { CommandContext } from './context.js';
import { redisUrl, sharedState } from '../store/shared-state.js';

export async function runCheck(options: { recover: boolean }, ctx: CommandContext): Promise<CheckResult> {
  const [config, runbook, deps] = await Promise.all([ctx.config(), ctx.runbook(), ctx.executorDeps()]);
  const recover = options.recover || config.check.autoRecover;
  // Recoveries take the shared lease when the proxies share Redis (cron and four proxies, one restart).
  const shared = recover && redisUrl(config, ctx.env) ? await sharedState(config, ctx.dataDir, ctx.env) : undefined;
  try {
    return await checkCluster({
      config,
      runbook,
      dataDir: ctx.dataDir,
      deps,
      clock: ctx.clock,
      recover,
      commandLine: ctx.commandLine,
      host: ctx.hostname,
      ...(shared && { shared }),
    });
  } finally {
    await shared?.close();
  }
}

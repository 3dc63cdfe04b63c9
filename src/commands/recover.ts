/** `jarvis recover <node>`: the runbook's recovery of one node (runbook/recover.ts) with this run's doors. */
import { recoverNode, type RecoverOptions, type RecoverResult } from '../runbook/recover.js';
import type { CommandContext } from './context.js';
import { redisUrl, sharedState } from '../store/shared-state.js';

export type RecoverCommandOptions = Pick<RecoverOptions, 'nodeId' | 'force' | 'wait' | 'dryRun' | 'onEvent' | 'onPlan'>;

export async function runRecover(options: RecoverCommandOptions, ctx: CommandContext): Promise<RecoverResult> {
  const [config, runbook, deps] = await Promise.all([ctx.config(), ctx.runbook(), ctx.executorDeps()]);
  // With Redis, the lease every instance takes; with the file store, recoverNode's lock suffices.
  const shared = redisUrl(config, ctx.env) ? await sharedState(config, ctx.dataDir, ctx.env) : undefined;
  try {
    return await recoverNode({ ...options, config, runbook, dataDir: ctx.dataDir, deps, clock: ctx.clock, commandLine: ctx.commandLine, ...(shared && { shared }) });
  } finally {
    await shared?.close();
  }
}

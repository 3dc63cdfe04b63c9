/** `jarvis recover <node>`: the runbook's recovery of one node (runbook/recover.ts) with this run's doors. */
import { recoverNode, type RecoverOptions, type RecoverResult } from '../runbook/recover.js';
import type { CommandContext } from './context.js';

export type RecoverCommandOptions = Pick<RecoverOptions, 'nodeId' | 'force' | 'wait' | 'dryRun' | 'onEvent' | 'onPlan'>;

export async function runRecover(options: RecoverCommandOptions, ctx: CommandContext): Promise<RecoverResult> {
  const [config, runbook, deps, records] = await Promise.all([ctx.config(), ctx.runbook(), ctx.executorDeps(), ctx.records()]);
  return recoverNode({ ...options, config, runbook, records, deps, clock: ctx.clock, commandLine: ctx.commandLine });
}

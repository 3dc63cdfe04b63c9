/** `jarvis ask`: one request through the cascade, its outcomes recorded in the shared state (state.json, or Redis). */
import { runCascade, type CascadeEvent, type CascadeRequest, type CascadeResult } from '../cascade/engine.js';
import { cascadeSettings } from '../config/env.js';
import { ModelCatalog } from '../cascade/catalog.js';
import { healthFold } from '../cascade/node-health.js';
import { UsageError } from '../errors.js';
import type { CommandContext } from './context.js';

export interface AskOptions {
  request: CascadeRequest;
  /** --timeout: the overall deadline for this request. */
  deadlineMs?: number;
  onEvent?: (e: CascadeEvent) => void;
}

export async function runAsk(options: AskOptions, ctx: CommandContext): Promise<CascadeResult> {
  const [config, { sendChat }, { listModels }, sleep] = await Promise.all([ctx.config(), import('../transport/sender.js'), import('../transport/list-models.js'), ctx.sleep()]);
  const settings = { ...cascadeSettings(config, ctx.env), ...(options.deadlineMs !== undefined && { deadlineMs: options.deadlineMs }) };
  // The breakers every instance shares (state.json, or Redis): read before, the outcomes after.
  const shared = await (await ctx.records()).health();
  // Redis away is no reason to fail a request: the cascade runs on fresh breakers, said once.
  // The data dir's file is another matter: a data error there is the user's to fix (exit 3).
  const away = (what: string) => (error: unknown) => {
    if (shared.backend !== 'redis') throw error;
    process.stderr.write(`jarvis: shared state (${shared.where}) unavailable: ${(error as Error).message}; ${what}\n`);
    return undefined;
  };
  const saved = (await shared.load().catch(away('the breakers of other instances are not known to this request'))) ?? { nodes: {}, served: {} };
  const catalog = new ModelCatalog(saved.served);
  const result = await runCascade(config, settings, saved.nodes, catalog, options.request, {
    send: sendChat,
    listModels,
    now: () => ctx.clock.now(),
    sleep,
    random: Math.random,
    signal: ctx.signal,
    ...(options.onEvent && { onEvent: options.onEvent }),
  });
  // A node, task or model the user named that does not exist: a usage error (exit 2).
  if (result.unroutable) throw new UsageError(result.unroutable.message);
  await shared.exchange(result.events, catalog.takeChanges(), healthFold(settings)).catch(away("this request's outcomes were not recorded"));
  return result;
}

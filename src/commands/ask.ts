/** `jarvis ask`: one request through the cascade, its outcomes recorded in state.json. */
import { recordEvents, cascadeSection } from '../cascade/node-health.js';
import { runCascade, type CascadeEvent, type CascadeRequest, type CascadeResult } from '../cascade/engine.js';
import { cascadeSettings } from '../config/env.js';
import { ModelCatalog } from '../cascade/catalog.js';
import { stateStore } from '../store/state-file.js';
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
  const store = stateStore(ctx.dataDir);
  const section = cascadeSection(await store.read());
  const catalog = new ModelCatalog(section.served);
  const result = await runCascade(config, settings, section.nodes, catalog, options.request, {
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
  await recordEvents(store, result.events, catalog.takeChanges(), settings);
  return result;
}

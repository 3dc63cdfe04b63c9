/** `jarvis health`: each node's circuit breaker and counts, as the cascade remembers them (state.json, or the Redis the proxies share). */
import { healthView, type NodeHealth } from '../cascade/node-health.js';
import { DataError } from '../errors.js';
import type { CommandContext } from './context.js';

export type HealthResult = Record<string, ReturnType<typeof healthView> & { last_error?: string; last_error_at?: string; open_until?: string }>;

export async function runHealth(ctx: CommandContext): Promise<HealthResult> {
  const config = await ctx.config();
  const shared = await (await ctx.records()).health();
  const section = await shared.load().catch((error: unknown) => {
    throw new DataError(`cannot read the shared state (${shared.where}): ${(error as Error).message}`);
  });
  const now = ctx.clock.now();
  return Object.fromEntries(
    config.nodes.map((n) => {
      const h: NodeHealth | undefined = section.nodes[n.id];
      return [
        n.id,
        {
          ...healthView(h, now),
          ...(h?.lastError && { last_error: h.lastError }),
          ...(h?.lastErrorAt && { last_error_at: h.lastErrorAt }),
          ...(h?.breaker.openUntil !== undefined && h.breaker.phase === 'open' && { open_until: new Date(h.breaker.openUntil).toISOString() }),
        },
      ];
    }),
  );
}

/** `jarvis ask`: one request through the cascade; `jarvis health` and `jarvis reset` on its breakers. */
import type { Config } from '../config/schema.js';
import { cascadeSection, healthView, recordEvents, type NodeHealth } from '../cascade/node-health.js';
import { runCascade, type CascadeRequest, type CascadeResult, type EngineDeps } from '../cascade/engine.js';
import { cascadeSettings } from '../cascade/settings.js';
import { ModelCatalog } from '../cascade/catalog.js';
import { stateStore } from '../store/state-file.js';
import { findNode } from '../config/nodes.js';

export interface AskOptions {
  config: Config;
  dataDir: string;
  request: CascadeRequest;
  deps: EngineDeps;
  env?: NodeJS.ProcessEnv;
  /** --timeout: the overall deadline for this request. */
  deadlineMs?: number;
}

export async function runAsk(options: AskOptions): Promise<CascadeResult> {
  const settings = { ...cascadeSettings(options.config, options.env), ...(options.deadlineMs !== undefined && { deadlineMs: options.deadlineMs }) };
  const store = stateStore(options.dataDir);
  const section = cascadeSection(await store.read());
  const catalog = new ModelCatalog(section.served);
  const result = await runCascade(options.config, settings, section.nodes, catalog, options.request, options.deps);
  await recordEvents(store, result.events, catalog.takeChanges(), settings);
  return result;
}

export type HealthResult = Record<string, ReturnType<typeof healthView> & { last_error?: string; last_error_at?: string; open_until?: string }>;

export async function runHealth(options: { config: Config; dataDir: string; wallNow: () => number }): Promise<HealthResult> {
  const section = cascadeSection(await stateStore(options.dataDir).read());
  const now = options.wallNow();
  return Object.fromEntries(
    options.config.nodes.map((n) => {
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

/**
 * Clears breakers and counts (one node, or all). The reset is stamped, so outcomes from before
 * it that a running proxy has not saved yet do not bring the old state back.
 */
export async function runReset(options: { config: Config; dataDir: string; wallNow: () => number; nodeId?: string }): Promise<{ node: string | null; had: boolean; nodes: string[] }> {
  const ids = options.nodeId ? [findNode(options.config, options.nodeId).id] : options.config.nodes.map((n) => n.id);
  const at = options.wallNow();
  const cleared: string[] = [];
  await stateStore(options.dataDir).update((s) => {
    const section = cascadeSection(s);
    for (const id of ids) {
      if (id in section.nodes) cleared.push(id);
      delete section.nodes[id];
      section.resets = { ...section.resets, [id]: at };
    }
    s.cascade = section;
  });
  return { node: options.nodeId ? ids[0]! : null, had: cleared.length > 0, nodes: cleared };
}

/** `jarvis reset`: close breakers and clear counts, for one node or all (a running serve follows within a second). */
import { findNode } from '../config/nodes.js';
import { DataError } from '../errors.js';
import type { CommandContext } from './context.js';

export interface ResetResult {
  /** The node named, or null with --all. */
  node: string | null;
  had: boolean;
  /** The nodes that had state to clear. */
  nodes: string[];
}

/**
 * The reset is stamped, so outcomes from before it that a running proxy has not saved yet do not
 * bring the old state back.
 */
export async function runReset(options: { nodeId?: string }, ctx: CommandContext): Promise<ResetResult> {
  const config = await ctx.config();
  const ids = options.nodeId ? [findNode(config, options.nodeId).id] : config.nodes.map((n) => n.id);
  const at = ctx.clock.now();
  const cleared: string[] = [];
  // File store: state.json under its lock. Redis: gone for every instance at their next sync.
  const shared = await (await ctx.records()).health();
  try {
    for (const id of ids) if (await shared.reset(id, at)) cleared.push(id);
  } catch (error) {
    if (shared.backend === 'file') throw error;
    throw new DataError(`cannot reset in the shared state (${shared.where}): ${(error as Error).message}`);
  }
  return { node: options.nodeId ? ids[0]! : null, had: cleared.length > 0, nodes: cleared };
}

/** Finding a node by id: the one place for the rule and its message. */
import { UsageError } from '../errors.js';
import type { Config, NodeConfig } from './schema.js';

/** Finds a node by id, case-insensitively; an unknown id lists the known ones (exit 2). */
export function findNode(config: Config, id: string): NodeConfig {
  const wanted = id.trim().toLowerCase();
  const node = config.nodes.find((n) => n.id === wanted);
  if (!node) throw new UsageError(`unknown node "${id}". Known nodes: ${config.nodes.map((n) => n.id).join(', ')}`);
  return node;
}

/** Finding a node by id: the one place for the rule and its message. */
import { UsageError } from '../errors.js';
import type { Config, NodeConfig } from './schema.js';

/** The node with this id, case-insensitively; undefined when there is none. */
export function lookupNode(config: Config, id: string): NodeConfig | undefined {
  const wanted = id.trim().toLowerCase();
  return config.nodes.find((n) => n.id === wanted);
}

/** What to say about an id no node has: the known ones. */
export function unknownNodeMessage(config: Config, id: string): string {
  return `unknown node "${id}". Known nodes: ${config.nodes.map((n) => n.id).join(', ')}`;
}

/** A node the user named (a command's argument): an unknown id is a UsageError (exit 2). */
export function findNode(config: Config, id: string): NodeConfig {
  const node = lookupNode(config, id);
  if (!node) throw new UsageError(unknownNodeMessage(config, id));
  return node;
}

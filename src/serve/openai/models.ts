/** What GET /v1/models lists: `auto`, the task aliases, each model once with the nodes behind it. */
import type { ModelCatalog } from '../../cascade/catalog.js';
import type { Config } from '../../config/schema.js';

interface ModelEntry {
  id: string;
  object: 'model';
  owned_by: string;
  created: number;
  /** The nodes that serve it, in routing order (jarvis's addition). */
  nodes?: string[];
}

/** GET /v1/models: `auto`, the task aliases, then every model once with the nodes serving it. */
export function modelList(config: Config, catalog: ModelCatalog): { object: 'list'; data: ModelEntry[] } {
  const data: ModelEntry[] = [
    { id: 'auto', object: 'model', owned_by: 'jarvis', created: 0 },
    ...Object.keys(config.tasks).map((t) => ({ id: `jarvis/${t}`, object: 'model' as const, owned_by: 'jarvis', created: 0 })),
  ];
  const models = new Map<string, string[]>();
  const add = (id: string, node: string) => {
    const nodes = models.get(id);
    if (!nodes) models.set(id, [node]);
    else if (!nodes.includes(node)) nodes.push(node);
  };
  for (const n of config.nodes) {
    if (!n.url) continue;
    // A configured short name is listed as the served id it resolves to, when that is known.
    if (n.model) add(catalog.idFor(n, n.model), n.id);
    for (const id of catalog.served(n.id) ?? []) add(id, n.id);
  }
  for (const [id, nodes] of models) data.push({ id, object: 'model', owned_by: nodes.length === 1 ? nodes[0]! : 'jarvis', created: 0, nodes });
  return { object: 'list', data };
}

/**
 * What a request's `model` names (DESIGN.md): `auto` (or nothing) the whole cascade, `jarvis/<task>`
 * a task's order, a node id that node, any other name the group of nodes serving that model; and
 * what GET /v1/models lists: each model once, with the nodes behind it.
 */
import type { CascadeRequest } from '../../cascade/engine.js';
import type { ModelCatalog } from '../../cascade/catalog.js';
import { groupMembers } from '../../cascade/routing.js';
import type { Config } from '../../config/schema.js';
import type { OpenAiError } from './errors.js';

export type ModelRoute = { ok: true; route: Pick<CascadeRequest, 'task' | 'node' | 'model'> } | { ok: false; error: OpenAiError };

const notFound = (model: string): ModelRoute => ({
  ok: false,
  error: { status: 404, message: `unknown model "${model}"; GET /v1/models lists them`, type: 'invalid_request_error', param: 'model', code: 'model_not_found' },
});

/** The name a client's model name stands for (`routing.aliases`, first match; `*` a wildcard), or the name itself. */
export function aliasOf(config: Config, model: string): string {
  for (const a of config.routing.aliases) if (globMatch(a.match, model)) return a.to;
  return model;
}

const globs = new Map<string, RegExp>();
function globMatch(pattern: string, name: string): boolean {
  let re = globs.get(pattern);
  if (!re) globs.set(pattern, (re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i')));
  return re.test(name);
}

export function routeModel(config: Config, catalog: ModelCatalog, asked: unknown): ModelRoute {
  const model = typeof asked === 'string' ? aliasOf(config, asked) : asked;
  if (model === undefined || model === null || model === '' || model === 'auto' || model === 'jarvis/auto') return { ok: true, route: {} };
  if (typeof model !== 'string') return { ok: false, error: { status: 400, message: `\`model\` must be a string, got ${Array.isArray(model) ? 'an array' : typeof model}`, type: 'invalid_request_error', param: 'model', code: 'invalid_type' } };
  const alias = /^jarvis\/(.+)$/.exec(model);
  if (alias) return config.tasks[alias[1]!] ? { ok: true, route: { task: alias[1]! } } : notFound(model);
  const byId = config.nodes.find((n) => n.id === model.toLowerCase() && n.url);
  if (byId) return { ok: true, route: { node: byId.id } };
  return groupMembers(config, model, catalog).length > 0 ? { ok: true, route: { model } } : notFound(model);
}

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

/**
 * What a request's `model` names, for every front (docs/proxy.md): `auto` (or nothing) the whole
 * cascade, `jarvis/<task>` a task's order, a node id that node, any other name the group of nodes
 * serving that model; `routing.aliases` map client names first. The error is a status and a
 * message that each front puts in its own shape.
 */
import type { CascadeRequest } from '../cascade/engine.js';
import type { ModelCatalog } from '../cascade/catalog.js';
import { discoverGroup, groupMembers } from '../cascade/routing.js';
import type { Config } from '../config/schema.js';
import type { ServeContext } from './context.js';
import type { OpenAiError } from './openai/errors.js';

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

/** The whole cascade: the same frozen value for every `auto` request. */
const AUTO: ModelRoute = Object.freeze({ ok: true, route: Object.freeze({}) });

export function routeModel(config: Config, catalog: ModelCatalog, asked: unknown): ModelRoute {
  const model = typeof asked === 'string' ? aliasOf(config, asked) : asked;
  if (model === undefined || model === null || model === '' || model === 'auto' || model === 'jarvis/auto') return AUTO;
  if (typeof model !== 'string') return { ok: false, error: { status: 400, message: `\`model\` must be a string, got ${Array.isArray(model) ? 'an array' : typeof model}`, type: 'invalid_request_error', param: 'model', code: 'invalid_type' } };
  const alias = /^jarvis\/(.+)$/.exec(model);
  if (alias) return config.tasks[alias[1]!] ? { ok: true, route: { task: alias[1]! } } : notFound(model);
  const byId = config.nodes.find((n) => n.id === model.toLowerCase() && n.url);
  if (byId) return { ok: true, route: { node: byId.id } };
  return groupMembers(config, model, catalog).length > 0 ? { ok: true, route: { model } } : notFound(model);
}

/**
 * The route a request's model names, resolved once by its front: at once for a known name (no
 * promise, no wait), and for an unknown one after listing the nodes not listed yet (a name only a
 * node's model list carries, on a fresh start), then routed again with what they listed.
 */
export function resolveModel(ctx: ServeContext, asked: unknown): ModelRoute | Promise<ModelRoute> {
  const routed = routeModel(ctx.config, ctx.catalog, asked);
  if (routed.ok || routed.error.status !== 404 || typeof asked !== 'string') return routed;
  const model = aliasOf(ctx.config, asked);
  if (model.startsWith('jarvis/')) return routed;
  return discoverGroup(ctx.config, model, ctx.catalog, ctx.deps.listModels, ctx.deps.now(), 2000).then(() => routeModel(ctx.config, ctx.catalog, asked));
}

/**
 * Which nodes a request goes to, in which order (docs/proxy.md). A model name
 * names a group: every node that serves it (its configured model, or an id its model list
 * carries), balanced by the group's strategy, then the group's configured fallbacks, then the rest
 * of the cascade, unless the group is strict. A node id goes to that node, then its fallbacks,
 * then the cascade; a task to its nodes first; `auto` (nothing named) to the whole cascade.
 */
import type { Config, NodeConfig, Strategy } from '../config/schema.js';
import { lookupNode, unknownNodeMessage } from '../config/nodes.js';
import { modelMatchScore } from '../probe/model-names.js';
import { balance, type BalanceContext } from './balance.js';
import type { ListModels, ModelCatalog } from './catalog.js';
import type { CascadeSettings } from '../config/env.js';

/** One place in a route: a node, and the model id to ask it for. */
export interface RouteStep {
  node: NodeConfig;
  model?: string;
  /** Named by the request (a member of its group, its node, its task): not a fallback. */
  member: boolean;
}

export interface RouteQuery {
  task?: string;
  node?: string;
  model?: string;
  strict?: boolean;
  endpoint?: 'chat' | 'embeddings';
  /** A Messages request (the Anthropic front): `anthropic` nodes can take it; others cannot take anything else. */
  messagesApi?: unknown;
}

/** Why a request has no route: a value for the edges to answer (exit 2 for `jarvis ask`, 404 for a client). */
export interface RouteProblem {
  problem: 'unknown_node' | 'unknown_task' | 'unknown_model' | 'no_embeddings';
  message: string;
}

/** Thrown inside the route's computation only; planRoute turns it into a RouteProblem. */
class Unroutable extends Error {
  constructor(readonly problem: RouteProblem['problem'], message: string) {
    super(message);
  }
}

/** A node can answer requests only if it has a URL to send them to. */
const askable = (n: NodeConfig) => n.url !== undefined;

/**
 * The nodes serving `name`, each with the id to ask it for: those that match it best (the same
 * name, up to case, `:latest` and a `publisher/`, beats a longer name that starts with it). A configured short name matches a
 * request for the longer served id too (`deepseek` for `deepseek-coder-v2-lite-instruct`).
 */
export function groupMembers(config: Config, name: string, catalog: ModelCatalog): readonly { node: NodeConfig; model: string }[] {
  // Asked per request by the proxy's front: computed once per config, name and catalog version.
  let cache = groupCache.get(config);
  if (!cache || cache.catalog !== catalog || cache.version !== catalog.version) groupCache.set(config, (cache = { catalog, version: catalog.version, groups: new Map() }));
  return cache.groups.get(name) ?? remember(cache.groups, name, computeGroup(config, name, catalog));
}

/**
 * Names come from clients, so there is no end to them (typos, scanners): each per-name cache keeps
 * at most this many, the oldest dropped first (a name dropped is computed again when it comes).
 */
export const MAX_CACHED_NAMES = 1024;

function remember<K, V>(map: Map<K, V>, key: K, value: V): V {
  if (map.size >= MAX_CACHED_NAMES) map.delete(map.keys().next().value as K);
  map.set(key, value);
  return value;
}

/** How many names the route caches hold for `config` now (bounded by MAX_CACHED_NAMES each). */
export function cachedNames(config: Config): { groups: number; routes: number; byModel: number } {
  return { groups: groupCache.get(config)?.groups.size ?? 0, routes: routeCache.get(config)?.routes.size ?? 0, byModel: routeCache.get(config)?.byModel.size ?? 0 };
}

const groupCache = new WeakMap<Config, { catalog: ModelCatalog; version: number; groups: Map<string, readonly { node: NodeConfig; model: string }[]> }>();

function computeGroup(config: Config, name: string, catalog: ModelCatalog): { node: NodeConfig; model: string }[] {
  let best = 0;
  let members: { node: NodeConfig; model: string }[] = [];
  for (const node of config.nodes) {
    if (!askable(node)) continue;
    let score = 0;
    let model = name;
    for (const id of catalog.served(node.id) ?? []) {
      const s = modelMatchScore(name, id);
      if (s > score) [score, model] = [s, id];
    }
    if (node.model) {
      const asked = modelMatchScore(name, node.model); // `qwen3` for a configured `qwen3:8b`
      const named = modelMatchScore(node.model, name); // the served id for a configured `deepseek`
      if (asked > score) [score, model] = [asked, catalog.idFor(node, node.model)];
      if (named > score) [score, model] = [named, name];
    }
    // The same name (up to case, `:latest`, a `publisher/`) is one tier; a longer name another.
    const tier = score >= 2 ? 2 : score;
    if (tier === 0 || tier < best) continue;
    if (tier > best) [best, members] = [tier, []];
    members.push({ node, model });
  }
  return members;
}

/**
 * Before a name is called unknown: if no node is known to serve it, lists the nodes whose model
 * lists are not known yet (a fresh state, a proxy just started), each within `timeoutMs`.
 */
export async function discoverGroup(config: Config, name: string, catalog: ModelCatalog, list: ListModels, now: number, timeoutMs: number): Promise<void> {
  if (groupMembers(config, name, catalog).length > 0) return;
  await Promise.all(config.nodes.filter((n) => askable(n) && catalog.served(n.id) === undefined).map((n) => catalog.lookup(n, Math.min(n.timeoutMs, timeoutMs), list, now)));
}

/** The group settings for a model name, if the config has some. */
function groupSettings(config: Config, name: string): { strategy?: Strategy; strict?: boolean } | undefined {
  const exact = config.routing.groups[name];
  if (exact) return exact;
  const key = Object.keys(config.routing.groups).find((k) => modelMatchScore(k, name) >= 2);
  return key === undefined ? undefined : config.routing.groups[key];
}

interface BaseRoute {
  /** The steps the strategy reorders (the group, the task's nodes, the whole cascade for `auto`). */
  members: RouteStep[];
  /** Fallbacks and the rest of the cascade, in order; empty when strict. */
  after: RouteStep[];
  strategy: Strategy;
  key: string;
  /** members then after, for when the strategy leaves the members as they are. */
  all: readonly RouteStep[];
}

/** Routes that depend only on the config and what the catalog knows: a proxy asks for the same few all day. */
interface RouteCache {
  catalog: ModelCatalog;
  version: number;
  routes: Map<string, BaseRoute>;
  /** A proxy's common query (a chat request naming a model, or auto) with the settings the cache was made with: by the model alone, no key put together. */
  settings: CascadeSettings;
  byModel: Map<string, BaseRoute>;
}
const routeCache = new WeakMap<Config, RouteCache>();

function baseRoute(config: Config, q: RouteQuery, settings: CascadeSettings, catalog: ModelCatalog): BaseRoute {
  let cache = routeCache.get(config);
  if (!cache || cache.catalog !== catalog || cache.version !== catalog.version) routeCache.set(config, (cache = { catalog, version: catalog.version, routes: new Map(), settings, byModel: new Map() }));
  const plain = settings === cache.settings && q.task === undefined && q.node === undefined && !q.strict && !q.messagesApi && (q.endpoint ?? 'chat') === 'chat';
  let route = plain ? cache.byModel.get(q.model ?? '') : undefined;
  if (route) return route;
  const key = `${q.endpoint ?? 'chat'}\0${q.task ?? ''}\0${q.node ?? ''}\0${q.model ?? ''}\0${q.strict ? 1 : 0}\0${settings.forceNode ?? ''}\0${settings.failover}\0${settings.strategy}\0${q.messagesApi ? 'm' : ''}`;
  route = cache.routes.get(key) ?? remember(cache.routes, key, computeRoute(config, q, settings, catalog));
  if (plain) remember(cache.byModel, q.model ?? '', route);
  return route;
}

function computeRoute(config: Config, q: RouteQuery, settings: CascadeSettings, catalog: ModelCatalog): BaseRoute {
  const byId = (id: string) => {
    const node = lookupNode(config, id);
    if (!node) throw new Unroutable('unknown_node', unknownNodeMessage(config, id));
    return node;
  };
  const own = (node: NodeConfig, member: boolean): RouteStep => (node.model ? { node, model: catalog.idFor(node, node.model), member } : { node, member });
  // A node that speaks only Anthropic's Messages API takes only Messages requests.
  const can = (n: NodeConfig) => askable(n) && (n.kind !== 'anthropic' || q.messagesApi !== undefined);
  const cascade = config.nodes.filter(can);
  const route = (members: RouteStep[], after: NodeConfig[], strict: boolean, strategy: Strategy, key: string): BaseRoute => {
    const taken = new Set(members.map((s) => s.node.id));
    const rest: RouteStep[] = [];
    for (const n of after) {
      if (taken.has(n.id) || !can(n)) continue;
      taken.add(n.id);
      rest.push(own(n, false));
    }
    let m = members.filter((s) => can(s.node));
    let a = strict ? [] : rest;
    if (!settings.failover) {
      // Failover off ($JARVIS_FAILOVER_ENABLED=false): the first node alone.
      [m, a] = m.length > 0 ? [m.slice(0, 1), []] : [[], a.slice(0, 1)];
      strategy = 'priority';
    }
    return { members: m, after: a, strategy, key, all: [...m, ...a] };
  };
  if (settings.forceNode) return route([own(byId(settings.forceNode), true)], [], true, 'priority', `node:${settings.forceNode}`);
  const fallbacksOf = (nodes: NodeConfig[]) => nodes.flatMap((n) => n.fallbacks.map((f) => byId(f.node)));

  if (q.endpoint === 'embeddings') {
    // Vectors from another model live in another space: embeddings never leave the group.
    if (q.node) return route([own(byId(q.node), true)], [], true, 'priority', `node:${q.node}`);
    if (q.model) {
      const members = groupMembers(config, q.model, catalog);
      if (members.length === 0) throw new Unroutable('unknown_model', `no node serves the embedding model "${q.model}"`);
      return route(members.map((m) => ({ ...m, member: true })), [], true, groupSettings(config, q.model)?.strategy ?? settings.strategy, `embed:${q.model}`);
    }
    const serving = cascade.filter((n) => n.embeddings);
    if (serving.length === 0) throw new Unroutable('no_embeddings', 'no node serves embeddings (set `embeddings: true` on one, or name the model)');
    return route(serving.map((n) => own(n, true)), [], true, settings.strategy, 'embed:');
  }
  if (q.node) {
    const first = byId(q.node);
    return route([own(first, true)], [...fallbacksOf([first]), ...cascade], Boolean(q.strict || first.strict), 'priority', `node:${first.id}`);
  }
  if (q.task) {
    const ids = config.tasks[q.task];
    if (!ids) throw new Unroutable('unknown_task', `unknown task "${q.task}". Tasks in the config: ${Object.keys(config.tasks).join(', ') || '(none)'}`);
    return route(ids.map((id) => own(byId(id), true)), cascade, Boolean(q.strict), settings.strategy, `task:${q.task}`);
  }
  if (q.model) {
    const members = groupMembers(config, q.model, catalog);
    if (members.length === 0) throw new Unroutable('unknown_model', `unknown model "${q.model}": no node is configured with it or lists it`);
    const group = groupSettings(config, q.model);
    const strict = Boolean(q.strict || group?.strict || members.some((m) => m.node.strict));
    const nodes = members.map((m) => m.node);
    return route(members.map((m) => ({ ...m, member: true })), [...fallbacksOf(nodes), ...cascade], strict, group?.strategy ?? settings.strategy, `model:${q.model}`);
  }
  return route(cascade.map((n) => own(n, true)), [], false, settings.strategy, 'auto');
}

/**
 * The steps a request takes, in order (before breakers: the engine skips open ones), or why there
 * are none (an unknown node, task or model).
 */
export function planRoute(config: Config, q: RouteQuery, settings: CascadeSettings, catalog: ModelCatalog, ctx: BalanceContext): readonly RouteStep[] | RouteProblem {
  let base: BaseRoute;
  try {
    base = baseRoute(config, q, settings, catalog);
  } catch (error) {
    if (error instanceof Unroutable) return { problem: error.problem, message: error.message };
    throw error;
  }
  const members = balance(base.members, stepNode, base.strategy, ctx, base.key);
  if (members === base.members) return base.all;
  return base.after.length === 0 ? members : [...members, ...base.after];
}

const stepNode = (s: RouteStep) => s.node.id;

/**
 * The route with `node` first (affinity's pin: it holds the conversation's prefix) when it is one
 * of the request's own nodes (a member: its group, its task, the node it named) and `ready` says
 * it may take the request now; else the route as the strategy made it.
 */
export function pinFirst(route: readonly RouteStep[], node: string, ready: (step: RouteStep) => boolean): readonly RouteStep[] {
  const i = route.findIndex((s) => s.node.id === node);
  if (i <= 0 || !route[i]!.member || !ready(route[i]!)) return route;
  return [route[i]!, ...route.slice(0, i), ...route.slice(i + 1)];
}

/** Model groups, routes and balancing: pure functions over a config, a catalog and a load view. */
import { describe, expect, it } from 'vitest';
import { balance, NodeLoad } from '../../src/cascade/balance.js';
import { ModelCatalog } from '../../src/cascade/catalog.js';
import type { NodeHealth } from '../../src/cascade/node-health.js';
import { cachedNames, groupMembers, MAX_CACHED_NAMES, planRoute, type RouteQuery } from '../../src/cascade/routing.js';
import { cascadeSettings } from '../../src/config/env.js';
import { parseConfig } from '../../src/config/load.js';
import type { Strategy } from '../../src/config/schema.js';

const config = await parseConfig(
  `nodes:
  - { id: a, kind: ollama, url: "http://127.0.0.1:1", model: "llama3:latest", priority: 1, fallbacks: [d] }
  - { id: b, kind: lmstudio, url: "http://127.0.0.1:2", model: llama3, priority: 2 }
  - { id: c, kind: lmstudio, url: "http://127.0.0.1:3", model: deepseek, priority: 3 }
  - { id: d, kind: lmstudio, url: "http://127.0.0.1:4", model: mistral, priority: 4 }
  - { id: e, kind: ollama, url: "http://127.0.0.1:5", model: "qwen3:8b", priority: 5, embeddings: true }
  - { id: s, kind: lmstudio, url: "http://127.0.0.1:6", model: private-model, priority: 6, strict: true }
routing:
  groups: { mistral: { strict: true } }
`,
  'c.yaml',
);
const settings = cascadeSettings(config, {});
const ctx = (load = new NodeLoad(), health: Record<string, NodeHealth> = {}) => ({ load, health: (id: string) => health[id], latencyMargin: 0.1, random: () => 0 });
/** The route as `node:model` steps; a request with no route is a value, whose message is thrown here for the assertions. */
const route = (q: RouteQuery, catalog = new ModelCatalog(), load = new NodeLoad()) => {
  const r = planRoute(config, q, settings, catalog, ctx(load));
  if ('problem' in r) throw new Error(`${r.problem}: ${r.message}`);
  return r.map((s) => `${s.node.id}${s.model ? `:${s.model}` : ''}`);
};

describe('model groups', () => {
  it('a model name goes to every node serving it, then their fallbacks, then the cascade', () => {
    expect(route({ model: 'llama3' })).toEqual(['a:llama3:latest', 'b:llama3', 'd:mistral', 'c:deepseek', 'e:qwen3:8b', 's:private-model']);
  });

  it('strict, asked for or configured, keeps a request in its group', () => {
    expect(route({ model: 'llama3', strict: true })).toEqual(['a:llama3:latest', 'b:llama3']);
    expect(route({ model: 'mistral' })).toEqual(['d:mistral']); // routing.groups.mistral.strict
    expect(route({ model: 'private-model' })).toEqual(['s:private-model']); // the node's own strict
    expect(route({ node: 's' })).toEqual(['s:private-model']);
  });

  it('a node id goes to that node, its fallbacks, then the cascade (not the node alone)', () => {
    expect(route({ node: 'C' })).toEqual(['c:deepseek', 'a:llama3:latest', 'b:llama3', 'd:mistral', 'e:qwen3:8b', 's:private-model']);
    expect(route({ node: 'a' }).slice(0, 2)).toEqual(['a:llama3:latest', 'd:mistral']);
  });

  it('the served id a node lists is a name for its model, and is what gets sent', () => {
    const catalog = new ModelCatalog();
    // Cold: the configured short name matches the longer served id the client uses.
    expect(route({ model: 'deepseek-coder-v2-lite-instruct', strict: true }, catalog)).toEqual(['c:deepseek-coder-v2-lite-instruct']);
    catalog.learn('c', ['deepseek-coder-v2-lite-instruct']);
    expect(route({ model: 'deepseek', strict: true }, catalog)).toEqual(['c:deepseek-coder-v2-lite-instruct']);
    // A model the node lists besides its configured one makes it a member of that group too.
    catalog.learn('e', ['qwen3:8b', 'nomic-embed-text:latest']);
    expect(route({ model: 'nomic-embed-text', strict: true }, catalog)).toEqual(['e:nomic-embed-text:latest']);
    expect(groupMembers(config, 'gpt-99', catalog)).toEqual([]);
    expect(() => route({ model: 'gpt-99' }, catalog)).toThrow(/unknown model "gpt-99"/);
  });

  it('the same name beats a longer one that starts with it', async () => {
    const two = await parseConfig('nodes:\n  - { id: x, kind: ollama, url: "http://127.0.0.1:1", model: "qwen3:8b" }\n  - { id: y, kind: lmstudio, url: "http://127.0.0.1:2", model: qwen3-30b }\n', 'two.yaml');
    const members = (name: string) => groupMembers(two, name, new ModelCatalog()).map((m) => m.node.id);
    expect(members('qwen3')).toEqual(['x', 'y']); // a short name: both start with it
    expect(members('qwen3:8b')).toEqual(['x']);
    expect(members('QWEN3-30B')).toEqual(['y']);
  });

  it('embeddings stay in the group of the model asked for; without one, the embedding nodes', () => {
    const catalog = new ModelCatalog();
    catalog.learn('e', ['qwen3:8b', 'nomic-embed-text:latest']);
    expect(route({ endpoint: 'embeddings', model: 'nomic-embed-text' }, catalog)).toEqual(['e:nomic-embed-text:latest']);
    expect(route({ endpoint: 'embeddings' }, catalog)).toEqual(['e:qwen3:8b']);
    expect(() => route({ endpoint: 'embeddings', model: 'text-embedding-3-small' }, catalog)).toThrow(/no node serves the embedding model/);
  });
});

describe('balancing within a group', () => {
  const ids = ['a', 'b', 'c'];
  const order = (strategy: Strategy, load: NodeLoad, health: Record<string, NodeHealth> = {}, random = () => 0) =>
    balance(ids, (x) => x, strategy, { load, health: (id) => health[id], latencyMargin: 0.1, random }, 'g').join('');

  it('priority keeps the order (and the same array: nothing allocated)', () => {
    const load = new NodeLoad();
    expect(balance(ids, (x) => x, 'priority', { load, health: () => undefined, latencyMargin: 0.1, random: Math.random }, 'g')).toBe(ids);
  });

  it('round-robin takes turns', () => {
    const load = new NodeLoad();
    expect([1, 2, 3, 4].map(() => order('round-robin', load)[0])).toEqual(['a', 'b', 'c', 'a']);
  });

  it('least-busy: the fewest requests in flight first, ties in priority order', () => {
    const load = new NodeLoad();
    load.begin('a');
    load.begin('a');
    load.begin('b');
    expect(order('least-busy', load)).toBe('cba');
    load.end('a');
    load.end('a');
    expect(order('least-busy', load)).toBe('acb');
  });

  it('latency: the fastest, or any within the margin of it; unmeasured nodes get measured', () => {
    const load = new NodeLoad();
    load.observe('a', 500);
    load.observe('b', 100);
    expect(order('latency', load)).toBe('cba'); // c has no sample: counts as fastest
    load.observe('c', 105);
    expect(order('latency', load, {}, () => 0)).toBe('bca');
    expect(order('latency', load, {}, () => 0.99)).toBe('cba'); // c is within 10 % of b
    load.observe('c', 400);
    load.observe('c', 400);
    expect(order('latency', load, {}, () => 0.99)[0]).toBe('b');
  });

  it('success-rate: the best record first', () => {
    const h = (successes: number, failures: number) => ({ successes, failures }) as NodeHealth;
    expect(order('success-rate', new NodeLoad(), { a: h(1, 9), b: h(9, 1), c: h(5, 5) })).toBe('bca');
  });

  it('a node whose last probe failed goes last, whatever the strategy', () => {
    const load = new NodeLoad();
    load.probed('a', false);
    expect(order('priority', load)).toBe('bca');
    load.probed('a', true);
    expect(order('priority', load)).toBe('abc');
  });
});

describe('routing.aliases (the names clients send)', () => {
  it('maps patterns to routes, first match wins; a name that matches none is itself', async () => {
    const { parseConfig } = await import('../../src/config/load.js');
    const { routeModel, aliasOf } = await import('../../src/serve/model-route.js');
    const cfg = await parseConfig(
      'nodes:\n  - { id: a, kind: openai, url: "http://127.0.0.1:9", model: qwen }\n  - { id: b, kind: openai, url: "http://127.0.0.1:8", model: small }\ntasks: { fast: [b] }\nrouting:\n  aliases:\n    - { match: "claude-haiku-*", to: jarvis/fast }\n    - { match: "claude-*", to: a }\n    - { match: "gpt-4.1", to: qwen }\n',
      'aliases.yaml',
    );
    const catalog = new ModelCatalog();
    expect(aliasOf(cfg, 'claude-haiku-4-5')).toBe('jarvis/fast');
    expect(routeModel(cfg, catalog, 'claude-haiku-4-5')).toEqual({ ok: true, route: { task: 'fast' } });
    expect(routeModel(cfg, catalog, 'CLAUDE-opus-4-8')).toEqual({ ok: true, route: { node: 'a' } });
    expect(routeModel(cfg, catalog, 'gpt-4.1')).toEqual({ ok: true, route: { model: 'qwen' } });
    // A dot is a dot, not any character.
    expect(routeModel(cfg, catalog, 'gpt-4x1')).toMatchObject({ ok: false, error: { status: 404 } });
    expect(routeModel(cfg, catalog, 'small')).toEqual({ ok: true, route: { model: 'small' } });
  });
});

describe('an anthropic node', () => {
  it('takes Messages requests only: first for them, left out of a chat request\'s route', async () => {
    const { parseConfig } = await import('../../src/config/load.js');
    const cfg = await parseConfig('nodes:\n  - { id: claude, kind: anthropic, url: "https://api.anthropic.com", priority: 0 }\n  - { id: a, kind: openai, url: "http://127.0.0.1:9", model: qwen }\n', 'anthropic.yaml');
    const s = cascadeSettings(cfg, {});
    const ids = (q: RouteQuery) => {
      const r = planRoute(cfg, q, s, new ModelCatalog(), ctx());
      if ('problem' in r) throw new Error(r.message);
      return r.map((x) => x.node.id);
    };
    expect(ids({})).toEqual(['a']);
    expect(ids({ messagesApi: { body: {}, headers: {} } })).toEqual(['claude', 'a']);
  });
});

describe('per-name caches are bounded', () => {
  it('a flood of names a client made up (typos, scanners) keeps at most MAX_CACHED_NAMES of each; known names still route', () => {
    const catalog = new ModelCatalog();
    for (let i = 0; i < 5000; i++) {
      groupMembers(config, `no-such-model-${i}`, catalog);
      planRoute(config, { model: `llama3-typo-${i}` }, settings, catalog, ctx());
    }
    const sizes = cachedNames(config);
    expect(sizes.groups).toBeLessThanOrEqual(MAX_CACHED_NAMES);
    expect(sizes.routes).toBeLessThanOrEqual(MAX_CACHED_NAMES);
    expect(sizes.byModel).toBeLessThanOrEqual(MAX_CACHED_NAMES);
    expect(sizes.groups).toBeGreaterThan(MAX_CACHED_NAMES / 2);
    expect(route({ model: 'llama3' }, catalog)).toEqual(route({ model: 'llama3' }));
  });
});

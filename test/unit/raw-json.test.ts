/** A client's body sent on as its own text, with another model: the same object as serialising it again. */
import { describe, expect, it } from 'vitest';
import { checked, scanJson, withModel } from '../../src/protocols/raw-json.js';
import { MAX_JSON_DEPTH } from '../../src/serve/body.js';

/** What the node would parse: the text edited by withModel, or (undefined) the object serialised again. */
function sent(text: string, model: string | undefined): { edited: boolean; value: unknown } {
  const parsed = JSON.parse(text) as Record<string, unknown>;
  const out = withModel(checked(scanJson(text).raw, parsed), model);
  if (out === undefined) return { edited: false, value: undefined };
  return { edited: true, value: JSON.parse(out) };
}

function expected(text: string, model: string | undefined): unknown {
  const rest = JSON.parse(text) as Record<string, unknown>;
  delete rest.model;
  return model === undefined ? rest : { ...rest, model };
}

describe('scanJson: nesting', () => {
  it('counts arrays and objects, not brackets inside strings', () => {
    expect(scanJson('{"a":[1,{"b":2}]}').depth).toBe(3);
    expect(scanJson('{"a":"[[[[{{{{\\"]]]"}').depth).toBe(1);
    expect(scanJson('"plain"').depth).toBe(0);
  });

  it('stops early past a limit (a deeply nested body is refused without a walk)', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(scanJson(deep, MAX_JSON_DEPTH).depth).toBe(MAX_JSON_DEPTH + 1);
  });
});

describe('withModel: the body with the node model, as text', () => {
  const bodies = [
    '{"model":"auto","messages":[{"role":"user","content":"hi"}]}',
    '{"messages":[{"role":"user","content":"hi"}],"model":"auto"}',
    '{ "messages" : [ ] , "model" : "auto" , "stream" : true }',
    '{\n  "model": "qwen",\n  "tools": [{"type":"function","function":{"name":"model","parameters":{"model":{"type":"string"}}}}],\n  "messages": []\n}',
    '{"messages":[{"role":"user","content":"\\"model\\": \\"x\\", {\\"model\\":1}"}],"model":"a"}',
    '{"model":"auto"}',
    '{"messages":[]}',
    '{}',
    '{"metadata":{"model":"inner"},"messages":[]}',
    '{"mod\\u0065l":"a","messages":[]}',
  ];
  it.each(bodies)('%s', (text) => {
    for (const model of ['qwen2.5:7b', 'auto', undefined, 'with "quotes" and \\ and ü']) {
      const r = sent(text, model);
      expect(r.edited).toBe(true);
      expect(r.value).toEqual(expected(text, model));
    }
  });

  it('the text itself when nothing changes (no copy)', () => {
    const text = '{"model":"m","messages":[]}';
    expect(withModel(scanJson(text).raw, 'm')).toBe(text);
    expect(withModel(scanJson('{"messages":[]}').raw, undefined)).toBe('{"messages":[]}');
  });

  it('a model the text cannot be edited for is left to the serialiser: not a string, twice (however its key is written), its value escaped', () => {
    for (const text of [
      '{"model":null,"messages":[]}',
      '{"model":7,"messages":[]}',
      '{"model":["a"],"messages":[]}',
      '{"model":{"id":"a"},"messages":[]}',
      '{"model":"a","messages":[],"model":"b"}',
      '{"model":"a","mod\\u0065l":"a","messages":[]}',
      '{"model":"a\\/b","messages":[]}',
    ]) {
      expect(sent(text, 'node-model'), text).toEqual({ edited: false, value: undefined });
    }
  });
});

describe('withModel on generated bodies', () => {
  // A seeded generator: objects nested a few levels, strings with quotes, escapes and brackets,
  // random spacing, `model` anywhere among the members or absent.
  let seed = 20261205;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const ws = () => pick(['', '', ' ', '\n  ', '\t']);
  const str = () => JSON.stringify(pick(['', 'model', '"model":"x"', '{[', 'ü é', 'a\\b', '\u2028', 'plain']));
  const value = (depth: number): string => {
    const kind = depth > 2 ? pick(['s', 'n', 'l']) : pick(['s', 'n', 'l', 'o', 'a']);
    if (kind === 's') return str();
    if (kind === 'n') return pick(['0', '-1.5e3', '42']);
    if (kind === 'l') return pick(['true', 'false', 'null']);
    if (kind === 'a') return `[${ws()}${Array.from({ length: Math.floor(rnd() * 3) }, () => value(depth + 1)).join(`${ws()},${ws()}`)}${ws()}]`;
    return object(depth + 1, false);
  };
  const object = (depth: number, top: boolean): string => {
    const keys = Array.from({ length: Math.floor(rnd() * 4) }, (_, i) => pick(['messages', 'tools', `k${i}`, depth > 1 ? 'model' : `x${i}`]));
    const members = [...new Set(keys)].map((k) => `${ws()}${JSON.stringify(k)}${ws()}:${ws()}${value(depth)}`);
    // `model` once, twice or not at all, its key sometimes spelt with an escape.
    const modelKey = () => pick(['"model"', '"model"', '"mod\\u0065l"']);
    if (top && rnd() < 0.8) members.splice(Math.floor(rnd() * (members.length + 1)), 0, `${ws()}${modelKey()}${ws()}:${ws()}${str()}`);
    if (top && rnd() < 0.1) members.splice(Math.floor(rnd() * (members.length + 1)), 0, `${ws()}${modelKey()}${ws()}:${ws()}${pick(['"a"', '"plain"', '1'])}`);
    return `${ws()}{${members.join(',')}${ws()}}${ws()}`;
  };

  it('parses to the client object with the node model, for 2000 bodies', () => {
    let edited = 0;
    for (let i = 0; i < 2000; i++) {
      const text = object(0, true);
      const model = pick(['node-model', 'with "quote"', undefined]);
      const r = sent(text, model);
      if (!r.edited) continue;
      edited++;
      expect(r.value, text).toEqual(expected(text, model));
    }
    // Only model values written with escapes, or written twice, are left to the serialiser.
    expect(edited).toBeGreaterThan(1300);
  });
});

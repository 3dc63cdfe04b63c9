/** Pure tests: the runbook's own addresses (192.168.x, 10.x) appear only as text the init template and plans produce; nothing here opens a connection. */
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig, locateConfig, formatPath } from '../../src/config/load.js';
import { INIT_TEMPLATE } from '../../src/config/template.js';
import { ConfigError } from '../../src/errors.js';

const errorOf = async (text: string) => {
  try {
    await parseConfig(text, '/etc/jarvis.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
};

const node = (extra: string) => `nodes:\n  - id: ol1\n    kind: ollama\n    url: http://127.0.0.1:11434\n${extra}`;

describe('parseConfig', () => {
  it('accepts the init template: the runbook cluster, sorted by priority, defaults applied', async () => {
    const cfg = await parseConfig(INIT_TEMPLATE, 'jarvis.config.yaml');
    expect(cfg.nodes.map((n) => n.id)).toEqual(['m2', 'm3', 'ol1', 'gemini', 'claude', 'm1']);
    const m2 = cfg.nodes[0]!;
    expect(m2).toMatchObject({ kind: 'lmstudio', url: 'http://192.168.1.26:1234', model: 'deepseek', priority: 1, timeoutMs: 3000, host: '192.168.1.26', impact: 'normal' });
    expect(m2.fallbacks).toEqual([{ node: 'm3', for: 'code review' }, { node: 'ol1', for: 'questions' }]);
    expect(cfg.nodes.find((n) => n.id === 'm1')!.impact).toBe('low');
    expect(cfg.nodes.find((n) => n.id === 'claude')!.timeoutMs).toBe(20000);
    expect(cfg.nodes.find((n) => n.id === 'ol1')!.restart).toEqual(['ollama', 'serve']);
    expect(cfg.tasks.code).toEqual(['m2', 'm3']);
  });

  it('reads JSON too', async () => {
    const cfg = await parseConfig(JSON.stringify({ nodes: [{ id: 'A1', kind: 'openai', url: 'http://[::1]:8080/v1' }] }), 'c.json');
    expect(cfg.nodes[0]).toMatchObject({ id: 'a1', priority: 1, host: '::1' });
  });

  it('names the file, line, field path and what was expected', async () => {
    const msg = await errorOf(node('  - id: m2\n    kind: lmstudio\n    url: ftp://x\n'));
    expect(msg).toContain('/etc/jarvis.yaml');
    expect(msg).toMatch(/line 7: nodes\[1\]\.url: expected an http\(s\) URL, got "ftp:\/\/x"/);
  });

  it.each([
    [node('    timeoutMs: fast\n'), /nodes\[0\]\.timeoutMs: expected a number of milliseconds, got "fast"/],
    [node('    timeoutMS: 3000\n'), /nodes\[0\]: unknown field "timeoutMS"; did you mean "timeoutMs"\?/],
    [node('    kind2: x\n').replace('kind: ollama', 'kind: vllm'), /nodes\[0\]\.kind: expected one of ollama, lmstudio, openai, proxy/],
    [node('    restart: ollama serve\n'), /nodes\[0\]\.restart: expected an argv array/],
    [node('    restart: []\n'), /nodes\[0\]\.restart: expected at least the program name/],
    [node('    fallbacks: [m9]\n'), /nodes\[0\]\.fallbacks\[0\]: unknown node "m9"/],
    [node('    fallbacks: [ol1]\n'), /cannot be its own fallback/],
    [node('  - id: OL1\n    kind: ollama\n    url: http://127.0.0.1:1\n'), /nodes\[1\]\.id: duplicate id "ol1"/],
    ['nodes:\n  - id: m2\n    kind: lmstudio\n', /nodes\[0\]\.url: expected an http\(s\) URL \(required for kind lmstudio\)/],
    ['nodes:\n  - id: g\n    kind: proxy\n', /nodes\[0\]\.check: expected a check/],
    ['nodes:\n  - id: g\n    kind: proxy\n    check: {}\n', /nodes\[0\]\.check: expected `command` or `url`/],
    ['nodes:\n  - id: "-x"\n    kind: ollama\n    url: http://127.0.0.1:1\n', /nodes\[0\]\.id: expected an id made of/],
    ['nodes: []\n', /nodes: expected at least one node/],
    ['nodes:\n  - kind: ollama\n    url: http://127.0.0.1:1\n', /nodes\[0\]\.id: missing; expected a node id/],
    ['- a\n- b\n', /\(top level\): expected a mapping with a `nodes` list/],
    [node('tasks:\n  code: [ol1, zz]\n'), /tasks\.code\[1\]: unknown node "zz"/],
    // What can never be sent, or would be shown, or read as an option.
    ['nodes:\n  - id: a\n    kind: ollama\n    url: http://user:secret@127.0.0.1:1\n', /nodes\[0\]\.url: expected a URL without credentials/],
    ['nodes:\n  - id: a\n    kind: ollama\n    url: file:///etc/passwd\n', /nodes\[0\]\.url: expected an http\(s\) URL/],
    ['nodes:\n  - id: a\n    kind: ollama\n    url: http://127.0.0.1:1\n    headers: { "bad name": x }\n', /nodes\[0\]\.headers\.bad name: expected a mapping of header names \(a token/],
    ['nodes:\n  - id: a\n    kind: ollama\n    url: http://127.0.0.1:1\n    headers: { x-key: "a\\r\\nInjected: 1" }\n', /nodes\[0\]\.headers\.x-key: expected a header value that can be sent/],
    ['nodes:\n  - id: a\n    kind: ollama\n    url: http://127.0.0.1:1\n    headers: { x-key: "模型" }\n', /expected a header value that can be sent/],
    ['nodes:\n  - id: a\n    kind: ollama\n    url: http://127.0.0.1:1\n    ssh: { target: "-oProxyCommand=sh" }\n', /nodes\[0\]\.ssh\.target: expected an ssh target such as admin@m2, not something ssh would read as an option/],
  ])('rejects %j', async (text, pattern) => {
    expect(await errorOf(text)).toMatch(pattern);
  });

  it('lists every problem in the file\'s order, an unknown field at its own line with the known field it is nearest to', async () => {
    const msg = await errorOf('nodes:\n  - id: a\n    kind: ollama\n    url: http://127.0.0.1:1\n    prority: 2\n    timeoutMs: -5\n  - id: b\n    kind: nope\n    url: http://127.0.0.1:2\ncascade:\n  failovr: true\nserve: { zzz: 1 }\n');
    expect(msg.split('\n').slice(1)).toEqual([
      '  line 5: nodes[0]: unknown field "prority"; did you mean "priority"?',
      '  line 6: nodes[0].timeoutMs: expected at least 1 ms, got -5',
      expect.stringMatching(/^ {2}line 8: nodes\[1\]\.kind: expected one of/),
      '  line 11: cascade: unknown field "failovr"; did you mean "failover"?',
      // Nothing near enough: no guess.
      '  line 12: serve: unknown field "zzz"',
    ]);
  });

  it('reports YAML syntax errors with line and column', async () => {
    expect(await errorOf('nodes:\n  - id: x\n   kind: [\n')).toMatch(/\/etc\/jarvis\.yaml:\d+:\d+: not valid YAML\/JSON/);
  });

  it('reports an empty file', async () => {
    expect(await errorOf('')).toMatch(/empty/);
  });

  it('rejects duplicate keys rather than keeping the last', async () => {
    expect(await errorOf(node('    url: http://127.0.0.1:2\n'))).toMatch(/jarvis\.yaml:\d+:\d+: not valid YAML\/JSON: duplicated mapping key/);
  });
});

describe('locateConfig', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'jarvis-cfg-'));
  const home = path.join(dir, 'home');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('says where it looked and points at init and demo when nothing is found', () => {
    expect(() => locateConfig({ env: {}, cwd: dir, home })).toThrow(/jarvis init[\s\S]*jarvis demo/);
  });

  it('looks in cwd, then ~/.config/jarvis, honouring XDG_CONFIG_HOME', () => {
    mkdirSync(path.join(home, '.config', 'jarvis'), { recursive: true });
    writeFileSync(path.join(home, '.config', 'jarvis', 'config.yaml'), 'nodes: []');
    expect(locateConfig({ env: {}, cwd: dir, home }).from).toBe('~/.config/jarvis/config.yaml');
    writeFileSync(path.join(dir, 'jarvis.config.yaml'), 'nodes: []');
    expect(locateConfig({ env: {}, cwd: dir, home }).from).toBe('./jarvis.config.yaml');
  });

  it('flag beats env beats files; a missing explicit file is an error', () => {
    expect(locateConfig({ flag: 'jarvis.config.yaml', env: { JARVIS_CONFIG: 'nope.yaml' }, cwd: dir, home }).from).toBe('--config');
    expect(() => locateConfig({ env: { JARVIS_CONFIG: 'nope.yaml' }, cwd: dir, home })).toThrow(/config file not found: .*nope\.yaml \(from \$JARVIS_CONFIG\)/);
  });
});

describe('formatPath', () => {
  it('formats zod paths the way users read them', () => {
    expect(formatPath(['nodes', 2, 'url'])).toBe('nodes[2].url');
    expect(formatPath(['tasks', 'code', 0])).toBe('tasks.code[0]');
    expect(formatPath([])).toBe('(top level)');
  });
});

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { configSecrets } from '../../src/config/secrets.js';
import { jsonSafe, oneLine, printable, rememberSecrets, scrub, terminalSafe } from '../../src/system/text.js';
import { forTerminal } from '../../src/ui/output.js';

describe('secrets', () => {
  it("the config's secrets: node keys from the environment, header values and their tokens, client keys, the Redis password, webhook paths", async () => {
    const config = await parseConfig(
      `nodes:
  - { id: a, kind: openai, url: "http://127.0.0.1:1", apiKeyEnv: A_KEY, headers: { authorization: "Bearer tok-123456789" } }
serve: { apiKeys: ["client-key-1"], apiKeysEnv: MORE_KEYS }
state: { backend: redis, url: "redis://:p%40ssw0rd-x@127.0.0.1:6379/0" }
alerts: { webhooks: [{ url: "https://hooks.example/services/T1/B2/xyz0secret0token00?k=another0token0000" }] }
`,
      'c.yaml',
    );
    const found = configSecrets(config, { A_KEY: 'sk-node-key-1', MORE_KEYS: 'k-more-1, k-more-2' });
    expect(found.some((s) => s.includes('services'))).toBe(false);
    expect(found).toEqual(expect.arrayContaining(['sk-node-key-1', 'Bearer tok-123456789', 'tok-123456789', 'client-key-1', 'k-more-1', 'k-more-2', 'p@ssw0rd-x', 'xyz0secret0token00', 'another0token0000']));
  });

  it('scrubbed as written, percent-encoded and JSON-escaped; short values are not taken', () => {
    rememberSecrets(['sk-abc/123+"x"', 'tiny', undefined]);
    expect(scrub('key sk-abc/123+"x" here')).toBe('key *** here');
    expect(scrub(`url ?k=${encodeURIComponent('sk-abc/123+"x"')}`)).toBe('url ?k=***');
    expect(scrub(JSON.stringify({ k: 'sk-abc/123+"x"' }))).toBe('{"k":"***"}');
    expect(scrub('tiny stays')).toBe('tiny stays');
  });
});

describe('control characters', () => {
  const hostile = 'a\u001b]0;title\u0007\u001b[2J\r\nFORGED\u009b1m\u2028end\tx';
  it('one line: every control and line break as an escape', () => {
    expect(oneLine(hostile)).toBe('a\\x1b]0;title\\x07\\x1b[2J\\r\\nFORGED\\x9b1m\\u2028end\\tx');
  });
  it('lines: newlines and tabs kept (CRLF as LF), the rest as escapes', () => {
    expect(printable(hostile)).toBe('a\\x1b]0;title\\x07\\x1b[2J\nFORGED\\x9b1m\\u2028end\tx');
  });
  it("a terminal keeps jarvis's colours (SGR) and nothing else", () => {
    expect(terminalSafe('\u001b[31mred\u001b[39m \u001b[2J\u001b]0;t\u0007')).toBe('\u001b[31mred\u001b[39m \\x1b[2J\\x1b]0;t\\x07');
  });
  it('JSON: C1 and U+2028/9 escaped as JSON escapes, so it still parses to the same text', () => {
    const text = JSON.stringify({ v: 'x\u009by\u2028' });
    expect(jsonSafe(text)).toBe('{"v":"x\\u009by\\u2028"}');
    expect(JSON.parse(jsonSafe(text))).toEqual({ v: 'x\u009by\u2028' });
  });
  it('a result for a renderer: every string one line, but a command output or an answer keeps its lines', () => {
    expect(forTerminal({ detail: 'a\nFORGED', output: 'l1\nl2\u001b[2J', list: ['x\ny'], n: 1, nested: { content: 'p\nq' } })).toEqual({ detail: 'a\\nFORGED', output: 'l1\nl2\\x1b[2J', list: ['x\\ny'], n: 1, nested: { content: 'p\nq' } });
  });
});

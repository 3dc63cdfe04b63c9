import { describe, expect, it } from 'vitest';
import { headerSafe, logField } from '../../src/serve/reply.js';

describe('values from outside, where they leave', () => {
  it.each([
    ['qwen3:8b', 'qwen3:8b'],
    ['qwen-模型', 'qwen-%E6%A8%A1%E5%9E%8B'],
    ['a\r\nx-injected: 1', 'a%0D%0Ax-injected%3A%201'],
    ['x'.repeat(300), `${'x'.repeat(253)}...`],
  ])('a header value: %j -> %j', (value, expected) => expect(headerSafe(value)).toBe(expected));

  it.each([
    ['qwen3:8b', 'qwen3:8b'],
    ['deepseek-coder/v2@q4', 'deepseek-coder/v2@q4'],
    ['x\n2026-12-06T00:00:00Z POST /api/heal -> 200', '"x\\n2026-12-06T00:00:00Z POST /api/heal -> 200"'],
    ['\u001b]0;pwned\u0007', '"\\u001b]0;pwned\\u0007"'],
    ['c1\u009bx', '"c1\\u009bx"'],
    ['a b', '"a b"'],
  ])('a log field: %j -> %s', (value, expected) => {
    const field = logField(value);
    expect(field).toBe(expected);
    expect(field).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });
});

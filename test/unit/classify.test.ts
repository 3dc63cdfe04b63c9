import { describe, expect, it } from 'vitest';
import { classifyFailure, classifyReply, parseRetryAfter, errorMessage } from '../../src/probe/classify.js';
import { matchModel } from '../../src/probe/model-names.js';
import { HttpFailure } from '../../src/probe/http.js';

const errno = (code: string, message = code) => Object.assign(new Error(message), { code });
const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => ({
  status,
  headers,
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

describe('classifyFailure', () => {
  it.each([
    ['ECONNREFUSED', 'refused'],
    ['EHOSTUNREACH', 'unreachable'],
    ['ENETUNREACH', 'unreachable'],
    ['EHOSTDOWN', 'unreachable'],
    ['ENOTFOUND', 'dns'],
    ['EAI_AGAIN', 'dns'],
    ['ETIMEDOUT', 'timeout'],
    ['UND_ERR_CONNECT_TIMEOUT', 'timeout'],
    ['UND_ERR_HEADERS_TIMEOUT', 'timeout'],
    ['UND_ERR_BODY_TIMEOUT', 'timeout'],
    ['ECONNRESET', 'bad_response'],
    ['UND_ERR_SOCKET', 'bad_response'],
    ['HPE_INVALID_CONSTANT', 'bad_response'],
  ])('node error code %s -> %s', (code, status) => {
    expect(classifyFailure(errno(code)).status).toBe(status);
  });

  it('reads the cause of a fetch TypeError (undici)', () => {
    const error = new TypeError('fetch failed', { cause: errno('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1') });
    expect(classifyFailure(error).status).toBe('refused');
  });

  it('prefers a decisive answer inside an AggregateError (several addresses)', () => {
    const agg = Object.assign(new AggregateError([errno('ETIMEDOUT'), errno('ECONNREFUSED')], 'x'), { code: undefined });
    const error = new TypeError('fetch failed', { cause: agg });
    expect(classifyFailure(error).status).toBe('refused');
  });

  it('treats AbortSignal.timeout as a timeout', () => {
    const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    expect(classifyFailure(timeout, 3000)).toMatchObject({ status: 'timeout' });
    const abort = Object.assign(new DOMException('aborted', 'AbortError'), { cause: timeout });
    expect(classifyFailure(abort).status).toBe('timeout');
  });

  it('tells a connect timeout from a reply timeout', () => {
    expect(classifyFailure(new HttpFailure('x', 'TIMEOUT', 'connect'), 3000).detail).toMatch(/TCP connect did not complete within 3000 ms/);
    expect(classifyFailure(new HttpFailure('x', 'TIMEOUT', 'reply'), 3000).detail).toMatch(/connected, but no reply within 3000 ms/);
  });

  it('never throws on odd input', () => {
    expect(classifyFailure('boom').status).toBe('bad_response');
    expect(classifyFailure(null).status).toBe('bad_response');
  });
});

describe('classifyReply', () => {
  const tags = { models: [{ name: 'qwen3:8b', model: 'qwen3:8b' }, { name: 'nomic-embed-text:latest' }] };
  const v1 = { object: 'list', data: [{ id: 'deepseek-coder-v2-lite-instruct', object: 'model' }] };

  it('ollama /api/tags with the model -> ok, models listed', () => {
    expect(classifyReply('ollama', reply(200, tags), 'qwen3:8b')).toMatchObject({ status: 'ok', models: ['qwen3:8b', 'nomic-embed-text:latest'], matchedModel: 'qwen3:8b' });
  });

  it('model absent -> model_missing, naming what is served', () => {
    const c = classifyReply('ollama', reply(200, tags), 'llama3');
    expect(c.status).toBe('model_missing');
    expect(c.detail).toContain('qwen3:8b');
  });

  it('LM Studio with no model loaded -> model_missing', () => {
    expect(classifyReply('openai', reply(200, { data: [], object: 'list' }), 'mistral')).toMatchObject({ status: 'model_missing', detail: expect.stringContaining('no model is loaded') });
  });

  it('openai /v1/models with a short runbook name -> ok', () => {
    expect(classifyReply('openai', reply(200, v1), 'deepseek')).toMatchObject({ status: 'ok', matchedModel: 'deepseek-coder-v2-lite-instruct' });
  });

  it('llama.cpp 503 Loading model -> loading', () => {
    expect(classifyReply('openai', reply(503, { error: { code: 503, message: 'Loading model', type: 'unavailable_error' } })).status).toBe('loading');
  });

  it('other 503 (Ollama busy) -> http_error with the message', () => {
    const c = classifyReply('ollama', reply(503, { error: 'server busy, please try again.  maximum pending requests exceeded' }));
    expect(c).toMatchObject({ status: 'http_error', httpStatus: 503 });
    expect(c.detail).toContain('server busy');
  });

  it.each([500, 502, 404, 401])('HTTP %i -> http_error with httpStatus', (status) => {
    expect(classifyReply('openai', reply(status, { error: { message: 'nope' } }))).toMatchObject({ status: 'http_error', httpStatus: status, detail: `HTTP ${status}: nope` });
  });

  it('429 -> http_error, throttled, Retry-After read', () => {
    expect(classifyReply('openai', reply(429, { error: { message: 'quota' } }, { 'retry-after': '30' }))).toMatchObject({
      status: 'http_error',
      httpStatus: 429,
      throttled: true,
      retryAfterS: 30,
    });
  });

  it('HTML, invalid JSON and wrong shape -> bad_response', () => {
    expect(classifyReply('ollama', reply(200, '<html><body>nginx</body></html>')).detail).toMatch(/HTML/);
    expect(classifyReply('ollama', reply(200, '{"models": [tru')).detail).toMatch(/invalid JSON/);
    expect(classifyReply('ollama', reply(200, { data: [] })).detail).toMatch(/Ollama/);
    expect(classifyReply('openai', reply(200, 'Unexpected endpoint or method. (GET /x). Returning 200 anyway')).status).toBe('bad_response');
    expect(classifyReply('openai', reply(200, { data: [{ name: 1 }] })).status).toBe('bad_response');
  });

  it('a truncated body is not trusted as a model list', () => {
    expect(classifyReply('ollama', { ...reply(200, '{"models":['), truncated: true }).status).toBe('bad_response');
  });

  it('generic proxy URL: any 2xx is ok', () => {
    expect(classifyReply('generic', reply(204, '')).status).toBe('ok');
  });
});

describe('matchModel', () => {
  it.each([
    ['qwen3:8b', ['qwen3:8b'], 'qwen3:8b'],
    ['qwen3', ['qwen3:latest'], 'qwen3:latest'],
    ['mistral', ['mistralai/mistral-7b-instruct'], 'mistralai/mistral-7b-instruct'],
    ['deepseek', ['deepseek-coder-v2'], 'deepseek-coder-v2'],
    ['qwen3', ['qwen3-30b-a3b'], 'qwen3-30b-a3b'],
    ['qwen', ['qwen3:8b'], undefined],
    ['llama3', ['qwen3:8b'], undefined],
  ])('%s in %j -> %s', (wanted, served, expected) => {
    expect(matchModel(wanted, served)).toBe(expected);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-22T10:00:00Z');
  it('seconds, HTTP date, retry-after-ms first, junk ignored', () => {
    expect(parseRetryAfter({ 'retry-after': '60' }, now)).toBe(60);
    expect(parseRetryAfter({ 'retry-after': 'Sun, 22 Nov 2026 10:00:30 GMT' }, now)).toBe(30);
    expect(parseRetryAfter({ 'retry-after-ms': '1500', 'retry-after': '60' }, now)).toBe(2);
    expect(parseRetryAfter({ 'retry-after': 'soon' }, now)).toBeUndefined();
    expect(parseRetryAfter({}, now)).toBeUndefined();
  });
});

describe('errorMessage', () => {
  it('reads both error shapes and plain text', () => {
    expect(errorMessage('{"error":"model is required"}')).toBe('model is required');
    expect(errorMessage('{"error":{"message":"No models loaded.","type":"invalid_request_error"}}')).toBe('No models loaded.');
    expect(errorMessage('Bad Gateway')).toBe('Bad Gateway');
    expect(errorMessage('')).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { classifyCheckCommand, probeNode, probeUrl, probeAll } from '../../src/probe/probe.js';
import type { NodeConfig } from '../../src/config/schema.js';
import type { CommandResult } from '../../src/system/process.js';
import { commandResult } from '../helpers/results.js';
import { HttpFailure } from '../../src/probe/http.js';

const cmd = (over: Partial<CommandResult>): CommandResult => commandResult({ argv: ['node', 'gemini-proxy.js', '--ping'], ...over });

const node = (over: Partial<NodeConfig>): NodeConfig => ({ id: 'n', kind: 'ollama', url: 'http://127.0.0.1:11434', priority: 1, timeoutMs: 3000, impact: 'normal', fallbacks: [], ...over });

describe('probeUrl', () => {
  it('asks the endpoint that proves health for each kind', () => {
    expect(probeUrl('ollama', 'http://h:11434/').url).toBe('http://h:11434/api/tags');
    expect(probeUrl('lmstudio', 'http://h:1234').url).toBe('http://h:1234/v1/models');
    expect(probeUrl('openai', 'http://h:8080/v1').url).toBe('http://h:8080/v1/models');
  });
});

describe('classifyCheckCommand (a proxy --ping)', () => {
  it.each([
    [{ exitCode: 0, stdout: 'pong' }, 'ok'],
    [{ exitCode: 1, stderr: 'Error: 429 Resource has been exhausted (e.g. check quota).' }, 'http_error'],
    [{ exitCode: 1, stderr: 'connect ECONNREFUSED 127.0.0.1:8787' }, 'refused'],
    [{ exitCode: 1, stderr: 'getaddrinfo ENOTFOUND generativelanguage.googleapis.com' }, 'dns'],
    [{ exitCode: 1, stderr: 'connect ENETUNREACH' }, 'unreachable'],
    [{ exitCode: 1, stderr: 'upstream returned HTTP 503' }, 'http_error'],
    [{ exitCode: 3, stderr: 'something odd' }, 'bad_response'],
    [{ exitCode: undefined, timedOut: true }, 'timeout'],
    [{ exitCode: undefined, notFound: true }, 'bad_response'],
  ])('%j -> %s', (over, status) => {
    expect(classifyCheckCommand(cmd(over), 10_000).status).toBe(status);
  });

  it('quota is throttled, with the wait it names', () => {
    expect(classifyCheckCommand(cmd({ exitCode: 1, stdout: 'quota exceeded, retry in 42s' }), 1000)).toMatchObject({ throttled: true, httpStatus: 429, retryAfterS: 42 });
  });

  it('expect: a passing command whose output does not match is a bad response', () => {
    expect(classifyCheckCommand(cmd({ stdout: 'hello' }), 1000, '^pong').status).toBe('bad_response');
    expect(classifyCheckCommand(cmd({ stdout: 'pong' }), 1000, '^pong').status).toBe('ok');
  });
});

describe('probeNode', () => {
  const clock = () => {
    let t = 0;
    return () => (t += 5);
  };
  it('turns a thrown network error into a status value', async () => {
    const deps = { http: () => Promise.reject(new HttpFailure('refused', 'ECONNREFUSED', 'connect')), run: () => Promise.reject(new Error('unused')), now: clock() };
    const r = await probeNode(node({}), deps);
    expect(r).toMatchObject({ id: 'n', status: 'refused', target: 'GET http://127.0.0.1:11434/api/tags' });
    expect(r.latencyMs).toBeGreaterThan(0);
  });

  it('runs a proxy check command with its own timeout', async () => {
    const seen: number[] = [];
    const deps = {
      http: () => Promise.reject(new Error('unused')),
      run: (_argv: readonly string[], o: { timeoutMs: number }) => {
        seen.push(o.timeoutMs);
        return Promise.resolve(cmd({ stdout: 'pong' }));
      },
      now: clock(),
    };
    const r = await probeNode(node({ kind: 'proxy', check: { command: ['node', 'p.js', '--ping'], timeoutMs: 7000 } }), deps);
    expect(r.status).toBe('ok');
    expect(seen).toEqual([7000]);
  });

  it('probes all nodes at once, not one after another', async () => {
    let inFlight = 0;
    let peak = 0;
    const deps = {
      http: async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setTimeout(r, 20));
        inFlight--;
        return { status: 200, headers: {}, body: '{"models":[]}', truncated: false };
      },
      run: () => Promise.reject(new Error('unused')),
      now: () => performance.now(),
    };
    const results = await probeAll([node({ id: 'a' }), node({ id: 'b' }), node({ id: 'c' })], deps);
    expect(results.map((r) => r.id)).toEqual(['a', 'b', 'c']);
    expect(peak).toBe(3);
  });
});

describe('cancelled before it starts', () => {
  it('httpRequest and sendChat with an aborted signal fail as values, with no stray socket error', async () => {
    const { httpRequest } = await import('../../src/probe/http.js');
    const { sendChat } = await import('../../src/transport/sender.js');
    const ac = new AbortController();
    ac.abort();
    const errors: unknown[] = [];
    const onError = (e: unknown) => errors.push(e);
    process.on('uncaughtException', onError);
    try {
      await expect(httpRequest('http://127.0.0.1:9/', { timeoutMs: 1000, signal: ac.signal })).rejects.toMatchObject({ code: 'ABORTED' });
      const r = await sendChat(node({ kind: 'openai', url: 'http://127.0.0.1:9' }), { messages: [], stream: false }, { timeoutMs: 1000, signal: ac.signal });
      expect(r).toEqual({ ok: false, failure: { class: 'aborted', message: 'interrupted' } });
      await new Promise((r) => setTimeout(r, 50));
      expect(errors).toEqual([]);
    } finally {
      process.off('uncaughtException', onError);
    }
  });
});

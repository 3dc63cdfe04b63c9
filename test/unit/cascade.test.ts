import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { backoffDelay } from '../../src/cascade/backoff.js';
import { CLOSED, allows, onFailure, onSuccess, phaseAt } from '../../src/cascade/breaker.js';
import { cascadeOrder, runCascade, type CascadeEvent } from '../../src/cascade/engine.js';
import { decide } from '../../src/cascade/policy.js';
import { applyEvent, healthView, queueEvent, type HealthEvent, type NodeHealth } from '../../src/cascade/node-health.js';
import { Cancel, toAbortSignal } from '../../src/system/cancel.js';
import { ModelCatalog } from '../../src/cascade/catalog.js';
import { NodeLoad } from '../../src/cascade/balance.js';
import { cascadeSettings } from '../../src/config/env.js';
import { classifyHttpError } from '../../src/transport/failure.js';
import type { ChatOutcome, SendChat } from '../../src/transport/sender.js';
import { LiveHealth } from '../../src/serve/live-health.js';
import type { SharedState } from '../../src/store/shared-state.js';

const S = { failureThreshold: 3, recoveryMs: 120_000, maxRecoveryMs: 600_000 };

/** The node ids of a route; a request with no route is a value, whose message is thrown here for the assertions. */
function orderOf(...args: Parameters<typeof cascadeOrder>): string[] {
  const r = cascadeOrder(...args);
  if ('problem' in r) throw new Error(`${r.problem}: ${r.message}`);
  return r.map((s) => s.node.id);
}

describe('circuit breaker', () => {
  it('opens after 3 consecutive failures, half-opens after the recovery time, closes on success', () => {
    let b = CLOSED;
    b = onFailure(b, 0, S);
    b = onFailure(b, 1, S);
    expect(b.phase).toBe('closed');
    b = onFailure(b, 2, S);
    expect(b).toMatchObject({ phase: 'open', openUntil: 120_002, opens: 1 });
    expect(allows(b, 100_000)).toBe(false);
    expect(phaseAt(b, 120_002)).toBe('half_open');
    expect(onSuccess(b)).toEqual(CLOSED);
  });

  it('a failed trial re-opens for longer, capped', () => {
    let b = { ...CLOSED };
    for (let i = 0; i < 3; i++) b = onFailure(b, 0, S);
    b = onFailure(b, 120_000, S); // half-open trial fails: 240 s
    expect(b).toMatchObject({ phase: 'open', openUntil: 360_000, opens: 2 });
    b = onFailure(b, 360_000, S); // 480 s
    b = onFailure(b, 840_000, S); // would be 960 s: capped at 600 s
    expect(b.openUntil).toBe(1_440_000);
  });
});

describe('backoff', () => {
  const s = { initialMs: 1000, maxMs: 30_000, multiplier: 2, jitter: true };
  it('doubles to the cap; full jitter spreads it over [0, cap]', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, { ...s, jitter: false }, () => 0.5))).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    expect(backoffDelay(3, s, () => 0)).toBe(0);
    expect(backoffDelay(3, s, () => 0.5)).toBe(2000);
    expect(backoffDelay(3, s, () => 0.999)).toBe(3996);
  });
});

describe('error classes', () => {
  it('decide what to do with each', () => {
    expect(decide({ class: 'refused', message: '' })).toEqual({ retrySameNode: false, countsAgainstNode: true });
    expect(decide({ class: 'timeout', message: '' })).toEqual({ retrySameNode: true, countsAgainstNode: true });
    expect(decide({ class: 'server_error', httpStatus: 504, message: '' })).toEqual({ retrySameNode: true, countsAgainstNode: true });
    expect(decide({ class: 'auth', httpStatus: 401, message: '' })).toEqual({ retrySameNode: false, countsAgainstNode: false });
    expect(decide({ class: 'throttled', retryAfterS: 2, message: '' }).retrySameNode).toBe(true);
    expect(decide({ class: 'throttled', message: '' }).retrySameNode).toBe(false);
  });

  it('classify HTTP replies of completion endpoints', () => {
    expect(classifyHttpError(504, {}, 'Gateway Timeout').class).toBe('server_error');
    expect(classifyHttpError(503, {}, '{"error":{"code":503,"message":"Loading model"}}').class).toBe('loading');
    expect(classifyHttpError(429, { 'retry-after': '7' }, '{}')).toMatchObject({ class: 'throttled', retryAfterS: 7 });
    expect(classifyHttpError(401, {}, '{"error":{"message":"bad key"}}').class).toBe('auth');
    expect(classifyHttpError(400, {}, '{"error":{"message":"No models loaded. Please load a model"}}').class).toBe('model_missing');
    expect(classifyHttpError(404, {}, '{"error":"model \\"x\\" not found, try pulling it first"}').class).toBe('model_missing');
    expect(classifyHttpError(400, {}, '{"error":{"message":"messages: required"}}').class).toBe('bad_request');
  });
});

const config = await parseConfig(
  `nodes:
  - { id: m2, kind: lmstudio, url: "http://127.0.0.1:1", model: deepseek, priority: 1, fallbacks: [m3, ol1] }
  - { id: m3, kind: lmstudio, url: "http://127.0.0.1:2", model: mistral, priority: 2 }
  - { id: ol1, kind: ollama, url: "http://127.0.0.1:3", model: "qwen3:8b", priority: 3 }
  - { id: gemini, kind: proxy, check: { command: [node, p.js] }, priority: 4 }
tasks:
  quick: [ol1, m3]
cascade: { jitter: false, initialBackoffMs: 1000 }
`,
  'c.yaml',
);
const settings = cascadeSettings(config, {});

describe('cascade order', () => {
  it('priority; task first; a chosen node then its fallbacks; proxies without a url are not askable', () => {
    expect(orderOf(config, { messages: [], stream: false }, settings, {})).toEqual(['m2', 'm3', 'ol1']);
    expect(orderOf(config, { messages: [], stream: false, task: 'quick' }, settings, {})).toEqual(['ol1', 'm3', 'm2']);
    expect(orderOf(config, { messages: [], stream: false, node: 'M2' }, settings, {})).toEqual(['m2', 'm3', 'ol1']);
    expect(() => orderOf(config, { messages: [], stream: false, task: 'nope' }, settings, {})).toThrow(/unknown_task: unknown task/);
  });

  it('success-rate strategy, JARVIS_FORCE_NODE, failover off', () => {
    const health = { m2: { successes: 1, failures: 9 } as NodeHealth, m3: { successes: 9, failures: 1 } as NodeHealth };
    expect(orderOf(config, { messages: [], stream: false }, { ...settings, strategy: 'success-rate' }, health)).toEqual(['ol1', 'm3', 'm2']);
    expect(orderOf(config, { messages: [], stream: false }, cascadeSettings(config, { JARVIS_FORCE_NODE: 'ol1' }), {})).toEqual(['ol1']);
    expect(orderOf(config, { messages: [], stream: false }, cascadeSettings(config, { JARVIS_FAILOVER_ENABLED: 'false' }), {})).toEqual(['m2']);
    expect(() => cascadeSettings(config, { JARVIS_MAX_ATTEMPTS: 'lots' })).toThrow(/JARVIS_MAX_ATTEMPTS/);
  });
});

describe('the engine, with an injected clock and transport', () => {
  function harness(script: Record<string, ChatOutcome[]>) {
    let t = 1_000_000;
    const calls: string[] = [];
    const sleeps: number[] = [];
    const events: CascadeEvent[] = [];
    const send: SendChat = async (node, _req, o) => {
      calls.push(node.id);
      const next = script[node.id]?.shift() ?? { ok: false, failure: { class: 'refused', message: 'refused' } };
      t += next.ok ? 10 : next.failure.class === 'timeout' ? o.timeoutMs : 1;
      return next;
    };
    const deps = {
      send,
      listModels: async () => undefined,
      now: () => t,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        t += ms;
      },
      random: () => 0.5,
      onEvent: (e: CascadeEvent) => events.push(e),
    };
    return { deps, calls, sleeps, events };
  }
  const ok = (content: string): ChatOutcome => ({ ok: true, value: { content } });
  const fail = (cls: 'refused' | 'timeout' | 'server_error' | 'auth' | 'throttled' | 'rejected', extra = {}): ChatOutcome => ({ ok: false, failure: { class: cls, message: cls, ...extra } });
  const ask = { messages: [{ role: 'user', content: 'hi' }], stream: false };

  it('refused primary: fail over at once, no retry, the trace says so', async () => {
    const h = harness({ m2: [fail('refused')], m3: [ok('hello')] });
    const r = await runCascade(config, settings, {}, new ModelCatalog(), ask, h.deps);
    expect(r).toMatchObject({ ok: true, node: 'm3', content: 'hello' });
    expect(h.calls).toEqual(['m2', 'm3']);
    expect(h.sleeps).toEqual([]);
    expect(r.attempts.map((a) => [a.node, a.outcome, a.class])).toEqual([
      ['m2', 'failed', 'refused'],
      ['m3', 'ok', undefined],
    ]);
  });

  it('5xx: retry the same node with backoff (1 s, 2 s) until its breaker opens, then fail over', async () => {
    const h = harness({ m2: [fail('server_error'), fail('server_error'), fail('server_error')], m3: [ok('x')] });
    const r = await runCascade(config, settings, {}, new ModelCatalog(), ask, h.deps);
    expect(h.calls).toEqual(['m2', 'm2', 'm2', 'm3']);
    expect(h.sleeps).toEqual([1000, 2000]);
    expect(r.events.filter((e) => e.node === 'm2').every((e) => !e.ok && e.counts)).toBe(true);
  });

  it('401 is not retried and not counted against the node', async () => {
    const h = harness({ m2: [fail('auth')], m3: [ok('x')] });
    const r = await runCascade(config, settings, {}, new ModelCatalog(), ask, h.deps);
    expect(h.calls).toEqual(['m2', 'm3']);
    expect(r.events[0]).toMatchObject({ node: 'm2', ok: false, counts: false });
  });

  it("a request the node rejects (a 400): its reply is the result, no other node is asked, nothing recorded", async () => {
    const reply = { status: 400, body: '{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long"}}' };
    const h = harness({ m2: [fail('rejected', { reply })], m3: [ok('x')] });
    const r = await runCascade(config, settings, {}, new ModelCatalog(), ask, h.deps);
    expect(h.calls).toEqual(['m2']);
    expect(r).toMatchObject({ ok: false, node: 'm2', rejected: reply });
    // Not the node's doing: nothing recorded against it (no last error, no count).
    expect(r.events).toEqual([]);
  });

  it('429 with Retry-After that fits the deadline: wait it, retry the same node', async () => {
    const h = harness({ m2: [fail('throttled', { retryAfterS: 3 }), ok('x')] });
    const r = await runCascade(config, settings, {}, new ModelCatalog(), ask, h.deps);
    expect(h.sleeps).toEqual([3000]);
    expect(r.node).toBe('m2');
    const late = harness({ m2: [fail('throttled', { retryAfterS: 600 })], m3: [ok('y')] });
    expect((await runCascade(config, settings, {}, new ModelCatalog(), ask, late.deps)).node).toBe('m3');
  });

  it("429 with a Retry-After longer than a node's share: fail over at once, and skip the node until then", async () => {
    const h = harness({ m2: [fail('throttled', { retryAfterS: 60 })], m3: [ok('y')] });
    const r = await runCascade(config, settings, {}, new ModelCatalog(), ask, h.deps);
    expect(r.node).toBe('m3');
    expect(h.sleeps).toEqual([]);
    const e = r.events.find((x) => x.node === 'm2')!;
    expect(e).toMatchObject({ counts: false, quotaUntil: e.at + 60_000 });
    const m2 = applyEvent(undefined, e, S);
    expect(m2.breaker).toMatchObject({ phase: 'open', quota: true, openUntil: e.at + 60_000, consecutiveFailures: 0 });
    const next = harness({ m3: [ok('z')] });
    const skipped = await runCascade(config, settings, { m2 }, new ModelCatalog(), ask, next.deps);
    expect(skipped.attempts[0]).toMatchObject({ node: 'm2', outcome: 'skipped', class: 'circuit_open' });
    // Once the quota's time is over, the node is tried again.
    expect(phaseAt(m2.breaker, e.at + 60_000)).toBe('half_open');
  });

  it('an open breaker is skipped; when all are open, the one that reopens first is tried', async () => {
    const open = (until: number): NodeHealth => ({ breaker: { phase: 'open', consecutiveFailures: 3, openUntil: until, opens: 1 }, successes: 0, failures: 3, consecutiveFailures: 3, totalRequests: 3 });
    const h = harness({ m3: [ok('x')] });
    const r = await runCascade(config, settings, { m2: open(2_000_000) }, new ModelCatalog(), ask, h.deps);
    expect(h.calls).toEqual(['m3']);
    expect(r.attempts[0]).toMatchObject({ node: 'm2', outcome: 'skipped', class: 'circuit_open' });
    const all = harness({ ol1: [ok('z')] });
    const r2 = await runCascade(config, settings, { m2: open(3_000_000), m3: open(2_500_000), ol1: open(2_000_000) }, new ModelCatalog(), ask, all.deps);
    expect(all.calls).toEqual(['ol1']);
    expect(r2.node).toBe('ol1');
  });

  it('the deadline bounds everything; a hung node leaves time for the next', async () => {
    const h = harness({ m2: [fail('timeout'), fail('timeout'), fail('timeout')], m3: [ok('x')] });
    const r = await runCascade(config, { ...settings, deadlineMs: 8000, requestTimeoutMs: 30_000 }, {}, new ModelCatalog(), ask, h.deps);
    expect(r.ok).toBe(true);
    expect(r.durationMs).toBeLessThanOrEqual(8000);
    const never = harness({ m2: [fail('timeout'), fail('timeout')], m3: [fail('timeout'), fail('timeout')], ol1: [fail('timeout'), fail('timeout')] });
    const r2 = await runCascade(config, { ...settings, deadlineMs: 5000 }, {}, new ModelCatalog(), ask, never.deps);
    expect(r2.ok).toBe(false);
    expect(r2.durationMs).toBeLessThanOrEqual(5000);
  });

  it('maxAttempts - 1 retries in all, shared; every node still gets its attempt', async () => {
    const h = harness({ m2: Array(9).fill(fail('server_error')), m3: Array(9).fill(fail('server_error')), ol1: Array(9).fill(fail('server_error')) });
    const r = await runCascade(config, { ...settings, failureThreshold: 100, initialBackoffMs: 10 }, {}, new ModelCatalog(), ask, h.deps);
    expect(h.calls).toEqual(['m2', 'm2', 'm2', 'm2', 'm2', 'm2', 'm3', 'ol1']);
    expect(r.error).toMatch(/every node failed \(8 attempts\)/);
  });

  it('two nodes answering 500 before healthy ones: the healthy one answers, and the progress says only what happened', async () => {
    const h = harness({ m2: Array(9).fill(fail('server_error')), m3: Array(9).fill(fail('server_error')), ol1: [ok('from ol1')] });
    const r = await runCascade(config, { ...settings, maxAttempts: 6 }, {}, new ModelCatalog(), ask, h.deps);
    expect(r).toMatchObject({ ok: true, node: 'ol1' });
    expect(h.calls.filter((c) => c === 'ol1')).toHaveLength(1);
    const failovers = h.events.filter((e) => e.type === 'failover').map((e) => e.type === 'failover' && `${e.from}->${e.to}`);
    expect(failovers).toEqual(['m2->m3', 'm3->ol1']);
    // With fewer attempts allowed than nodes, every node is still tried once.
    const few = harness({ m2: [fail('server_error')], m3: [fail('server_error')], ol1: [ok('x')] });
    expect((await runCascade(config, { ...settings, maxAttempts: 1 }, {}, new ModelCatalog(), ask, few.deps)).node).toBe('ol1');
    expect(few.calls).toEqual(['m2', 'm3', 'ol1']);
  });

  it('a failover is announced only when the next node is really tried', async () => {
    const h = harness({ m2: [fail('server_error'), fail('server_error'), fail('server_error')], m3: [ok('x')] });
    await runCascade(config, settings, {}, new ModelCatalog(), ask, h.deps);
    const events = h.events.flatMap((e) => (e.type === 'failover' ? [`failover ${e.from}->${e.to}`] : e.type === 'attempt' ? [`attempt ${e.node}`] : []));
    expect(events).toEqual(['attempt m2', 'attempt m2', 'attempt m2', 'failover m2->m3', 'attempt m3']);
  });

  it("a streamed answer lets the request's body go once its first line is forwarded (no attempt can follow); a failover before that still sends it", async () => {
    const seen: { node: string; messages: number; raw: boolean }[] = [];
    const during: { cascade: number; chat: number }[] = [];
    const request = { messages: [{ role: 'user', content: 'a long conversation' }], stream: true, raw: { text: '{}', model: 'none' as const, members: 0 } };
    const send: SendChat = async (node, chat, o) => {
      seen.push({ node: node.id, messages: chat.messages.length, raw: chat.raw !== undefined });
      if (node.id === 'm2') return { ok: false, failure: { class: 'refused', message: 'refused' } };
      o.onData?.('data: {"choices":[{"delta":{"content":"a"}}]}');
      during.push({ cascade: request.messages.length + (request.raw ? 1 : 0), chat: chat.messages.length + (chat.raw ? 1 : 0) });
      return { ok: true, value: { content: 'a' } };
    };
    const lines: string[] = [];
    const r = await runCascade(config, settings, {}, new ModelCatalog(), request, { send, listModels: async () => undefined, now: () => 0, sleep: async () => undefined, random: () => 0.5, onEvent: (e) => void (e.type === 'data' && lines.push(e.line)) });
    expect(r).toMatchObject({ ok: true, node: 'm3' });
    expect(seen).toEqual([
      { node: 'm2', messages: 1, raw: true },
      { node: 'm3', messages: 1, raw: true },
    ]);
    expect(during).toEqual([{ cascade: 0, chat: 0 }]);
    expect(lines).toHaveLength(1);
  });

  it('a sender that throws (a bug, not a failure) rejects the run, at once or after a wait, and its request is no longer counted in flight', async () => {
    const load = new NodeLoad();
    const deps = (send: SendChat) => ({ send, listModels: async () => undefined, now: () => 0, sleep: async () => undefined, random: () => 0.5, load });
    const thrower: SendChat = () => {
      throw new Error('sync bug');
    };
    await expect(runCascade(config, settings, {}, new ModelCatalog(), ask, deps(thrower))).rejects.toThrow('sync bug');
    expect(load.inFlight('m2')).toBe(0);
    // After a failed attempt and a backoff: the rejection still reaches the caller.
    let calls = 0;
    const later: SendChat = async () => {
      if (++calls === 1) return { ok: false, failure: { class: 'server_error', message: '500' } };
      throw new Error('async bug');
    };
    await expect(runCascade(config, settings, {}, new ModelCatalog(), ask, deps(later))).rejects.toThrow('async bug');
    expect(calls).toBe(2);
    expect(load.inFlight('m2')).toBe(0);
  });
});

describe('live breakers: requests in flight learn from each other (a proxy)', () => {
  const shared = { backend: 'file', where: 'memory', load: async () => ({ nodes: {}, served: {} }), exchange: async () => undefined, instances: () => 1 } as unknown as SharedState;
  const ask = () => ({ messages: [{ role: 'user' as const, content: 'hi' }], stream: false });
  /** A transport whose answers the test gives, one call at a time; a cancelled call answers `aborted` as the sender does. */
  function world(t0 = 1_000_000) {
    const clock = { t: t0 };
    const live = new LiveHealth(shared, new ModelCatalog(), S);
    const pending: { node: string; answer: (o: ChatOutcome) => void }[] = [];
    const send: SendChat = (node, _req, o) =>
      new Promise((resolve) => {
        const entry = { node: node.id, answer: resolve };
        pending.push(entry);
        o.signal?.addEventListener('abort', () => {
          pending.splice(pending.indexOf(entry), 1);
          resolve({ ok: false, failure: { class: 'aborted', message: 'interrupted' } });
        });
      });
    const deps = { send, listModels: async () => undefined, now: () => clock.t, sleep: async () => undefined, random: () => 0.5, live };
    const run = (request = ask(), signal?: Cancel) => runCascade(config, { ...settings, failureThreshold: 3 }, live.nodes, new ModelCatalog(), request, signal ? { ...deps, signal } : deps);
    /** Three failures on `node` at `clock.t + at`: its breaker opens. */
    const trip = (node: string, at = 0) => {
      for (let i = 0; i < 3; i++) live.record({ node, at: clock.t + at, ok: false, counts: true, error: 'timeout' });
    };
    /** The calls waiting on `node` now. */
    const waitingOn = (node: string) => pending.filter((p) => p.node === node);
    const answer = (node: string, o: ChatOutcome) => {
      const i = pending.findIndex((p) => p.node === node);
      pending.splice(i, 1)[0]!.answer(o);
    };
    return { clock, live, run, trip, waitingOn, answer, pending };
  }
  const timeout: ChatOutcome = { ok: false, failure: { class: 'timeout', message: 'no complete answer within 5000 ms' } };
  const broken: ChatOutcome = { ok: false, failure: { class: 'stream_broken', message: 'the stream broke after 1 token(s)', tokens: 1 } };
  const fine: ChatOutcome = { ok: true, value: { content: 'ok' } };
  const settle = () => new Promise((r) => setImmediate(r));

  it('a broken stream counts against its node: after the threshold, new requests go elsewhere', async () => {
    expect(decide({ class: 'stream_broken', message: '' })).toEqual({ retrySameNode: false, countsAgainstNode: true });
    const w = world();
    for (let i = 0; i < 3; i++) {
      const r = w.run();
      await settle();
      w.answer('m2', broken);
      expect(await r).toMatchObject({ ok: false, node: 'm2' });
    }
    expect(w.live.view('m2', w.clock.t)).toMatchObject({ state: 'circuit_open', consecutive_failures: 3 });
    const next = w.run();
    await settle();
    expect(w.waitingOn('m2')).toHaveLength(0);
    w.answer('m3', fine);
    expect(await next).toMatchObject({ ok: true, node: 'm3' });
  });

  it('the failure that opens a breaker moves every request still waiting on that node to the next one at once', async () => {
    const w = world();
    const runs = [w.run(), w.run(), w.run(), w.run(), w.run()];
    await settle();
    expect(w.waitingOn('m2')).toHaveLength(5);
    // Three of them time out: the third opens the breaker; the two still waiting give up on m2.
    for (let i = 0; i < 3; i++) w.answer('m2', timeout);
    await settle();
    expect(w.waitingOn('m2')).toHaveLength(0);
    expect(w.waitingOn('m3')).toHaveLength(5);
    for (let i = 0; i < 5; i++) w.answer('m3', fine);
    const results = await Promise.all(runs);
    expect(results.every((r) => r.ok && r.node === 'm3')).toBe(true);
    // No request waited on m2 beyond the failure that opened its breaker: the two still waiting, and
    // the retries of the first two, gave up or were not sent.
    const onM2 = results.map((r) => r.attempts.filter((a) => a.node === 'm2').map((a) => a.outcome));
    expect(onM2.filter((o) => o.includes('skipped'))).toHaveLength(4);
    expect(onM2.flat().filter((o) => o === 'failed')).toHaveLength(3);
    // Giving up is not a failure of the node's: three counted, not five.
    expect(w.live.get('m2')).toMatchObject({ failures: 3 });
  });

  it('a half-open breaker lets exactly one trial through; the others skip the node until it closes', async () => {
    const w = world();
    w.trip('m2');
    w.clock.t += S.recoveryMs; // half-open now
    const runs = [w.run(), w.run(), w.run()];
    await settle();
    expect(w.waitingOn('m2')).toHaveLength(1);
    expect(w.waitingOn('m3')).toHaveLength(2);
    w.answer('m3', fine);
    w.answer('m3', fine);
    w.answer('m2', fine);
    const results = await Promise.all(runs);
    expect(results.map((r) => r.node).sort()).toEqual(['m2', 'm3', 'm3']);
    expect(results.flatMap((r) => r.attempts.filter((a) => a.outcome === 'skipped').map((a) => a.detail))).toEqual(['its half-open trial is under way', 'its half-open trial is under way']);
    // Closed by the trial: the next request goes to m2 again.
    const after = w.run();
    await settle();
    expect(w.waitingOn('m2')).toHaveLength(1);
    w.answer('m2', fine);
    expect((await after).node).toBe('m2');
  });

  it('a trial that fails re-opens the breaker; one that is cancelled frees it for the next request', async () => {
    const w = world();
    w.trip('m2');
    w.clock.t += S.recoveryMs;
    const client = new Cancel();
    const first = w.run(ask(), client);
    await settle();
    expect(w.waitingOn('m2')).toHaveLength(1);
    client.abort();
    expect(await first).toMatchObject({ ok: false, error: 'interrupted' });
    const second = w.run();
    await settle();
    expect(w.waitingOn('m2')).toHaveLength(1);
    w.answer('m2', timeout);
    await settle();
    w.answer('m3', fine);
    expect((await second).node).toBe('m3');
    expect(w.live.view('m2', w.clock.t).state).toBe('circuit_open');
  });

  it('every breaker open: the one that reopens first is still tried, as without live breakers', async () => {
    const w = world();
    for (const [id, at] of [['m2', 0], ['m3', -50_000], ['ol1', -10_000]] as const) w.trip(id, at);
    const r = w.run();
    await settle();
    expect(w.pending.map((p) => p.node)).toEqual(['m3']);
    w.answer('m3', fine);
    expect((await r).node).toBe('m3');
  });

  it('a node alone on its route, its trial taken: the request fails at once rather than pile on', async () => {
    const w = world();
    w.trip('m3');
    w.clock.t += S.recoveryMs;
    const alone = () => w.run({ ...ask(), node: 'm3', strict: true } as ReturnType<typeof ask>);
    const trial = alone();
    await settle();
    const r = await alone();
    expect(r).toMatchObject({ ok: false, error: expect.stringMatching(/half-open trial/) });
    expect(w.waitingOn('m3')).toHaveLength(1);
    w.answer('m3', fine);
    expect((await trial).node).toBe('m3');
  });
});

describe('health view (seed 001 shape)', () => {
  it('healthy, degraded, circuit_open, half_open', () => {
    expect(healthView(undefined, 0)).toEqual({ state: 'healthy', success_rate: 1, consecutive_failures: 0, total_requests: 0, failed_requests: 0 });
    const h: NodeHealth = { breaker: { phase: 'open', consecutiveFailures: 3, openUntil: 100, opens: 1 }, successes: 2, failures: 3, consecutiveFailures: 3, totalRequests: 5 };
    expect(healthView(h, 50).state).toBe('circuit_open');
    expect(healthView(h, 100).state).toBe('half_open');
    expect(healthView({ ...h, breaker: CLOSED, consecutiveFailures: 1 }, 0)).toMatchObject({ state: 'degraded', success_rate: 0.4 });
  });

  it('four requests for a model the node does not serve: 0 % answered, though the node is not to blame (healthy)', () => {
    let h: NodeHealth | undefined;
    for (let i = 0; i < 4; i++) h = applyEvent(h, { node: 'a', at: i, ok: false, counts: false, error: 'model_missing: not served' }, S);
    expect(healthView(h, 10)).toEqual({ state: 'healthy', success_rate: 0, consecutive_failures: 0, total_requests: 4, failed_requests: 4 });
  });
});

describe('saving outcomes', () => {
  it('successes in a row fold into one event; replaying the queue gives what replaying each would', () => {
    const raw: HealthEvent[] = [
      { node: 'a', at: 1, ok: true, counts: true },
      { node: 'a', at: 2, ok: true, counts: true },
      { node: 'b', at: 3, ok: true, counts: true },
      { node: 'a', at: 4, ok: false, counts: true, error: 'refused: x' },
      { node: 'a', at: 5, ok: false, counts: true, error: 'refused: x' },
      { node: 'a', at: 6, ok: true, counts: true },
      { node: 'a', at: 7, ok: true, counts: true },
      { node: 'a', at: 8, ok: true, counts: true },
    ];
    const queue: HealthEvent[] = [];
    for (const e of raw) queueEvent(queue, e);
    expect(queue.map((e) => `${e.node}${e.ok ? '+' : '-'}${e.times ?? 1}`)).toEqual(['a+2', 'b+1', 'a-1', 'a-1', 'a+3']);
    const replay = (events: HealthEvent[]) => {
      const h: Record<string, NodeHealth> = {};
      for (const e of events) h[e.node] = applyEvent(h[e.node], e, S);
      return h;
    };
    expect(replay(queue)).toEqual(replay(raw));
    expect(raw[0]).not.toHaveProperty('times'); // the caller's events are not changed
  });
});

describe('Cancel (the hot path stand-in for AbortController)', () => {
  it('runs each listener once, not removed ones; undici and AbortSignal consumers see it aborted', async () => {
    const c = new Cancel();
    const seen: string[] = [];
    const a = () => seen.push('a');
    const b = () => seen.push('b');
    c.addEventListener('abort', a);
    c.addEventListener('abort', b);
    c.removeEventListener('abort', a);
    const bridged = toAbortSignal(c);
    expect(bridged.aborted).toBe(false);
    c.abort();
    c.abort();
    expect(seen).toEqual(['b']);
    expect(c.aborted).toBe(true);
    expect(c.reason?.name).toBe('AbortError');
    expect(bridged.aborted).toBe(true);
    expect(toAbortSignal(c).aborted).toBe(true);
    const real = new AbortController().signal;
    expect(toAbortSignal(real)).toBe(real);
  });
});

import { describe, expect, it } from 'vitest';
import { nextState, transitionOf } from '../../src/check/transitions.js';
import { worst } from '../../src/check/nagios.js';
import { alertmanagerBody, dedupKey, deliver, type Alert } from '../../src/alerts/webhooks.js';

describe('transitions', () => {
  const at = (status: string) => ({ status, since: '2026-11-22T00:00:00Z', lastCheck: '2026-11-22T00:05:00Z' }) as never;
  it.each([
    [undefined, 'ok', 'unchanged'],
    [undefined, 'refused', 'down'],
    [at('ok'), 'timeout', 'down'],
    [at('timeout'), 'ok', 'resolved'],
    [at('timeout'), 'refused', 'changed'],
    [at('refused'), 'refused', 'unchanged'],
  ] as const)('%j -> %s is %s', (prev, now, t) => {
    expect(transitionOf(prev, now)).toBe(t);
  });

  it('keeps "since" while the health stays the same', () => {
    expect(nextState(at('timeout'), 'refused', '2026-11-22T00:10:00Z').since).toBe('2026-11-22T00:00:00Z');
    expect(nextState(at('timeout'), 'ok', '2026-11-22T00:10:00Z').since).toBe('2026-11-22T00:10:00Z');
  });

  it('worst level wins', () => {
    expect(worst(['ok', 'warning', 'ok'])).toBe('warning');
    expect(worst(['warning', 'critical'])).toBe('critical');
    expect(worst([])).toBe('ok');
  });
});

describe('webhooks', () => {
  const alert: Alert = { event: 'down', node: 'ol1', status: 'refused', cause: 'refused', at: '2026-11-22T05:00:00.000Z', dedupKey: dedupKey('ol1', 'Connection refused'), severity: 'warning' };

  it('dedup key per node and cause', () => {
    expect(alert.dedupKey).toBe('jarvis/ol1/connection-refused');
  });

  it('Alertmanager: startsAt when firing, endsAt when resolved', () => {
    expect(alertmanagerBody([alert])[0]).toMatchObject({ labels: { alertname: 'JarvisNodeDown', node: 'ol1' }, startsAt: alert.at });
    expect(alertmanagerBody([{ ...alert, event: 'resolved' }])[0]).toMatchObject({ endsAt: alert.at });
  });

  it('retries 5xx and network errors a bounded number of times, not 4xx; never throws', async () => {
    const sleeps: number[] = [];
    const sleep = async (ms: number) => void sleeps.push(ms);
    let calls = 0;
    const r500 = await deliver({ url: 'http://x', format: 'generic', timeoutMs: 100, retries: 2 }, [alert], async () => (calls++, { status: 503, headers: {}, body: '', truncated: false }), sleep);
    expect(r500).toMatchObject({ ok: false, attempts: 3, error: 'HTTP 503' });
    expect(calls).toBe(3);
    expect(sleeps).toEqual([500, 1000]);
    calls = 0;
    const r400 = await deliver({ url: 'http://x', format: 'generic', timeoutMs: 100, retries: 2 }, [alert], async () => (calls++, { status: 400, headers: {}, body: '', truncated: false }), sleep);
    expect(r400.attempts).toBe(1);
    expect(calls).toBe(1);
    const refused = await deliver({ url: 'http://x', format: 'alertmanager', timeoutMs: 100, retries: 1 }, [alert], () => Promise.reject(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), sleep);
    expect(refused).toMatchObject({ ok: false, attempts: 2, error: expect.stringMatching(/^refused/) });
  });
});

describe('the Nagios line', () => {
  it('500 nodes down: counts and the first few names, not 11 KB', async () => {
    const { nagiosLine } = await import('../../src/ui/check.js');
    const nodes = Array.from({ length: 500 }, (_, i) => ({ id: `node-${i}`, kind: 'ollama', status: 'refused', firstStatus: 'refused', latencyMs: 3, transition: 'unchanged', escalated: false, level: 'critical' }));
    const line = nagiosLine({ checkedAt: '2026-12-01T00:00:00Z', durationMs: 1200, level: 'critical', exitCode: 2, changed: false, nodes, alerts: [], deliveries: [], logFile: 'check.log' } as never);
    expect(line).toMatch(/^JARVIS CRITICAL - 0\/500 ok; node-0 refused, node-1 refused, node-2 refused, node-3 refused, node-4 refused, \+495 more \| ok=0;;;0;500 duration=1200ms;;;0$/);
    expect(line.length).toBeLessThan(300);
  });
});

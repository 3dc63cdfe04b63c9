import { describe, expect, it } from 'vitest';
import { mayRecover } from '../../src/runbook/may-recover.js';
import { healDecision, type HealDecision, type HealInput } from '../../src/serve/healer.js';
import type { NodeHealth } from '../../src/cascade/node-health.js';

const NOW = Date.parse('2026-12-02T03:00:00Z');
const open = (openUntil = NOW + 60_000, lastErrorAt = new Date(NOW - 5000).toISOString()): NodeHealth => ({
  breaker: { phase: 'open', consecutiveFailures: 3, openUntil, opens: 1 },
  successes: 0,
  failures: 3,
  consecutiveFailures: 3,
  totalRequests: 3,
  lastError: 'refused: connect ECONNREFUSED',
  lastErrorAt,
});
const closed: NodeHealth = { breaker: { phase: 'closed', consecutiveFailures: 0, opens: 0 }, successes: 5, failures: 0, consecutiveFailures: 0, totalRequests: 5 };
const NO_FACTS: HealInput['facts'] = { node: 'ol1', incidents: { escalateAfter: 3, windowHours: 24 }, window: undefined, throttled: false, lowImpact: false, escalated: false, cannotRecord: undefined };
const WINDOW = { start: '2026-12-06T02:00:00Z', duration: '2h' };
const base: HealInput = { probeOk: false, throttled: false, probedAt: NOW - 100, now: NOW, health: open(), autoRecover: true, recovering: false, actedOn: undefined, failedProbes: 1, downAfter: 2, outageActed: false, facts: NO_FACTS };

describe('healDecision (the background check, per node and probe)', () => {
  const cases: [string, Partial<HealInput>, HealDecision][] = [
    ['breaker closed, one probe failed: not yet an outage', { health: closed }, { action: 'none' }],
    ['breaker closed, the probe answers', { health: closed, probeOk: true, failedProbes: 0 }, { action: 'none' }],
    ['no health recorded yet, one probe failed', { health: undefined }, { action: 'none' }],
    ['breaker closed, probes failed downAfter times in a row: an outage, recover', { health: closed, failedProbes: 2 }, { action: 'recover', cause: 'probes' }],
    ['no request ever reached it (no health), probes fail: recover', { health: undefined, failedProbes: 3 }, { action: 'recover', cause: 'probes' }],
    ['half-open (its trial never came), probes fail: recover', { health: open(NOW - 1), failedProbes: 2 }, { action: 'recover', cause: 'probes' }],
    ['an outage acted on already: once per outage', { health: closed, failedProbes: 5, outageActed: true }, { action: 'none' }],
    ['an outage, auto-recover off', { health: closed, failedProbes: 5, autoRecover: false }, { action: 'none' }],
    ['an outage, a recovery already running', { health: closed, failedProbes: 5, recovering: true }, { action: 'none' }],
    ['an outage on a low-impact node', { health: closed, failedProbes: 2, facts: { ...NO_FACTS, lowImpact: true } }, { action: 'skip', reason: 'low_impact', cause: 'probes' }],
    ['an outage in a maintenance window', { health: closed, failedProbes: 2, facts: { ...NO_FACTS, window: WINDOW } }, { action: 'skip', reason: 'maintenance', cause: 'probes' }],
    ['an outage on an escalated node', { health: closed, failedProbes: 2, facts: { ...NO_FACTS, escalated: true } }, { action: 'skip', reason: 'escalated', cause: 'probes' }],
    ['downAfter 1: the first failed probe is an outage', { health: closed, downAfter: 1 }, { action: 'recover', cause: 'probes' }],
    ['a probe that got 429: a quota, nothing to restart (as jarvis check)', { health: closed, failedProbes: 2, throttled: true }, { action: 'none' }],
    ['open, and the probe got 429: nothing to restart either', { throttled: true }, { action: 'none' }],
    ['open: the breaker decides, an outage acted on or not', { outageActed: true, failedProbes: 4 }, { action: 'recover', cause: 'breaker' }],
    ['open and the probe fails: recover', {}, { action: 'recover', cause: 'breaker' }],
    ['open, probe fails, auto-recover off: nothing', { autoRecover: false }, { action: 'none' }],
    ['a recovery is already running', { recovering: true }, { action: 'none' }],
    ['this opening was acted on already: once per opening', { actedOn: { openUntil: NOW + 60_000 } }, { action: 'none' }],
    ['acted on an earlier opening: this one is new', { actedOn: { openUntil: NOW - 1000 } }, { action: 'recover', cause: 'breaker' }],
    ['low impact: never restarted automatically', { facts: { ...NO_FACTS, lowImpact: true } }, { action: 'skip', reason: 'low_impact', cause: 'breaker' }],
    ['in a maintenance window', { facts: { ...NO_FACTS, window: WINDOW } }, { action: 'skip', reason: 'maintenance', cause: 'breaker' }],
    ['escalated', { facts: { ...NO_FACTS, escalated: true } }, { action: 'skip', reason: 'escalated', cause: 'breaker' }],
    ['the incident log cannot be read: not restarted, nothing could be recorded', { facts: { ...NO_FACTS, cannotRecord: 'EACCES' } }, { action: 'skip', reason: 'cannot_record', cause: 'breaker' }],
    ['an outage, and the incident log cannot be read', { health: closed, failedProbes: 2, facts: { ...NO_FACTS, cannotRecord: 'EACCES' } }, { action: 'skip', reason: 'cannot_record', cause: 'probes' }],
    ['open and the probe answers: half-open, the next request is its trial', { probeOk: true }, { action: 'half_open' }],
    ['a probe sent before the failure that opened it says nothing', { probeOk: true, probedAt: NOW - 10_000 }, { action: 'none' }],
    ['an open time that has passed is half-open already, not open', { health: open(NOW - 1) }, { action: 'none' }],
    ['a quota: it ends at its Retry-After, whatever a probe says', { probeOk: true, health: { ...open(), breaker: { ...open().breaker, quota: true } } }, { action: 'none' }],
  ];
  // A decision about a recovery (made or refused) says what it answers: the breaker's opening or the outage.
  it.each(cases)('%s', (_what, over, expected) => expect(healDecision({ ...base, ...over })).toEqual(expected));
});

describe('mayRecover: the one rule check --recover and the healer share, in one order', () => {
  const all = { ...NO_FACTS, window: WINDOW, throttled: { retryAfterS: 30 }, lowImpact: true, escalated: true, cannotRecord: 'EACCES' };
  it.each([
    ['nothing holds it', NO_FACTS, undefined],
    ['everything holds it: maintenance first', all, 'maintenance'],
    ['then a quota', { ...all, window: undefined }, 'throttled'],
    ['then low impact', { ...all, window: undefined, throttled: false as const }, 'low_impact'],
    ['then escalation', { ...all, window: undefined, throttled: false as const, lowImpact: false }, 'escalated'],
    ['then an incident log that cannot be read', { ...NO_FACTS, cannotRecord: 'EACCES' }, 'cannot_record'],
  ])('%s', (_what, facts, reason) => {
    const may = mayRecover(facts);
    expect(may.ok ? undefined : may.reason).toBe(reason);
  });
  it('says why in the words check prints', () => {
    expect(mayRecover({ ...NO_FACTS, escalated: true })).toMatchObject({ message: 'escalated (3+ failed recoveries in 24 h): not restarted automatically until `jarvis incidents ack ol1`' });
    expect(mayRecover({ ...NO_FACTS, throttled: { retryAfterS: 30 } })).toMatchObject({ message: 'throttled: quota or rate limit, retry after 30 s; nothing to restart' });
    expect(mayRecover({ ...NO_FACTS, window: { ...WINDOW, every: '24h' } })).toMatchObject({ message: 'maintenance window (from 2026-12-06T02:00:00Z, 2h every 24h): not recovered, not alerted' });
  });
});

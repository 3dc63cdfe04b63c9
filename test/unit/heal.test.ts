import { describe, expect, it } from 'vitest';
import { healDecision, type HealInput } from '../../src/serve/healer.js';
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
const base: HealInput = { probeOk: false, probedAt: NOW - 100, now: NOW, health: open(), autoRecover: true, recovering: false, actedOn: undefined, lowImpact: false, inMaintenance: false, escalated: false };

describe('healDecision (the background check, per node and probe)', () => {
  const cases: [string, Partial<HealInput>, ReturnType<typeof healDecision>['action'], string?][] = [
    ['breaker closed: nothing to do, whatever the probe', { health: closed }, 'none'],
    ['no health recorded yet', { health: undefined }, 'none'],
    ['open and the probe fails: recover', {}, 'recover'],
    ['open, probe fails, auto-recover off: nothing', { autoRecover: false }, 'none'],
    ['a recovery is already running', { recovering: true }, 'none'],
    ['this opening was acted on already: once per opening', { actedOn: { openUntil: NOW + 60_000 } }, 'none'],
    ['acted on an earlier opening: this one is new', { actedOn: { openUntil: NOW - 1000 } }, 'recover'],
    ['low impact: never restarted automatically', { lowImpact: true }, 'skip', 'low_impact'],
    ['in a maintenance window', { inMaintenance: true }, 'skip', 'maintenance'],
    ['escalated', { escalated: true }, 'skip', 'escalated'],
    ['open and the probe answers: half-open, the next request is its trial', { probeOk: true }, 'half_open'],
    ['a probe sent before the failure that opened it says nothing', { probeOk: true, probedAt: NOW - 10_000 }, 'none'],
    ['an open time that has passed is half-open already, not open', { health: open(NOW - 1) }, 'none'],
    ['a quota: it ends at its Retry-After, whatever a probe says', { probeOk: true, health: { ...open(), breaker: { ...open().breaker, quota: true } } }, 'none'],
  ];
  it.each(cases)('%s', (_what, over, action, reason) => {
    const d = healDecision({ ...base, ...over });
    expect(d.action).toBe(action);
    if (reason) expect(d).toMatchObject({ reason });
    // A decision about a recovery (made or refused) marks the opening; the others do not.
    expect(d.markActed).toBe(action === 'recover' || action === 'skip');
  });
});

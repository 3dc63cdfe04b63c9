/** The probe history: its arithmetic, and a generated month read back through the file store (a temp dir), checked against a hand computation. */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { percentileOf, step, FRESH_STATE, emptyHistogram, binOf, type Sample } from '../../src/history/buckets.js';
import { nodeReport } from '../../src/history/report.js';
import { segmentTimes, stretches, timesOf, uptimePct, verdictOf } from '../../src/history/timeline.js';
import { HistoryStore } from '../../src/store/history.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const rule = { upAfter: 2, downAfter: 2, coverMs: 15 * MIN };
const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'jarvis-history-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('hysteresis and histograms', () => {
  const p = (t: number, s: string): Extract<Sample, { k: 'p' }> => ({ t, n: 'a', k: 'p', s, l: 10 });
  const run = (seq: Extract<Sample, { k: 'p' }>[]) => {
    let st = FRESH_STATE;
    const transitions = [];
    for (const s of seq) {
      const r = step(st, s, rule);
      st = r.state;
      transitions.push(...r.transitions);
    }
    return transitions;
  };
  it('up only after upAfter answers in a row; down after downAfter failures, from the first of them; a blip is nothing; a 429 is throttled, neither', () => {
    const seq = [p(0, 'ok'), p(1, 'ok'), p(2, 'refused'), p(3, 'ok'), p(4, 'timeout'), p(5, 'refused'), p(6, 'ok'), p(7, 'ok'), p(8, 'throttled'), p(9, 'throttled'), p(10, 'ok')];
    expect(run(seq)).toEqual([
      { at: 1, to: 'up' },
      { at: 4, to: 'down', cause: 'timeout' },
      { at: 7, to: 'up' },
      { at: 8, to: 'throttled' },
      // It answered throughout: its first full answer is up.
      { at: 10, to: 'up' },
    ]);
  });

  it('a probe vouches for coverMs: after a silence the state is unknown from there, and a down period starts after the silence', () => {
    const gap = 60 * MIN;
    expect(run([p(0, 'ok'), p(MIN, 'ok'), p(MIN + gap, 'ok')])).toEqual([
      { at: MIN, to: 'up' },
      { at: MIN + 15 * MIN, to: 'unknown' },
      // It was up, and answers: up at once.
      { at: MIN + gap, to: 'up' },
    ]);
    expect(run([p(0, 'ok'), p(MIN, 'ok'), p(2 * MIN, 'refused'), p(2 * MIN + gap, 'refused')])).toEqual([
      { at: MIN, to: 'up' },
      { at: 2 * MIN + 15 * MIN, to: 'unknown' },
      { at: 2 * MIN + gap, to: 'down', cause: 'refused' },
    ]);
  });

  it('percentiles interpolate within their bin', () => {
    const h = emptyHistogram();
    h[binOf(20)] = 100;
    expect(percentileOf(h, 50)).toBe(18);
    expect(percentileOf(emptyHistogram(), 50)).toBeUndefined();
  });
});

describe('a generated month', () => {
  it('report figures match the hand computation; buckets cross midnight; late samples after a clock change are kept', async () => {
    const dir = temp();
    const T0 = Date.parse('2026-10-01T00:00:00Z');
    const end = T0 + 30 * DAY;
    const store = new HistoryStore(dir, { retentionDays: 90, rule, now: () => end });
    const samples: Sample[] = [];
    for (let t = T0; t < end; t += 5 * MIN) {
      // a: down on day 10 from 02:00 to 04:00 (24 refused probes), one lone failure on day 20 at 12:00.
      const downA = t >= T0 + 9 * DAY + 2 * HOUR && t < T0 + 9 * DAY + 4 * HOUR;
      const blip = t === T0 + 19 * DAY + 12 * HOUR;
      samples.push({ t, n: 'a', k: 'p', s: downA ? 'refused' : blip ? 'timeout' : 'ok', l: 20 });
      samples.push({ t, n: 'b', k: 'p', s: 'ok', l: 300 });
    }
    await store.append(samples);
    // An append only appends: the fold is maintenance's, and a read sees the raw hours meanwhile.
    expect(existsSync(path.join(dir, 'history', 'days'))).toBe(false);
    const unfolded = await store.read(T0, end);
    await store.compact();
    // Folded: one file per day, no raw hour left but none (now is past them all).
    expect(readdirSync(path.join(dir, 'history', 'days'))).toHaveLength(30);
    expect(readdirSync(path.join(dir, 'history', 'raw'))).toEqual([]);

    const h = await store.read(T0, end);
    // The same figures from the raw hours as from the folded days.
    expect(nodeReport('a', unfolded.get('a'), T0, end, [], rule.coverMs)).toEqual(nodeReport('a', h.get('a'), T0, end, [], rule.coverMs));
    const a = nodeReport('a', h.get('a'), T0, end, [{ id: 'i1', node: 'a', at: new Date(T0 + 9 * DAY + 2 * HOUR + 10 * MIN).toISOString(), status: 'refused', diagnosis: 'x', actions: [], outcome: 'recovered', durationMs: 1, escalated: false }], rule.coverMs);
    // Up from the second answer (T0 + 5 min); down from 02:00 to the second answer after it (04:05).
    const observed = end - (T0 + 5 * MIN);
    const down = 2 * HOUR + 5 * MIN;
    expect(a.downMs).toBe(down);
    expect(a.upMs).toBe(observed - down);
    expect(a.uptimePct).toBe(Math.round(((observed - down) / observed) * 10_000) / 100);
    expect(a.uptimePct).toBe(99.71);
    // Watched from the first verdict to the end (the last probe, 5 min before it, vouches past it).
    expect([a.watchedMs, a.windowMs, a.throttledMs]).toEqual([observed, 30 * DAY, 0]);
    expect(a.downPeriods).toEqual([{ from: '2026-10-10T02:00:00.000Z', to: '2026-10-10T04:05:00.000Z', ms: down, cause: 'refused' }]);
    expect(a.mttrMs).toBe(down);
    expect(a.incidents).toBe(1);
    expect(a.probes).toEqual({ ok: 30 * 288 - 25, failed: 25 });
    expect(a.worstHour).toEqual({ at: '2026-10-10T02:00:00.000Z', failedPct: 100, failed: 12, probes: 12 });
    expect([a.p50Ms, a.p95Ms]).toEqual([18, 24]);
    const b = nodeReport('b', h.get('b'), T0, end, [], rule.coverMs);
    expect(b.uptimePct).toBe(100);
    expect(b.worstHour).toBeUndefined();
    expect(b.p50Ms).toBe(375); // 300 ms is in the (250, 500] bin

    // A week's window starts in the state the week before ended in.
    const week = await store.read(end - 7 * DAY, end);
    expect(week.get('a')!.startState).toBe('up');
    expect(nodeReport('a', week.get('a'), end - 7 * DAY, end, [], rule.coverMs).uptimePct).toBe(100);

    // The clock went back: samples for an hour already folded are added to it, not lost.
    await store.append([{ t: T0 + 2 * HOUR + 30 * MIN, n: 'b', k: 'p', s: 'ok', l: 300 }]);
    const again = await store.read(T0, T0 + DAY);
    expect(again.get('b')!.hours.get(T0 + 2 * HOUR)!.probes.ok).toBe(13);
  });

  it('over quota is neither up nor down: its own time, no outage, no worst hour; the time after the last probe\'s cover is unwatched', async () => {
    const dir = temp();
    const T0 = Date.parse('2026-10-01T00:00:00Z');
    const store = new HistoryStore(dir, { retentionDays: 90, rule, now: () => T0 + 2 * HOUR });
    await store.append(Array.from({ length: 12 }, (_, i) => ({ t: T0 + i * 5 * MIN, n: 'g', k: 'p' as const, s: i < 2 ? 'ok' : 'throttled', l: 40 })));
    const r = nodeReport('g', (await store.read(T0, T0 + 2 * HOUR)).get('g'), T0, T0 + 2 * HOUR, [], rule.coverMs);
    expect(r.probes).toEqual({ ok: 12, failed: 0 });
    expect(r.worstHour).toBeUndefined();
    expect(r.downPeriods).toEqual([]);
    // Up from 5 min to 10 min; throttled from 10 min to the last probe (55 min) and its 15 min.
    expect([r.upMs, r.throttledMs, r.downMs]).toEqual([5 * MIN, 60 * MIN, 0]);
    expect([r.uptimePct, r.watchedMs, r.windowMs]).toEqual([100, 65 * MIN, 2 * HOUR]);
  });

  it('a node watched 12 minutes of a week: its uptime is over those minutes, and the rest is unwatched, never down', async () => {
    const dir = temp();
    const end = Date.parse('2026-10-08T00:00:00Z');
    const T0 = end - 3 * DAY;
    const store = new HistoryStore(dir, { retentionDays: 90, rule, now: () => end });
    // Two failures a minute apart, then nothing for three days.
    await store.append([0, 1].map((i) => ({ t: T0 + i * MIN, n: 'x', k: 'p' as const, s: 'refused', l: 1 })));
    const r = nodeReport('x', (await store.read(end - 7 * DAY, end)).get('x'), end - 7 * DAY, end, [], rule.coverMs);
    // Down from the first failure to the last probe's cover: 16 min, not three days.
    expect([r.downMs, r.watchedMs, r.uptimePct]).toEqual([16 * MIN, 16 * MIN, 0]);
    expect(r.downPeriods).toEqual([{ from: new Date(T0).toISOString(), to: new Date(T0 + 16 * MIN).toISOString(), ms: 16 * MIN, cause: 'refused', unwatchedAfter: true }]);
    expect(r.mttrMs).toBeNull();
    const none = nodeReport('y', undefined, end - 7 * DAY, end, [], rule.coverMs);
    expect([none.uptimePct, none.watchedMs]).toEqual([null, 0]);
  });

  it('retention drops whole days past it', async () => {
    const dir = temp();
    let now = Date.parse('2026-10-01T12:00:00Z');
    const store = new HistoryStore(dir, { retentionDays: 2, rule, now: () => now });
    await store.append([{ t: now - 3 * DAY, n: 'a', k: 'p', s: 'ok', l: 5 }, { t: now - DAY, n: 'a', k: 'p', s: 'ok', l: 5 }]);
    await store.compact();
    expect(readdirSync(path.join(dir, 'history', 'days'))).toEqual(['2026-09-30.json']);
    now += 2 * DAY;
    await store.compact();
    expect(readdirSync(path.join(dir, 'history', 'days'))).toEqual([]);
  });
});

describe('one uptime rule for the figure and the colour', () => {
  it('segments split the same timeline the window\'s figure comes from; each segment\'s colour is its own percentage\'s', async () => {
    const dir = temp();
    const T0 = Date.parse('2026-10-01T00:00:00Z');
    const end = T0 + 6 * HOUR;
    const store = new HistoryStore(dir, { retentionDays: 90, rule, now: () => end });
    // Hour 0 up; hour 1 down for 30 min; hour 2 throttled; hours 3 and 4 unwatched; hour 5 up.
    const samples: Sample[] = [];
    for (let t = T0; t < T0 + 3 * HOUR; t += 5 * MIN) samples.push({ t, n: 'a', k: 'p', s: t >= T0 + HOUR && t < T0 + HOUR + 30 * MIN ? 'refused' : t >= T0 + 2 * HOUR ? 'throttled' : 'ok', l: 9 });
    for (let t = T0 + 5 * HOUR; t < end; t += 5 * MIN) samples.push({ t, n: 'a', k: 'p', s: 'ok', l: 9 });
    await store.append(samples);
    const h = (await store.read(T0, end)).get('a');
    const segs = segmentTimes(h, T0, HOUR, 6, end, rule.coverMs);
    const whole = timesOf(stretches(h, T0, end, rule.coverMs));
    expect(segs.reduce((a, t) => a + t.upMs + t.downMs + t.throttledMs, 0)).toBe(whole.upMs + whole.downMs + whole.throttledMs);
    expect(segs.map(verdictOf)).toEqual(['up', 'down', 'throttled', 'throttled', 'unwatched', 'up']);
    // Hour 1: down from 01:00 to the second answer after it (01:35).
    expect(uptimePct(segs[1]!)).toBe(41.67);
    // Hour 3 is throttled for the last probe's cover (02:55 + 15 min), then nobody watched.
    expect(segs[3]).toEqual({ upMs: 0, downMs: 0, throttledMs: 10 * MIN });
    expect(uptimePct(segs[2]!)).toBeNull();
  });
});

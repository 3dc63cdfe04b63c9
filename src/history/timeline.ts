/**
 * The one uptime rule, pure: where a node's time went over a window, from its state machine's
 * transitions. Time is `up`, `down`, `throttled` (answering 429: neither up nor down) or not
 * watched (before the first verdict, and `coverMs` after a probe with none since). Uptime is up
 * time over up and down time: never a percentage of time nobody watched, never lowered or
 * raised by a quota. `jarvis report`, the status page's figures and its bar colours all come
 * from here, so a bar cannot be amber beside a 100 %.
 */
import type { NodeHistory } from '../store/history-days.js';
import type { NodeStateName } from './buckets.js';

export interface StateTimes {
  upMs: number;
  downMs: number;
  throttledMs: number;
}

export const emptyTimes = (): StateTimes => ({ upMs: 0, downMs: 0, throttledMs: 0 });

/** Time anybody watched: up, down or throttled. */
export const watchedMs = (t: StateTimes): number => t.upMs + t.downMs + t.throttledMs;

/** Up over up and down, in percent with two decimals; null when neither (unwatched, or throttled throughout). */
export function uptimePct(t: StateTimes): number | null {
  const judged = t.upMs + t.downMs;
  return judged > 0 ? Math.round((t.upMs / judged) * 10_000) / 100 : null;
}

/** What a stretch of time says at a glance (a bar segment, a badge): the same figure as its percentage. */
export type Verdict = 'up' | 'degraded' | 'down' | 'throttled' | 'unwatched';

export function verdictOf(t: StateTimes): Verdict {
  if (watchedMs(t) === 0) return 'unwatched';
  if (t.throttledMs >= t.upMs + t.downMs) return 'throttled';
  const pct = uptimePct(t)!;
  return pct >= 99 ? 'up' : pct >= 90 ? 'degraded' : 'down';
}

/** One stretch in one state; `cause` is the failure a down stretch started with. */
export interface Stretch {
  state: NodeStateName;
  from: number;
  to: number;
  cause?: string;
}

/**
 * The node's stretches over [fromMs, toMs), in order, unwatched ones included. After the last
 * probe the state holds `coverMs`, then nobody watched (a probe after the silence made its own
 * `unknown` transition when it was folded).
 */
export function stretches(h: NodeHistory | undefined, fromMs: number, toMs: number, coverMs: number): Stretch[] {
  if (!h || h.last === undefined) return [{ state: 'unknown', from: fromMs, to: toMs }];
  const out: Stretch[] = [];
  let state: NodeStateName = h.startState;
  let since = fromMs;
  let cause: string | undefined;
  const close = (until: number) => {
    const to = Math.min(until, toMs);
    if (to > since) out.push({ state, from: since, to, ...(state === 'down' && cause && { cause }) });
    since = Math.max(since, to);
  };
  for (const t of h.transitions) {
    if (t.at < fromMs || t.to === state) continue;
    if (t.at >= toMs) break;
    close(t.at);
    state = t.to;
    cause = t.cause;
  }
  // The last probe vouches for coverMs after it.
  const seenUntil = h.last + coverMs;
  if (seenUntil < toMs) {
    close(Math.max(seenUntil, since));
    state = 'unknown';
  }
  close(toMs);
  return out;
}

/** Adds `ms` in `state` to the times (unwatched time to none). */
function spend(into: StateTimes, state: NodeStateName, ms: number): void {
  if (state === 'up') into.upMs += ms;
  else if (state === 'down') into.downMs += ms;
  else if (state === 'throttled') into.throttledMs += ms;
}

/** Where the time of some stretches went (a window's: `timesOf(stretches(h, from, to, cover))`). */
export function timesOf(list: readonly Stretch[]): StateTimes {
  const t = emptyTimes();
  for (const s of list) spend(t, s.state, s.to - s.from);
  return t;
}

/** The same, split into `count` segments of `size` from `start` (the last may end at `toMs`, before its full size). */
export function segmentTimes(h: NodeHistory | undefined, start: number, size: number, count: number, toMs: number, coverMs: number): StateTimes[] {
  const out = Array.from({ length: count }, emptyTimes);
  for (const s of stretches(h, start, Math.min(toMs, start + size * count), coverMs)) {
    for (let a = s.from; a < s.to; ) {
      const i = Math.floor((a - start) / size);
      const b = Math.min(s.to, start + (i + 1) * size);
      spend(out[i]!, s.state, b - a);
      a = b;
    }
  }
  return out;
}

/** A span of time for people: "45 s", "12 min", "5.5 h", "7 d". */
export function spanText(ms: number): string {
  if (ms < 10_000) return `${+(ms / 1000).toFixed(1)} s`;
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 2 * 86_400_000) return `${+(ms / 3_600_000).toFixed(1)} h`;
  return `${+(ms / 86_400_000).toFixed(1)} d`;
}

/**
 * How much of a window anybody watched, in the words report and page share: "12 min of 7 d",
 * "none of 7 d", or "all 7 d" (`all`). `name` is the window as people call it ("7 d").
 */
export function coverageText(watched: number, window: number, name = spanText(window)): { all: boolean; text: string } {
  if (watched >= window * 0.999) return { all: true, text: `all ${name}` };
  return { all: false, text: watched === 0 ? `none of ${name}` : `${spanText(watched)} of ${name}` };
}

/** Exponential backoff with full jitter (by default 1 s doubling to 30 s, spread at random). Pure. */

export interface BackoffSettings {
  initialMs: number;
  maxMs: number;
  multiplier: number;
  jitter: boolean;
}

/**
 * The wait before retry number `retry` (1 = the first retry). Full jitter draws uniformly in
 * [0, cap]: clients that failed together do not retry together.
 */
export function backoffDelay(retry: number, s: BackoffSettings, random: () => number): number {
  const cap = Math.min(s.maxMs, s.initialMs * s.multiplier ** Math.max(0, retry - 1));
  return Math.round(s.jitter ? random() * cap : cap);
}

/**
 * The one door to time. `JARVIS_NOW` (an ISO date) pins the wall clock for tests that need a
 * controllable "now" (escalation windows, retention) without sleeping; durations still use the
 * monotonic clock.
 */
export interface Clock {
  /** Wall-clock time, ms since the epoch. */
  now(): number;
  /** Monotonic ms, for durations. */
  monotonic(): number;
}

export function systemClock(env: NodeJS.ProcessEnv = process.env): Clock {
  const pinned = env.JARVIS_NOW ? Date.parse(env.JARVIS_NOW) : NaN;
  if (env.JARVIS_NOW && Number.isNaN(pinned)) throw new Error(`JARVIS_NOW is not a date: ${env.JARVIS_NOW}`);
  const origin = performance.now();
  return {
    now: Number.isNaN(pinned) ? () => Date.now() : () => pinned + (performance.now() - origin),
    monotonic: () => performance.now(),
  };
}

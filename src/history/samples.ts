/** What the history keeps of a probe: one sample per node, with its time. */
import type { ProbeResult } from '../probe/probe.js';
import type { Sample } from './buckets.js';

/** Probe results as history samples, at `at` (wall-clock ms); a 429 is `throttled`, neither up nor down. */
export function probeSamples(probes: readonly ProbeResult[], at: number): Sample[] {
  return probes.map((p) => ({ t: at, n: p.id, k: 'p', s: p.status === 'http_error' && p.throttled ? 'throttled' : p.status, l: Math.round(p.latencyMs) }));
}

/**
 * serve's request outcomes for the probe history: counted per node in memory (two numbers and a
 * histogram bin per attempt, nothing per request on disk) and appended as one sample per node
 * a minute (`flush`, from the server's timer and at shutdown).
 */
import { binOf, emptyHistogram, type Sample } from '../history/buckets.js';

interface Tally {
  ok: number;
  failed: Record<string, number>;
  lat: number[];
  ttft: number[];
  hasTtft: boolean;
}

export class RequestHistory {
  #tallies = new Map<string, Tally>();

  /** `outcome`: 'ok', or the failed attempt's class. */
  record(node: string, outcome: string, ms: number, firstTokenMs?: number): void {
    let t = this.#tallies.get(node);
    if (!t) this.#tallies.set(node, (t = { ok: 0, failed: {}, lat: emptyHistogram(), ttft: emptyHistogram(), hasTtft: false }));
    if (outcome === 'ok') {
      t.ok++;
      t.lat[binOf(ms)]!++;
      if (firstTokenMs !== undefined) {
        t.ttft[binOf(firstTokenMs)]!++;
        t.hasTtft = true;
      }
    } else t.failed[outcome] = (t.failed[outcome] ?? 0) + 1;
  }

  /** What was counted since the last flush, as samples at `at`; the counts start again. */
  flush(at: number): Sample[] {
    const samples: Sample[] = [];
    for (const [n, t] of this.#tallies) {
      samples.push({ t: at, n, k: 'r', ok: t.ok, h: t.lat, ...(Object.keys(t.failed).length > 0 && { f: t.failed }), ...(t.hasTtft && { ft: t.ttft }) });
    }
    this.#tallies = new Map();
    return samples;
  }
}

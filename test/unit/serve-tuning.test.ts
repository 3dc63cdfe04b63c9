/**
 * The V8 settings `jarvis serve` applies at run time (src/serve/tuning.ts), checked against the
 * V8 of the Node running the tests: each flag is one this V8 knows (an unknown flag is only a
 * warning on stderr, so a renamed one would silently stop saving memory), and set at run time they
 * do what serve relies on them for. In a child process: V8 flags cannot be unset.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { SERVE_V8_FLAGS } from '../../src/serve/tuning.js';

/**
 * Sets the flags (when given), then allocates: short-lived objects (churn) and one in twenty kept
 * (a growing live set, as open streams are). Reports the young and old generations' sizes.
 */
const CHURN = `
const v8 = require('node:v8');
for (const f of JSON.parse(process.argv[1])) v8.setFlagsFromString(f);
const kept = [];
let churn = [];
for (let i = 0; i < 3e6; i++) {
  const o = { i, s: 'x' + i };
  if (i % 20 === 0) kept.push(o);
  churn.push(o);
  if (churn.length > 100000) churn = [];
}
const size = (name) => v8.getHeapSpaceStatistics().find((s) => s.space_name === name).space_size;
process.stdout.write(JSON.stringify({ young: size('new_space'), old: size('old_space'), kept: kept.length }));
`;

interface Heap {
  young: number;
  old: number;
  stderr: string;
}

function heapAfterChurn(flags: readonly string[]): Heap {
  // --single-threaded: no concurrent marking, so when V8 collects does not depend on how busy the
  // machine is (with it, three runs give the same sizes to the MB; without, 43 to 83 MB untuned).
  const r = spawnSync(process.execPath, ['--single-threaded', '-e', CHURN, JSON.stringify(flags)], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  const { young, old } = JSON.parse(r.stdout) as { young: number; old: number };
  return { young, old, stderr: r.stderr };
}

describe('serve V8 tuning', () => {
  it("every flag is known to this Node's V8 and settable at run time", () => {
    expect(heapAfterChurn(SERVE_V8_FLAGS).stderr).toBe('');
    // The check above can fail: an unknown flag is reported on stderr.
    expect(heapAfterChurn(['--no-such-v8-flag']).stderr).toMatch(/unrecognized flag/);
  });

  it('keeps both generations close to what is live under churn, where V8 alone grows them', () => {
    const tuned = heapAfterChurn(SERVE_V8_FLAGS);
    const untuned = heapAfterChurn([]);
    // The young generation stays at its starting size (V8 alone doubles it up to 32 MB).
    expect(untuned.young).toBeGreaterThan(tuned.young * 2);
    expect(tuned.young).toBeLessThanOrEqual(4 << 20);
    // The old generation's GC limit grows by 25 % of what survived (V8 alone: 2 to 4 times).
    // Here: 37 MB tuned, 64 MB without --heap-growing-percent, 103 MB on V8's defaults.
    expect(untuned.old).toBeGreaterThan(tuned.old * 1.5);
    expect(tuned.old).toBeLessThanOrEqual(48 << 20);
  });
});

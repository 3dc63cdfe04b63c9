/**
 * The V8 settings `jarvis serve` applies at run time (src/serve/tuning.ts), checked against the
 * V8 of the Node running the tests: each flag is one this V8 knows (an unknown flag is only a
 * warning on stderr, so a renamed one would silently stop saving memory), and set at run time they
 * do what serve relies on them for. In a child process: V8 flags cannot be unset.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { SERVE_V8_FLAGS } from '../../src/serve/tuning.js';

/** Sets the flags (when given), churns through short-lived objects, reports the young generation's size. */
const CHURN = `
const v8 = require('node:v8');
for (const f of JSON.parse(process.argv[1])) v8.setFlagsFromString(f);
let keep = [];
for (let i = 0; i < 3e6; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 100000) keep = []; }
const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
process.stdout.write(String(young.space_size));
`;

function youngGenerationAfterChurn(flags: readonly string[]): { bytes: number; stderr: string } {
  const r = spawnSync(process.execPath, ['-e', CHURN, JSON.stringify(flags)], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return { bytes: Number(r.stdout), stderr: r.stderr };
}

describe('serve V8 tuning', () => {
  it("every flag is known to this Node's V8 and settable at run time", () => {
    expect(youngGenerationAfterChurn(SERVE_V8_FLAGS).stderr).toBe('');
    // The check above can fail: an unknown flag is reported on stderr.
    expect(youngGenerationAfterChurn(['--no-such-v8-flag']).stderr).toMatch(/unrecognized flag/);
  });

  it('keeps the young generation from growing under allocation churn, where V8 alone grows it', () => {
    const tuned = youngGenerationAfterChurn(SERVE_V8_FLAGS).bytes;
    const untuned = youngGenerationAfterChurn([]).bytes;
    expect(untuned).toBeGreaterThan(tuned * 2);
    expect(tuned).toBeLessThanOrEqual(4 << 20);
  });
});

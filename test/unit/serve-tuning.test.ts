/**
 * The V8 settings `jarvis serve` applies at run time (src/serve/tuning.ts), checked against the
 * V8 of the Node running the tests: each flag is one this V8 knows (an unknown flag is only a
 * warning on stderr, so a renamed one would silently stop saving memory). What they do to the
 * heap is measured by `npm run bench -- v8` (bench/v8.js), not asserted here: V8's heap sizes
 * are not a contract of jarvis. In a child process: V8 flags cannot be unset.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { SERVE_V8_FLAGS } from '../../src/serve/tuning.js';

/** What setting the flags at run time prints (V8 says an unknown one on stderr). */
function setting(flags: readonly string[]): string {
  const r = spawnSync(process.execPath, ['-e', "for (const f of JSON.parse(process.argv[1])) require('node:v8').setFlagsFromString(f)", JSON.stringify(flags)], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stderr;
}

describe('serve V8 tuning', () => {
  it("every flag is known to this Node's V8 and settable at run time", () => {
    expect(setting(SERVE_V8_FLAGS)).toBe('');
    // The check above can fail: an unknown flag is reported on stderr.
    expect(setting(['--no-such-v8-flag'])).toMatch(/unrecognized flag/);
  });
});

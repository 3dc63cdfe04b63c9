// `jarvis serve --low-memory`'s V8 flags (src/serve/tuning.ts) against V8's defaults, on a churn of
// short-lived objects with one in twenty kept (a growing live set, as open streams are): the
// young and old generations' sizes after it. Moved here from the test suite: V8's heap sizes are
// what the flags are for, not a contract of jarvis, and vary with V8's version.
import { spawnSync } from 'node:child_process';
import { printTable } from './lib.js';

const { SERVE_V8_FLAGS } = await import('../dist/serve/tuning.js');

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
process.stdout.write(JSON.stringify({ young: size('new_space'), old: size('old_space') }));
`;

function heapAfterChurn(flags) {
  // --single-threaded: no concurrent marking, so when V8 collects does not depend on how busy the
  // machine is (three runs give the same sizes to the MB; without it, 43 to 83 MB untuned).
  const r = spawnSync(process.execPath, ['--single-threaded', '-e', CHURN, JSON.stringify(flags)], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`churn failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

export async function benchV8() {
  const tuned = heapAfterChurn(SERVE_V8_FLAGS);
  const untuned = heapAfterChurn([]);
  const mb = (b) => `${(b / 2 ** 20).toFixed(1)} MB`;
  const met = (ok) => (ok ? 'met' : 'MISSED');
  printTable('serve --low-memory: V8 heap after 3 M allocations, 1 in 20 kept', ['generation', 'tuned', 'V8 defaults', 'target', ''], [
    ['young (new_space)', mb(tuned.young), mb(untuned.young), '<= 4 MB, under half of untuned', met(tuned.young <= 4 << 20 && untuned.young > tuned.young * 2)],
    ['old (old_space)', mb(tuned.old), mb(untuned.old), '<= 48 MB, under 2/3 of untuned', met(tuned.old <= 48 << 20 && untuned.old > tuned.old * 1.5)],
  ]);
}

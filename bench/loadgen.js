// An established load generator for the proxy benchmarks: wrk (one thread, written in C, so the
// generator takes as little of the two cores as it can) where it is installed, else autocannon
// (a devDependency). Both run a closed loop of `connections` keep-alive connections, each sending
// the next request when the last answer is read.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const hasWrk = spawnSync('wrk', ['--version'], { encoding: 'utf8' }).error === undefined;

/** Which generator this run uses, for the tables' titles. */
export const LOADGEN = hasWrk ? 'wrk, one thread' : 'autocannon';

/** "123.45us" / "1.20ms" / "2.00s" as milliseconds. */
function wrkMs(text) {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
}

let scriptSeq = 0;
function wrkScript(headers, body) {
  const file = path.join(tmpdir(), `jarvis-wrk-${process.pid}-${scriptSeq++}.lua`);
  const lua = [
    'wrk.method = "POST"',
    `wrk.body = ${JSON.stringify(body)}`,
    ...Object.entries({ 'content-type': 'application/json', ...headers }).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`),
    // Non-2xx answers are counted by wrk itself; nothing else runs per request.
  ].join('\n');
  writeFileSync(file, lua);
  return file;
}

function runWrk(url, headers, body, connections, seconds) {
  const script = wrkScript(headers, body);
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', ['-t1', `-c${connections}`, `-d${Math.max(1, Math.round(seconds))}s`, '--latency', '-s', script, url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`wrk exited ${code}: ${out.slice(-300)}`));
      const pct = (p) => wrkMs(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? '');
      const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
      const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      const errors = non2xx + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
      resolve({ rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN), p50: pct(50), p99: pct(99), requests, errors });
    });
  });
}

async function runAutocannon(url, headers, body, connections, seconds) {
  const autocannon = (await import('autocannon')).default;
  const r = await autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, connections, duration: Math.max(1, Math.round(seconds)) });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, requests: r.requests.total, errors: r.errors + r.timeouts + r.non2xx };
}

/** One cell: `connections` closed-loop connections POSTing `body` to `origin + pathName` for `seconds`. */
export function loadgen({ origin, pathName, headers = {}, body, connections, seconds }) {
  const url = `${origin}${pathName}`;
  return hasWrk ? runWrk(url, headers, body, connections, seconds) : runAutocannon(url, headers, body, connections, seconds);
}

// Shared pieces of the benchmarks: sim clusters as processes, timing child processes, tables.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BIN = path.join(ROOT, 'bin', 'jarvis.js');
// Built by `npm run build` (npm run bench builds first): the demo's and the tests' way to start and stop children.
export const { startReady, stopChild } = await import('../dist/system/children.js');
const RSS_HOOK = path.join(ROOT, 'bench', 'rss-hook.js');

export function tempDir() {
  const dir = mkdtempSync(path.join(tmpdir(), 'jarvis-bench-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Starts `jarvis sim cluster` with the given node specs; resolves when ready. */
export async function startCluster(dir, nodes, timeoutMs) {
  const spec = path.join(dir, `spec-${nodes.length}.json`);
  const config = path.join(dir, `cluster-${nodes.length}.yaml`);
  writeFileSync(spec, JSON.stringify({ nodes }));
  const child = spawn(process.execPath, [BIN, 'sim', 'cluster', '--spec', spec, '--config-out', config, '--timeout', String(timeoutMs), '--exit-with-parent'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = await startReady(child, { what: 'the simulated cluster', event: 'ready' });
  return { ready, config, stop: () => stopChild(child) };
}

/** Runs a command, returns wall ms, exit code, stdout, and max RSS (KiB) for jarvis runs. */
export function timed(file, args, { env = process.env, rss = false } = {}) {
  const rssFile = rss ? path.join(tmpdir(), `jarvis-rss-${process.pid}-${Math.random().toString(36).slice(2)}`) : undefined;
  const argv = rss ? ['--import', RSS_HOOK, ...args] : args;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(file, argv, { env: { ...env, ...(rssFile && { JARVIS_BENCH_RSS: rssFile }) }, stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.once('error', reject);
    child.once('close', (code) => {
      const ms = performance.now() - started;
      let maxRssKiB;
      if (rssFile && existsSync(rssFile)) {
        maxRssKiB = Number(readFileSync(rssFile, 'utf8'));
        rmSync(rssFile, { force: true });
      }
      resolve({ ms, code, stdout, maxRssKiB });
    });
  });
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/** Prints a plain-text table (it goes into closing notes and the README as is). */
export function printTable(title, head, rows) {
  const widths = head.map((h, i) => Math.max(String(h).length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd();
  console.log(`\n${title}`);
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

export const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);

/** Closed-loop load: `concurrency` workers sending back to back for `seconds`. */
export async function load(origin, pathName, headers, body, concurrency, seconds) {
  const pool = new Pool(origin, { connections: concurrency, pipelining: 1 });
  const lat = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        try {
          const r = await pool.request({ path: pathName, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
          await r.body.text();
          if (r.statusCode !== 200) errors++;
          else lat.push(performance.now() - t);
        } catch {
          errors++;
        }
      }
    }),
  );
  await pool.close();
  return { lat, errors, rps: lat.length / seconds };
}

/** Time to the first streamed byte, `n` times after 20 warm-ups (`body` defaults to a short chat stream). */
export async function firstByte(origin, pathName, headers, n = 200, body = JSON.stringify({ model: 'auto', stream: true, messages: [{ role: 'user', content: 'a b c d' }] })) {
  const pool = new Pool(origin, { connections: 1 });
  const ms = [];
  for (let i = 0; i < n + 20; i++) {
    const t = performance.now();
    const r = await pool.request({ path: pathName, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    let first;
    for await (const chunk of r.body) {
      first ??= performance.now() - t;
      void chunk;
    }
    if (i >= 20) ms.push(first);
  }
  await pool.close();
  return ms;
}

/**
 * Closed-loop load on several paths at `concurrency`, in turns (`rounds` rounds of `seconds /
 * rounds` each, every other one reversed, after a warm-up of `warmS` each): each path's latencies,
 * request count, errors and requests per second in each round. A target is
 * `{ name, origin, path, headers?, body }`.
 */
export async function inTurns(targets, concurrency, seconds, rounds, warmS = 0.3) {
  const acc = Object.fromEntries(targets.map((t) => [t.name, { lat: [], n: 0, errors: 0, rps: [] }]));
  for (const t of targets) await load(t.origin, t.path, t.headers ?? {}, t.body, concurrency, warmS);
  for (let r = 0; r < rounds; r++) {
    for (const t of r % 2 ? [...targets].reverse() : targets) {
      const res = await load(t.origin, t.path, t.headers ?? {}, t.body, concurrency, seconds / rounds);
      acc[t.name].lat.push(...res.lat);
      acc[t.name].n += res.lat.length;
      acc[t.name].errors += res.errors;
      acc[t.name].rps.push(res.rps);
    }
  }
  return acc;
}

/**
 * `jarvis watch` (and `jarvis ask`'s waiting line, `jarvis sim`'s summary) in a real terminal: tmux (send-keys,
 * capture-pane) drives the built CLI against sim nodes. Skipped, with the reason printed, where
 * tmux is not installed.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, freePort, jarvis, startCluster, stopRestarted, tempDir, type RunningSim } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

const hasTmux = spawnSync('tmux', ['-V']).error === undefined;
if (!hasTmux) console.warn('[skip] watch tests: tmux not installed (apt-get install tmux)');
const session = `jarvis-watch-${process.pid}`;
// The pane's shell is a person's terminal: without CI=true, which a CI machine sets and which turns
// jarvis's live output off (a CI log is no terminal). The tmux server takes its environment from here.
const paneEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'CI'));
const tmux = (...args: string[]) => spawnSync('tmux', ['-L', session, ...args], { encoding: 'utf8', env: paneEnv });
const screen = () => tmux('capture-pane', '-t', session, '-p').stdout;

async function until(what: string, test: (text: string) => boolean, ms = 15_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const text = screen();
    if (test(text)) return text;
    if (Date.now() > end) throw new Error(`watch: ${what} did not appear; the screen:\n${text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let tmp: ReturnType<typeof tempDir>;
let sim: RunningSim;
let cfg: string;

beforeAll(async () => {
  tmp = tempDir('jarvis-watch-');
  ({ sim, cfg } = await startCluster(tmp.dir, [{ id: 'alpha', kind: 'openai', models: ['m'] }, { id: 'beta', kind: 'ollama', models: ['qwen3:8b'] }, { id: 'stuck', kind: 'ollama', models: ['qwen3:8b'], fault: 'hang' }], { timeoutMs: 1000 }));
});

/** The shell in the pane, with `cmd` typed into it; with `record`, all the pane receives is copied to that file. */
async function shell(cmd: string, record?: string): Promise<void> {
  tmux('kill-server');
  // The last test's server may still be going away (its socket, its session): until a new session starts.
  await waitFor(() => tmux('new-session', '-d', '-s', session, '-x', '200', '-y', '50', 'sh').status === 0 || (tmux('kill-server'), false), { what: 'a fresh tmux session', intervalMs: 50 });
  if (record) {
    writeFileSync(record, '');
    expect(tmux('pipe-pane', '-t', session, `cat >> '${record}'`).status).toBe(0);
  }
  tmux('send-keys', '-t', session, cmd, 'Enter');
}

/** A config of the cluster's nodes less `stuck` (whose probe takes its whole timeout). */
function withoutStuck(): string {
  const file = path.join(tmp.dir, 'quick.yaml');
  writeFileSync(file, readFileSync(cfg, 'utf8').replace(/^ {2}- \{ id: stuck,.*\n/m, ''));
  return file;
}

afterAll(async () => {
  if (hasTmux) tmux('kill-server');
  await sim?.stop();
  tmp?.cleanup();
});

describe.skipIf(!hasTmux)('jarvis watch', () => {
  it('draws the table, turns a killed node down within a refresh, diagnoses on d, and q gives the terminal back', async () => {
    await shell(`HOME=${tmp.dir} NO_COLOR=1 ${process.execPath} ${BIN} watch --interval 500 --config ${withoutStuck()} --data-dir ${path.join(tmp.dir, 'data')}`);
    const first = await until('the node table', (t) => /last probes/.test(t) && /beta +ollama +ok/.test(t));
    expect(first).toMatch(new RegExp(`jarvis watch · .* UTC · every 500 ms · data ${path.join(tmp.dir, 'data')}`));
    expect(first).toMatch(/› +alpha +openai +ok/);
    expect((await jarvis(['sim', 'fault', sim.ready.control, 'alpha', 'down'], { env: cleanEnv(tmp.dir) })).code).toBe(0);
    // One refresh is 500 ms; the probe of a refused port is immediate.
    const down = await until('alpha refused', (t) => /alpha +openai +refused/.test(t), 3000);
    expect(down).toMatch(/alpha +openai +refused \(changed\)/);
    expect(down).toMatch(/×/);
    tmux('send-keys', '-t', session, 'd');
    await until('the diagnosis', (t) => /Cause +connection refused/.test(t));
    tmux('send-keys', '-t', session, 'Down');
    await until('beta selected', (t) => /› +beta/.test(t));
    tmux('send-keys', '-t', session, 'q');
    const after = await until('the shell again', (t) => !/jarvis watch ·/.test(t) && t.includes(' watch --interval 500'));
    expect(after).not.toMatch(/last probes/);
  });

  it('keeps its interval and quits on q at once while a node hangs (its probe takes a minute)', async () => {
    const slow = path.join(tmp.dir, 'slow.yaml');
    writeFileSync(slow, readFileSync(cfg, 'utf8').replace(/(id: stuck,.*timeoutMs: )\d+/, '$160000'));
    // Run from another directory: the data dir it reads is said, the same ./data rule as every command.
    await shell(`cd ${tmp.dir} && HOME=${tmp.dir} NO_COLOR=1 ${process.execPath} ${BIN} watch --interval 1000 --config ${slow}`);
    await until('the node table', (t) => /beta +ollama +ok/.test(t));
    expect(screen()).toContain(`data ${path.join(tmp.dir, 'data')}`);
    // Four different seconds in the header while the hung probe (60 s) is still under way: the
    // rounds do not wait on it.
    const seen = new Set<string>();
    await until('four refreshes', (t) => {
      const m = /jarvis watch · (\d\d:\d\d:\d\d) UTC/.exec(t);
      if (m) seen.add(m[1]!);
      return seen.size >= 4;
    }, 30_000);
    expect(screen()).toMatch(/stuck +ollama +probing \d/);
    tmux('send-keys', '-t', session, 'q');
    // Back at the shell, and the process gone, long before the hung probe could end.
    await until('the shell again', (t) => !/jarvis watch ·/.test(t), 15_000);
    tmux('send-keys', '-t', session, 'echo "exit=$?"', 'Enter');
    expect(await until("the exit status", (t) => /exit=\d+\s*$/m.test(t), 15_000)).toMatch(/exit=0\s*$/m);
  });

  it('R forces a recovery where the runbook holds: r on a hung node is held, with the way to force it', async () => {
    const port = await freePort();
    const data = path.join(tmp.dir, 'force-data');
    const hung = path.join(tmp.dir, 'hung.yaml');
    // Nothing listens at first; its restart starts a server that hangs.
    writeFileSync(hung, `nodes:\n  - { id: h, kind: ollama, url: "http://127.0.0.1:${port}", model: "qwen3:8b", timeoutMs: 800, restart: [${JSON.stringify(process.execPath)}, ${JSON.stringify(BIN)}, sim, node, --kind, ollama, --id, h, --port, "${port}", --fault, hang], process: false }\nrecover: { healthTimeoutMs: 3000, verifyTimeoutMs: 1000 }\n`);
    try {
      await shell(`HOME=${tmp.dir} NO_COLOR=1 ${process.execPath} ${BIN} watch --interval 500 --config ${hung} --data-dir ${data}`);
      await until('h refused', (t) => /h +ollama +refused/.test(t));
      tmux('send-keys', '-t', session, 'r');
      await until('the question', (t) => /Recover h now, per the runbook\? y yes · f force/.test(t));
      tmux('send-keys', '-t', session, 'y');
      // Started, but it hangs: not recovered. Now a hung node whose process jarvis cannot see.
      await until('the first recovery', (t) => /^h: not_recovered/m.test(t), 60_000);
      await until('h timing out', (t) => /h +ollama +timeout/.test(t), 30_000);
      tmux('send-keys', '-t', session, 'r');
      await until('the question', (t) => /Recover h now/.test(t));
      tmux('send-keys', '-t', session, 'y');
      await until('the runbook holding', (t) => /^h: no_action \(.*--force restarts it\)+ · R forces it/m.test(t), 60_000);
      tmux('send-keys', '-t', session, 'R');
      await until('the forced question', (t) => /Force a recovery of h now/.test(t));
      tmux('send-keys', '-t', session, 'y');
      await until('the forced recovery', (t) => /^h: not_recovered/m.test(t) && !/force-recovering/.test(t), 60_000);
      tmux('send-keys', '-t', session, 'q');
      await until('the shell again', (t) => !/jarvis watch ·/.test(t));
      const incidents = (JSON.parse(readFileSync(path.join(data, 'incidents.json'), 'utf8')) as { incidents: { outcome: string; forced?: boolean; steps: { label: string }[] }[] }).incidents;
      expect(incidents.map((i) => [i.outcome, i.forced ?? false])).toEqual([
        ['not_recovered', false],
        ['no_action', false],
        ['not_recovered', true],
      ]);
      // Forced: its own server (the pid file says which) was stopped and started again.
      expect(incidents[2]!.steps.map((st) => st.label).join(' | ')).toMatch(/stop.*start/i);
    } finally {
      stopRestarted(data);
    }
  });

  it('ask in a terminal says which node it waits on and for how long; in a pipe, nothing of the kind', async () => {
    // A 6 s deadline: the hung node gets half of it, then the request fails over.
    // Everything the pane receives is recorded: the waiting line is redrawn, then replaced by the
    // failover, and a busy machine may not look at the screen during its 3 s.
    const record = path.join(tmp.dir, 'ask-pane.log');
    await shell(`HOME=${tmp.dir} NO_COLOR=1 ${process.execPath} ${BIN} ask --node stuck --timeout 6000 --config ${cfg} --data-dir ${path.join(tmp.dir, 'data')} "hello"`, record);
    // It fails over, and the answer comes from another node.
    await until('the answer', (t) => /answered by (alpha|beta)/.test(t), 30_000);
    let received = '';
    await waitFor(() => /answered by/.test((received = readFileSync(record, 'utf8'))), { what: 'the answer in the pane log' });
    expect(received).toMatch(/waiting on stuck (\(attempt \d+\/\d+\) )?[\d.]+ (ms|s) of 3\.00 s/);
    // Redrawn in place (a carriage return and an erased line), not one line per tick.
    expect(received).toMatch(/\r\u001b\[2K\S+ waiting on stuck/);
    const piped = await jarvis(['ask', '--node', 'stuck', '--timeout', '6000', '--config', cfg, '--data-dir', path.join(tmp.dir, 'data'), 'hello'], { env: cleanEnv(tmp.dir) });
    expect(piped.code).toBe(0);
    expect(piped.stderr).not.toMatch(/waiting on/);
    expect(piped.stderr).toMatch(/failover stuck -> /);
  });

  it('refuses without a terminal and says what to use', async () => {
    const r = await jarvis(['watch', '--config', cfg, '--data-dir', path.join(tmp.dir, 'data')], { env: cleanEnv(tmp.dir) });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs a terminal of a known size \(this is not one\); for scripts use `jarvis status --json`/);
  });
});

describe.skipIf(!hasTmux)('jarvis sim on a terminal', () => {
  it('says what it started in words for a person; with --json, the JSON line programs read', async () => {
    const out = path.join(tmp.dir, 'tty-sim.yaml');
    await shell(`HOME=${tmp.dir} NO_COLOR=1 ${process.execPath} ${BIN} sim cluster --preset 2 --config-out ${out}`);
    const text = await until('the summary', (t) => /Ctrl-C stops it/.test(t));
    expect(text).toMatch(/Simulated cluster of 2 nodes ready on loopback \(pid \d+\):/);
    expect(text).toMatch(/^node +kind +url +model +fault$/m);
    expect(text).toContain(`config   ${out}   try: jarvis status --config ${out}`);
    expect(text).toMatch(/control {2}http:\/\/127\.0\.0\.1:\d+ {3}faults: jarvis sim fault http:\/\/127\.0\.0\.1:\d+ \S+ hang/);
    tmux('send-keys', '-t', session, 'C-c');
    tmux('send-keys', '-t', session, 'echo "gone-$?"', 'Enter');
    await until('the shell again', (t) => /^(# )?gone-\d+/m.test(t));
    await shell(`HOME=${tmp.dir} ${process.execPath} ${BIN} sim node --kind ollama --json`);
    const json = await until('the JSON line', (t) => /"event":"ready"/.test(t));
    expect(json).not.toMatch(/Simulated/);
    tmux('send-keys', '-t', session, 'C-c');
    tmux('send-keys', '-t', session, 'echo "gone-$?"', 'Enter');
    await until('the shell again', (t) => /^(# )?gone-\d+/m.test(t));
  });
});

/**
 * `jarvis watch` in a real terminal: tmux (send-keys, capture-pane) drives the built CLI against
 * sim nodes. Skipped, with the reason printed, where tmux is not installed.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, jarvis, startCluster, tempDir, type RunningSim } from '../helpers/cli.js';

const hasTmux = spawnSync('tmux', ['-V']).error === undefined;
if (!hasTmux) console.warn('[skip] watch tests: tmux not installed (apt-get install tmux)');
const session = `jarvis-watch-${process.pid}`;
const tmux = (...args: string[]) => spawnSync('tmux', ['-L', session, ...args], { encoding: 'utf8' });
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
  ({ sim, cfg } = await startCluster(tmp.dir, [{ id: 'alpha', kind: 'openai', models: ['m'] }, { id: 'beta', kind: 'ollama', models: ['qwen3:8b'] }], { timeoutMs: 1000 }));
});

afterAll(async () => {
  if (hasTmux) tmux('kill-server');
  await sim?.stop();
  tmp?.cleanup();
});

describe.skipIf(!hasTmux)('jarvis watch', () => {
  it('draws the table, turns a killed node down within a refresh, diagnoses on d, and q gives the terminal back', async () => {
    expect(tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '50', 'sh').status).toBe(0);
    const cmd = `HOME=${tmp.dir} NO_COLOR=1 ${process.execPath} ${BIN} watch --interval 500 --config ${cfg} --data-dir ${path.join(tmp.dir, 'data')}`;
    tmux('send-keys', '-t', session, cmd, 'Enter');
    const first = await until('the node table', (t) => /last probes/.test(t) && /beta +ollama +ok/.test(t));
    expect(first).toMatch(/jarvis watch · .* UTC · every 500 ms/);
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

  it('refuses without a terminal and says what to use', async () => {
    const r = await jarvis(['watch', '--config', cfg, '--data-dir', path.join(tmp.dir, 'data')], { env: cleanEnv(tmp.dir) });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs a terminal of a known size \(this is not one\); for scripts use `jarvis status --json`/);
  });
});

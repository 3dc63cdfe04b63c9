/** Pure tests: the runbook's own addresses (192.168.x, 10.x) appear only as text the init template and plans produce; nothing here opens a connection. */
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { INIT_TEMPLATE } from '../../src/config/template.js';
import type { ProbeResult } from '../../src/probe/probe.js';
import type { PidRecord } from '../../src/runbook/ownership.js';
import type { PortHolder } from '../../src/system/ports.js';
import { diagnosisForPlan } from '../../src/runbook/diagnosis.js';
import { planRecovery } from '../../src/runbook/plan.js';
import { lmsRunning, processCheck, tasklistHas } from '../../src/runbook/commands.js';
import { loadRunbook, type Runbook } from '../../src/runbook/runbook.js';
import { commandOn } from '../../src/runbook/target.js';
import { shQuote } from '../../src/system/process.js';
import { readCompletion, verifyRequest } from '../../src/runbook/verify.js';
import { blockedByEscalation, escalates, escalationCount, escalationWindow, parseSince, windowTally, validateIncidentFile, type Incident } from '../../src/incidents/incident.js';

const config = await parseConfig(INIT_TEMPLATE, 'jarvis.config.yaml');
const nodeOf = (id: string) => config.nodes.find((n) => n.id === id)!;
let runbook: Runbook;
beforeAll(async () => {
  runbook = await loadRunbook();
});

const plan = (id: string, probe: Partial<ProbeResult>, extra: { processAlive?: boolean | null; force?: boolean; wait?: boolean; holders?: PortHolder[] | undefined; pidFile?: PidRecord } = {}) => {
  const node = nodeOf(id);
  const p: ProbeResult = { id, kind: node.kind, priority: node.priority, latencyMs: 5, target: 'x', status: 'ok', ...probe };
  const diagnosis = diagnosisForPlan(runbook, node, p, { host: 'h', reachable: true, detail: 'up', command: [] }, { platform: 'linux' }, extra.force ?? false);
  return planRecovery({ config, runbook, node, probe: p, diagnosis, processAlive: extra.processAlive ?? null, holders: 'holders' in extra ? extra.holders : [], ...(extra.pidFile && { pidFile: extra.pidFile }), force: extra.force ?? false, wait: extra.wait ?? true, logDir: '/data/logs' });
};

describe('planRecovery', () => {
  it('OL1 refused: start `ollama serve` detached on its address, wait, verify', () => {
    const p = plan('ol1', { status: 'refused' }, { processAlive: false });
    expect(p.action).toBe('restart');
    expect(p.steps.map((s) => s.kind)).toEqual(['spawn', 'wait_healthy', 'verify']);
    expect(p.steps[0]).toMatchObject({ argv: ['ollama', 'serve'], logFile: '/data/logs/ol1.log' });
    expect(p.steps[2]).toMatchObject({ kind: 'verify', timeoutMs: 5000 });
  });

  it('M2 500 over ssh: stop, then `lms server start --port 1234` on the remote machine', () => {
    const p = plan('m2', { status: 'http_error', httpStatus: 500 }, { processAlive: true });
    expect(p.steps.map((s) => s.kind)).toEqual(['command', 'command', 'wait_healthy', 'verify']);
    const [stop, start] = p.steps as { argv: string[]; optional?: boolean }[];
    expect(stop!.optional).toBe(true);
    expect(stop!.argv.slice(-3)).toEqual(['admin@192.168.1.26', '--', 'lms server stop']);
    expect(start!.argv.at(-1)).toBe('lms server start --port 1234');
    expect(start!.argv).toContain('BatchMode=yes');
  });

  it('timeout: not killed while the process is alive, unless forced; restarted when it is dead', () => {
    expect(plan('ol1', { status: 'timeout' }, { processAlive: true })).toMatchObject({ action: 'none', steps: [] });
    expect(plan('ol1', { status: 'timeout' }, { processAlive: null }).action).toBe('none');
    expect(plan('ol1', { status: 'timeout' }, { processAlive: true, force: true }).action).toBe('restart');
    expect(plan('ol1', { status: 'timeout' }, { processAlive: false }).action).toBe('restart');
  });

  it('M1 (low impact) is left alone unless forced', () => {
    expect(plan('m1', { status: 'refused' }).action).toBe('none');
    // M1 is remote with no ssh: even forced, nothing can be restarted from here.
    expect(plan('m1', { status: 'refused' }, { force: true }).reason).toMatch(/set `ssh`/);
  });

  it('quota: wait Retry-After (bounded), or nothing with --no-wait', () => {
    const p = plan('gemini', { status: 'http_error', httpStatus: 429, throttled: true, retryAfterS: 30 });
    expect(p.steps[0]).toEqual({ kind: 'wait', label: 'wait 30 s for the quota to reset', seconds: 30 });
    expect(plan('gemini', { status: 'http_error', httpStatus: 429, throttled: true, retryAfterS: 9999 }).steps[0]).toMatchObject({ seconds: 120 });
    expect(plan('gemini', { status: 'http_error', httpStatus: 429, throttled: true }, { wait: false }).action).toBe('none');
  });

  it('unreachable and dns: nothing to restart', () => {
    expect(plan('m3', { status: 'unreachable' }).reason).toMatch(/network or hardware/);
    expect(plan('m3', { status: 'dns' }).action).toBe('none');
  });

  it('model missing on LM Studio: lms load, wait, verify', () => {
    const p = plan('m3', { status: 'model_missing' });
    expect(p.action).toBe('load_model');
    expect((p.steps[0] as { argv: string[] }).argv.at(-1)).toBe('lms load mistral -y');
  });

  it('healthy: verify only', () => {
    expect(plan('ol1', { status: 'ok' })).toMatchObject({ action: 'verify', steps: [{ kind: 'verify' }] });
  });
});

describe('processCheck', () => {
  it('pgrep -x locally, tasklist on Windows, lms status for LM Studio, over ssh when remote', () => {
    expect(processCheck(nodeOf('ol1'), runbook, 'linux')).toBeUndefined(); // ol1 has a custom restart argv in the template
    const ollama = { ...nodeOf('ol1'), restart: undefined };
    expect(processCheck(ollama, runbook, 'linux')).toMatchObject({ argv: ['pgrep', '-x', 'ollama'], read: 'exit' });
    expect(processCheck(ollama, runbook, 'win32')).toMatchObject({ argv: ['tasklist', '/FI', 'IMAGENAME eq ollama.exe', '/FO', 'CSV', '/NH'], read: 'tasklist' });
    expect(processCheck(nodeOf('m2'), runbook, 'linux')!.argv.at(-1)).toBe('lms server status --json');
    expect(processCheck(nodeOf('m1'), runbook, 'linux')).toBeUndefined();
  });

  it('reads tasklist and lms status output', () => {
    expect(tasklistHas('"ollama.exe","1234","Console","1","25,000 K"\r\n', 'ollama.exe')).toBe(true);
    expect(tasklistHas('INFO: No tasks are running which match the specified criteria.\r\n', 'ollama.exe')).toBe(false);
    expect(lmsRunning('{"running":true,"port":1234}')).toBe(true);
    expect(lmsRunning('{"running":false}')).toBe(false);
    expect(lmsRunning('garbage')).toBeNull();
  });
});

describe('commands over ssh', () => {
  it('quotes every argument for the remote shell, so config values never become shell syntax', () => {
    const nasty = ["it's", '$(rm -rf /)', 'a b', '`x`', ';', '&&', '*'];
    const argv = commandOn({ kind: 'ssh', target: 'u@h', connectTimeoutS: 5, options: [] }, ['printf', '%s\\n', ...nasty]);
    const remote = argv.at(-1)!;
    // Run the remote command line through a real sh: it must print the arguments back verbatim.
    const out = spawnSync('sh', ['-c', remote], { encoding: 'utf8' });
    expect(out.stdout.split('\n').slice(0, -1)).toEqual(nasty);
  });

  it('background mode: nohup with output to a log, stdin closed', () => {
    const argv = commandOn({ kind: 'ssh', target: 'u@h', port: 2222, connectTimeoutS: 7, options: ['-o', 'X=1'] }, ['ollama', 'serve'], { env: { OLLAMA_HOST: '0.0.0.0:11434' }, background: { logFile: '/tmp/j.log' } });
    expect(argv).toEqual(['ssh', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=7', '-p', '2222', '-o', 'X=1', 'u@h', '--', 'nohup env OLLAMA_HOST=0.0.0.0:11434 ollama serve > /tmp/j.log 2>&1 < /dev/null &']);
    expect(shQuote('plain-arg_1.0')).toBe('plain-arg_1.0');
  });
});

describe('verification', () => {
  it('builds the runbook request per kind', () => {
    expect(verifyRequest(nodeOf('m3'), 'mistral-7b')).toEqual({
      url: 'http://192.168.1.113:1234/v1/chat/completions',
      body: { model: 'mistral-7b', messages: [{ role: 'user', content: 'ping' }], max_tokens: 10, stream: false },
    });
    expect(verifyRequest(nodeOf('ol1'), 'qwen3:8b')!.url).toBe('http://127.0.0.1:11434/api/chat');
  });

  it('reads replies: content required; tokens/s from Ollama durations', () => {
    const ollama = JSON.stringify({ model: 'qwen3:8b', message: { role: 'assistant', content: 'pong' }, done: true, eval_count: 10, eval_duration: 500_000_000 });
    expect(readCompletion('ollama', 200, ollama)).toMatchObject({ ok: true, content: 'pong', tokensPerSecond: 20 });
    const openai = JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: 'pong' }, finish_reason: 'stop' }] });
    expect(readCompletion('lmstudio', 200, openai)).toMatchObject({ ok: true, content: 'pong' });
    expect(readCompletion('lmstudio', 200, JSON.stringify({ choices: [{ message: { content: '' } }] })).ok).toBe(false);
    expect(readCompletion('lmstudio', 200, '<html>')).toMatchObject({ ok: false, detail: expect.stringMatching(/not JSON/) });
    expect(readCompletion('lmstudio', 400, JSON.stringify({ error: { message: 'No models loaded.' } }))).toMatchObject({ ok: false, detail: 'HTTP 400: No models loaded.' });
  });
});

describe('the post-mortem rule', () => {
  const inc = (node: string, iso: string, outcome: Incident['outcome'] = 'not_recovered') => ({ node, at: iso, outcome }) as Incident;
  const list = [inc('ol1', '2026-11-21T10:00:00Z'), inc('ol1', '2026-11-22T08:00:00Z'), inc('m2', '2026-11-22T08:30:00Z')];
  const draft = (node: string, iso: string, outcome: Incident['outcome'] = 'not_recovered') => ({ node, at: iso, outcome });

  it('3 or more failed recoveries on one node within 24 h escalate', () => {
    expect(escalates(list, draft('ol1', '2026-11-22T09:00:00Z'))).toEqual({ escalated: true, windowCount: 3, windowRecorded: 3 });
    expect(escalates(list, draft('ol1', '2026-11-22T10:00:01Z'))).toEqual({ escalated: false, windowCount: 2, windowRecorded: 2 });
    expect(escalates(list, draft('m2', '2026-11-22T09:00:00Z')).escalated).toBe(false);
    expect(escalationCount(list, 'ol1', Date.parse('2026-11-22T09:00:00Z'), { count: 2, windowMs: 2 * 3600_000 })).toBe(1);
  });

  it.each<[Incident['outcome'][], number, boolean]>([
    // The runbook: 3 or more incidents on one node in 24 h. A recovery is an incident: the node was down.
    [['recovered', 'recovered', 'recovered'], 3, true],
    [['not_recovered', 'recovered', 'not_recovered'], 3, true],
    [['recovered', 'recovered'], 2, false],
    [['no_action', 'no_action', 'recovered'], 1, false],
    [['interrupted', 'recovered', 'interrupted', 'recovered'], 2, false],
  ])('outcomes %j: the last one counts %i and escalates: %s', (outcomes, count, escalated) => {
    const before = outcomes.slice(0, -1).map((o, i) => inc('ol1', `2026-11-22T08:0${i}:00Z`, o));
    const last = draft('ol1', '2026-11-22T08:30:00Z', outcomes.at(-1));
    expect(escalates(before, last).windowCount).toBe(count);
    expect(escalates(before, last).escalated).toBe(escalated);
    expect(escalationCount([...before, last as Incident], 'ol1', Date.parse('2026-11-22T09:00:00Z'))).toBe(count);
  });

  it('no_action and interrupted never count, nor escalate', () => {
    const quiet = [inc('gemini', '2026-11-22T08:00:00Z', 'no_action'), inc('gemini', '2026-11-22T08:05:00Z', 'no_action')];
    expect(escalates(quiet, draft('gemini', '2026-11-22T08:10:00Z', 'no_action'))).toEqual({ escalated: false, windowCount: 0, windowRecorded: 3 });
    const three = [inc('ol1', '2026-11-22T08:00:00Z', 'recovered'), inc('ol1', '2026-11-22T08:10:00Z', 'recovered'), inc('ol1', '2026-11-22T08:20:00Z', 'recovered')];
    expect(escalates(three, draft('ol1', '2026-11-22T08:30:00Z', 'interrupted')).escalated).toBe(false);
  });

  it('every node\'s count in the window, after its ack: the number incidents, recover and check show', () => {
    const all = [inc('a', '2026-11-22T08:00:00Z', 'recovered'), inc('a', '2026-11-22T08:10:00Z', 'recovered'), inc('a', '2026-11-22T08:20:00Z', 'not_recovered'), inc('b', '2026-11-22T08:00:00Z', 'no_action'), inc('c', '2026-11-22T08:00:00Z'), inc('c', '2026-11-22T08:30:00Z')];
    const rule = { count: 3, windowMs: 86_400_000 };
    const at = Date.parse('2026-11-22T09:00:00Z');
    expect(escalationWindow(all, {}, at, rule)).toEqual([
      { node: 'a', count: 3, recorded: 3, escalated: true },
      { node: 'c', count: 2, recorded: 2, escalated: false },
      // Recorded, not counting: listed with its 0, never left out beside its own row.
      { node: 'b', count: 0, recorded: 1, escalated: false },
    ]);
    expect(escalationWindow(all, { a: '2026-11-22T08:15:00Z' }, at, rule)[1]).toEqual({ node: 'a', count: 1, recorded: 3, escalated: false });
  });

  it('an acknowledgement clears the window: the next failure starts from one', () => {
    const three = [inc('m2', '2026-11-22T08:00:00Z'), inc('m2', '2026-11-22T08:10:00Z'), inc('m2', '2026-11-22T08:20:00Z')];
    expect(escalates(three, draft('m2', '2026-11-22T08:40:00Z'))).toEqual({ escalated: true, windowCount: 4, windowRecorded: 4 });
    expect(escalates(three, draft('m2', '2026-11-22T08:40:00Z'), undefined, '2026-11-22T08:30:00Z')).toEqual({ escalated: false, windowCount: 1, windowRecorded: 4 });
    expect(blockedByEscalation(three, 'm2', '2026-11-22T08:30:00Z', Date.parse('2026-11-22T08:40:00Z'), { count: 3, windowMs: 86_400_000 })).toBe(false);
  });

  it('the window\'s tally: every incident recorded in it, and those that count after the ack', () => {
    const rule = { count: 3, windowMs: 3600_000 };
    const at = Date.parse('2026-11-22T09:00:00Z');
    const some = [inc('x', '2026-11-22T07:59:59Z', 'recovered'), inc('x', '2026-11-22T08:00:00Z', 'recovered'), inc('x', '2026-11-22T08:30:00Z', 'no_action'), inc('x', '2026-11-22T08:40:00Z', 'not_recovered'), inc('x', '2026-11-22T09:00:01Z'), inc('y', '2026-11-22T08:50:00Z')];
    // The window is (at - 1 h, at]: 08:00:00 is out, 09:00:01 is after `at`.
    expect(windowTally(some, 'x', at, rule)).toEqual({ recorded: 2, counting: 1 });
    expect(windowTally(some, 'x', at, rule, '2026-11-22T08:45:00Z')).toEqual({ recorded: 2, counting: 0 });
    expect(windowTally(some, 'z', at, rule)).toEqual({ recorded: 0, counting: 0 });
    expect(escalationCount(some, 'x', at, rule)).toBe(1);
  });

  it('parseSince', () => {
    const now = Date.parse('2026-11-22T12:00:00Z');
    expect(parseSince('24h', now)).toBe(now - 86_400_000);
    expect(parseSince('30m', now)).toBe(now - 1_800_000);
    expect(parseSince('7d', now)).toBe(now - 7 * 86_400_000);
    expect(parseSince('2026-11-22T00:00:00Z', now)).toBe(Date.parse('2026-11-22T00:00:00Z'));
    expect(() => parseSince('soon', now)).toThrow(/expected a duration/);
  });

  it('validates the file shape, naming the bad entry', () => {
    expect(() => validateIncidentFile({ incidents: [{ node: 'a', at: 'x' }] })).toThrow(/incidents\[0\]/);
    expect(() => validateIncidentFile([])).toThrow(/object/);
    expect(validateIncidentFile({ incidents: [] })).toEqual({ incidents: [] });
  });
});

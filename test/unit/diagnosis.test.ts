/** Pure tests: the runbook's own addresses (192.168.x, 10.x) appear only as text the init template and plans produce; nothing here opens a connection. */
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseConfig } from '../../src/config/load.js';
import { INIT_TEMPLATE } from '../../src/config/template.js';
import { diagnoseNode, fallbacksFor, PLACEHOLDERS } from '../../src/runbook/diagnosis.js';
import { fillArgv, startStep } from '../../src/runbook/commands.js';
import { loadRunbook, parseRunbook, RUNBOOK_PATH, type Runbook } from '../../src/runbook/runbook.js';
import type { ProbeResult } from '../../src/probe/probe.js';
import type { HostCheck } from '../../src/probe/ping.js';
import { ConfigError } from '../../src/errors.js';

const config = await parseConfig(INIT_TEMPLATE, 'jarvis.config.yaml');
const nodeOf = (id: string) => config.nodes.find((n) => n.id === id)!;
const probe = (id: string, over: Partial<ProbeResult>): ProbeResult => {
  const n = nodeOf(id);
  return { id, kind: n.kind, priority: n.priority, latencyMs: 10, target: 'GET x', status: 'ok', ...over };
};
const host = (reachable: boolean | null): HostCheck => ({ host: 'h', reachable, detail: reachable ? 'answers' : 'silent', command: ['ping'] });

let runbook: Runbook;
beforeAll(async () => {
  runbook = await loadRunbook();
});

describe('the runbook table (step 2)', () => {
  it.each([
    ['ol1', { status: 'ok' }, true, 'healthy', 'none'],
    ['ol1', { status: 'refused' }, true, 'connection refused', 'restart'],
    ['ol1', { status: 'refused' }, false, 'connection refused', 'restart'],
    ['m2', { status: 'timeout' }, true, 'timeout', 'investigate'],
    ['m2', { status: 'timeout' }, false, 'machine down or network', 'none'],
    ['m2', { status: 'http_error', httpStatus: 500 }, true, 'internal server error', 'restart'],
    ['m2', { status: 'http_error', httpStatus: 502 }, true, 'internal server error', 'restart'],
    ['m2', { status: 'http_error', httpStatus: 401 }, true, 'not authorized', 'none'],
    ['m2', { status: 'http_error', httpStatus: 404 }, true, 'unexpected HTTP error', 'investigate'],
    ['m3', { status: 'unreachable' }, false, 'machine unreachable', 'none'],
    ['m3', { status: 'dns' }, null, 'name does not resolve', 'none'],
    ['m3', { status: 'bad_response' }, true, 'bad response', 'investigate'],
    ['m3', { status: 'model_missing' }, true, 'model not available', 'load_model'],
    ['m3', { status: 'loading', httpStatus: 503 }, true, 'model loading', 'wait'],
    ['gemini', { status: 'http_error', httpStatus: 429, throttled: true }, null, 'quota or rate limit (429)', 'wait'],
    ['m1', { status: 'refused' }, true, 'outage on a low-impact node', 'none'],
  ] as const)('%s %j host=%s -> %s / %s', (id, over, reachable, cause, recovery) => {
    const d = diagnoseNode(runbook, nodeOf(id), probe(id, over), host(reachable), { platform: 'linux' });
    expect(d.cause).toBe(cause);
    expect(d.recovery).toBe(recovery);
    if (over.status !== 'ok') expect(d.actions.length).toBeGreaterThan(0);
  });

  it("fills the runbook's per-node actions: OL1 checks its process and runs ollama serve", () => {
    const d = diagnoseNode(runbook, nodeOf('ol1'), probe('ol1', { status: 'refused' }), host(true), { platform: 'linux' });
    expect(d.actions).toEqual(['Is the process alive? pgrep -x ollama', 'Restart it: ollama serve']);
    const win = diagnoseNode(runbook, nodeOf('ol1'), probe('ol1', { status: 'refused' }), host(true), { platform: 'win32' });
    expect(win.actions[0]).toContain('tasklist /FI');
    expect(win.actions[0]).toContain('ollama.exe');
  });

  it('M2 is remote: LM Studio restarts over ssh with BatchMode', () => {
    const d = diagnoseNode(runbook, nodeOf('m2'), probe('m2', { status: 'refused' }), host(true), { platform: 'linux' });
    expect(d.actions[0]).toBe("Restart LM Studio's server on 192.168.1.26: ssh -o BatchMode=yes -o ConnectTimeout=5 admin@192.168.1.26 -- 'lms server start --port 1234'");
  });

  it('GEMINI over quota: wait what Retry-After says, else 60 s, then run its --ping', () => {
    const d = diagnoseNode(runbook, nodeOf('gemini'), probe('gemini', { status: 'http_error', httpStatus: 429, throttled: true }), undefined, { platform: 'linux' });
    expect(d.actions[0]).toBe('Wait 60 s (the runbook says 60 s), then check again: node /opt/turbo/gemini-proxy.js --ping');
    const d2 = diagnoseNode(runbook, nodeOf('gemini'), probe('gemini', { status: 'http_error', httpStatus: 429, throttled: true, retryAfterS: 12 }), undefined, { platform: 'linux' });
    expect(d2.actions[0]).toMatch(/^Wait 12 s/);
  });

  it('refused while ping fails: the TCP stack answered, so the machine is up', () => {
    const d = diagnoseNode(runbook, nodeOf('ol1'), probe('ol1', { status: 'refused' }), host(false), { platform: 'linux' });
    expect(d.hostNote).toMatch(/ICMP is probably filtered/);
  });

  it('every placeholder in the shipped runbook is one the engine fills', () => {
    const text = readFileSync(RUNBOOK_PATH, 'utf8');
    const used = new Set([...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]));
    used.delete('port'); // kinds.*: argv filled by the recovery plan
    used.delete('unit');
    for (const name of used) expect(PLACEHOLDERS as readonly string[]).toContain(name);
  });

  it('every probe status has a matching rule', () => {
    for (const status of ['ok', 'refused', 'timeout', 'http_error', 'unreachable', 'dns', 'bad_response', 'model_missing', 'loading'] as const) {
      const d = diagnoseNode(runbook, nodeOf('m3'), probe('m3', { status, httpStatus: 418 }), undefined, { platform: 'linux' });
      expect(d.rule).not.toBe('(none)');
    }
  });

  it('a broken runbook file is a clear error', () => {
    expect(() => parseRunbook('rules: []\nkinds: {}\n', 'x.yaml')).toThrow(ConfigError);
    expect(() => parseRunbook('rules:\n  - name: a\n    when: { status: [down] }\n', 'x.yaml')).toThrow(/invalid runbook x\.yaml: rules\.0/);
  });
});

describe('the restart command', () => {
  const argvOf = (id: string) => {
    const step = startStep(nodeOf(id), runbook, 'logs');
    return typeof step === 'string' ? step : step.argv;
  };
  it('config first, else the kind default with the port filled in', () => {
    expect(argvOf('ol1')).toEqual(['ollama', 'serve']);
    expect(fillArgv(runbook.kinds.lmstudio!.restart!, nodeOf('m3'))).toEqual(['lms', 'server', 'start', '--port', '1234']);
    expect(argvOf('gemini')).toMatch(/set `ssh`|no restart command known/);
  });
  it('diagnose shows the command recover runs, ssh options included', () => {
    const m3 = argvOf('m3') as string[];
    expect(m3.slice(0, 5)).toEqual(['ssh', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5']);
    const d = diagnoseNode(runbook, nodeOf('m3'), probe('m3', { status: 'refused' }), host(true), { platform: 'linux' });
    const shown = d.actions.find((a) => a.includes('ConnectTimeout=5'));
    expect(shown).toContain(m3.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' '));
  });
});

describe('fallbacksFor (step 3)', () => {
  it("uses the node's own fallbacks, then the rest of the cascade as a request for it goes on", () => {
    expect(fallbacksFor(config, 'm2')).toEqual([{ node: 'm3', for: 'code review' }, { node: 'ol1', for: 'questions' }, { node: 'gemini', for: 'cascade' }, { node: 'claude', for: 'cascade' }, { node: 'm1', for: 'cascade' }]);
  });
  it('none for a strict node: its requests never leave it', () => {
    expect(fallbacksFor({ ...config, nodes: config.nodes.map((n) => (n.id === 'm2' ? { ...n, strict: true } : n)) }, 'm2')).toEqual([]);
  });
  it('else the cascade by priority, low-impact nodes last', () => {
    expect(fallbacksFor(config, 'claude').map((f) => f.node)).toEqual(['m2', 'm3', 'ol1', 'gemini', 'm1']);
  });
});

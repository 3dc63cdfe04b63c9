/** Whether a recovery may stop the process that holds a node's port: the plan, pure, on every kind of holder. */
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { ProbeResult } from '../../src/probe/probe.js';
import { diagnosisForPlan } from '../../src/runbook/diagnosis.js';
import type { PidRecord } from '../../src/runbook/ownership.js';
import { planRecovery } from '../../src/runbook/plan.js';
import { loadRunbook, type Runbook } from '../../src/runbook/runbook.js';
import type { PortHolder } from '../../src/system/ports.js';

const config = await parseConfig(
  `nodes:
  - { id: ol, kind: ollama, url: "http://127.0.0.1:11434", model: "qwen3:8b" }
  - { id: ll, kind: openai, url: "http://127.0.0.1:8081", restart: [node, /srv/llm.js, --port, "8081"] }
  - { id: lm, kind: lmstudio, url: "http://127.0.0.1:1234", model: mistral }
  - { id: named, kind: openai, url: "http://127.0.0.1:8090", process: vllm, restart: [vllm, serve] }
  - { id: far, kind: openai, url: "http://192.168.1.50:8082" }
  - { id: stops, kind: openai, url: "http://127.0.0.1:8095", restart: [srv, --port, "8095"], stop: [srv-stop] }
`,
  'test.yaml',
);
let runbook: Runbook;
beforeAll(async () => {
  runbook = await loadRunbook();
});

const holder = (pid: number, argv: string[], ports: number[], exe?: string): PortHolder => ({ pid, argv, ports, ...(exe && { exe }) });

function plan(id: string, holders: PortHolder[] | undefined, options: { force?: boolean; pidFile?: PidRecord; refused?: boolean } = {}) {
  const node = config.nodes.find((n) => n.id === id)!;
  const probe: ProbeResult = options.refused ? { id, kind: node.kind, priority: 1, latencyMs: 5, target: 'x', status: 'refused' } : { id, kind: node.kind, priority: 1, latencyMs: 5, target: 'x', status: 'http_error', httpStatus: 500 };
  const diagnosis = diagnosisForPlan(runbook, node, probe, undefined, { platform: 'linux' }, options.force ?? false);
  return planRecovery({ config, runbook, node, probe, diagnosis, processAlive: true, holders, ...(options.pidFile && { pidFile: options.pidFile }), force: options.force ?? false, wait: true, logDir: '/d' });
}

describe('a restart stops only the node\'s own server', () => {
  it('an Ollama holding only its port is stopped by pid, named in the plan with its command line', () => {
    const p = plan('ol', [holder(10, ['/usr/local/bin/ollama', 'serve'], [11434])]);
    expect(p.action).toBe('restart');
    expect(p.steps[0]).toMatchObject({ kind: 'stop_port', port: 11434, pids: [{ pid: 10, argv: ['/usr/local/bin/ollama', 'serve'] }] });
    expect(p.steps[0]!.label).toBe('stop pid 10 (`/usr/local/bin/ollama serve`), it is `ollama`, the server of a ollama node, on port 11434');
  });

  it.each([
    ['one process serving several nodes (a simulator, a Docker proxy)', 'ol', holder(7, ['node', 'jarvis.js', 'sim', 'cluster'], [1234, 8081, 11434]), /^port 11434 is held by pid 7 \(`node jarvis.js sim cluster`\), which is not this node's server \(it also serves ports 1234 \(lm\), 8081 \(ll\) of other nodes\): not stopping it$/],
    ['even an ollama, when it also serves another node\'s port', 'ol', holder(8, ['ollama', 'serve'], [1234, 11434]), /not this node's server \(it also serves port 1234 \(lm\)/],
    ['an unrelated program', 'ol', holder(9, ['node', '-e', 'require("http").createServer().listen(11434)'], [11434]), /^port 11434 is held by pid 9 \(`node -e .*`\), which is not this node's server \(it is neither a ollama server nor the node's start command, and jarvis did not start it\)/],
    ['a process whose command line cannot be read', 'ol', holder(11, [], [11434]), /pid 11 \(`command line unreadable`\).*cannot be read/],
    ['another program started with the same interpreter', 'll', holder(12, ['node', '/srv/other.js', '--port', '8081'], [8081]), /not this node's server/],
  ])('refused: %s', (_what, id, h, reason) => {
    for (const force of [false, true]) {
      const p = plan(id, [h], { force });
      expect(p).toMatchObject({ action: 'refused', steps: [] });
      expect(p.reason).toMatch(reason);
    }
  });

  it('the node\'s own stop runs as written while something holds the port, and not once nothing does', () => {
    expect(plan('stops', [holder(40, ['other'], [8095])]).steps.map((s) => s.label).slice(0, 2)).toEqual(['stop: srv-stop', 'start: srv --port 8095']);
    expect(plan('stops', [], { refused: true }).steps.map((s) => s.label)[0]).toBe('start: srv --port 8095');
  });

  it('a port whose holders cannot be told is not touched', () => {
    expect(plan('ol', undefined)).toMatchObject({ action: 'refused', reason: expect.stringMatching(/cannot tell which process holds port 11434 here/) });
  });

  it('nothing holds the port any more: start only', () => {
    expect(plan('ol', []).steps.map((s) => s.kind)).toEqual(['spawn', 'wait_healthy', 'verify']);
  });

  it('the node\'s own start command (more arguments allowed after it), its configured process, its pid file', () => {
    expect(plan('ll', [holder(20, ['/usr/bin/node', '/srv/llm.js', '--port', '8081', '--verbose'], [8081])]).steps[0]).toMatchObject({ kind: 'stop_port', pids: [{ pid: 20 }], label: expect.stringContaining("it runs the node's own start command") });
    expect(plan('named', [holder(21, ['/opt/venv/bin/python3', '-m', 'vllm'], [8090], '/opt/venv/bin/vllm')]).steps[0]).toMatchObject({ kind: 'stop_port', label: expect.stringContaining("`vllm`, the node's process") });
    const argv = ['node', '/srv/old-start.js'];
    const started: PidRecord = { pid: 22, argv, startedAt: '2026-12-01T00:00:00Z' };
    expect(plan('ll', [holder(22, argv, [8081])], { pidFile: started }).steps[0]).toMatchObject({ kind: 'stop_port', label: expect.stringContaining('jarvis started it for ll (pid file)') });
    // The same pid now running something else: a pid reused, not ours.
    expect(plan('ll', [holder(22, ['postgres', '-D', '/var/lib/pg'], [8081])], { pidFile: started }).action).toBe('refused');
  });

  it('LM Studio shown to be its own: stopped with its own command, which stops only its server', () => {
    const p = plan('lm', [holder(30, ['/opt/LM Studio/lm-studio'], [1234], '/opt/LM Studio/lm-studio')]);
    expect(p.steps[0]).toMatchObject({ kind: 'command', argv: ['lms', 'server', 'stop'] });
    expect(p.steps[0]!.label).toMatch(/^stop the service \(pid 30 \(`'\/opt\/LM Studio\/lm-studio'`\), it is `lm-studio`, the server of a lmstudio node\): lms server stop$/);
  });
});

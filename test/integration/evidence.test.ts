/**
 * Diagnosis with evidence, end to end: the built CLI against sim nodes whose status endpoints
 * follow the real shapes (busy slots, a model partly on the CPU), stand-in nvidia-smi and
 * journalctl on PATH (test/fixtures/bin), log files with real error lines. The remote side is in
 * ssh.test.ts.
 */
import { utimesSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, cleanEnv, jarvis, startServe, startSim, tempDir, type RunningSim } from '../helpers/cli.js';

const STANDINS = path.join(ROOT, 'test', 'fixtures', 'bin');
let tmp: ReturnType<typeof tempDir>;
let sim: RunningSim;
const url = (id: string) => sim.ready.nodes.find((n) => n.id === id)!.url;
const env = (gpu?: string, extra: NodeJS.ProcessEnv = {}) => cleanEnv(tmp.dir, { PATH: `${STANDINS}:${process.env.PATH}`, ...(gpu && { JARVIS_TEST_GPU: gpu }), ...extra });

beforeAll(async () => {
  tmp = tempDir('jarvis-evidence-');
  const spec = path.join(tmp.dir, 'spec.json');
  writeFileSync(
    spec,
    JSON.stringify({
      nodes: [
        { id: 'offload', kind: 'ollama', models: ['deepseek-r1:14b'], load: { cpuShare: 0.4 } },
        { id: 'busy', kind: 'openai', models: ['qwen3-30b.gguf'], fault: 'slow:20000', load: { busy: true } },
        { id: 'stuck', kind: 'ollama', models: ['qwen3:8b'], fault: 'hang' },
        { id: 'oom', kind: 'openai', models: ['llama-70b.gguf'], fault: '500' },
      ],
    }),
  );
  sim = await startSim(['cluster', '--spec', spec]);
});

afterAll(async () => {
  await sim?.stop();
  tmp?.cleanup();
});

function config(name: string, lines: string[]): string {
  const file = path.join(tmp.dir, `${name}.yaml`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const dataDir = () => path.join(tmp.dir, 'data');

interface DiagnoseJson {
  diagnosis: { rule: string; cause: string; recovery: string; actions: string[]; evidence?: string };
  evidence: { ms: number; facts: Record<string, unknown>; gpu: { ok: boolean; reason?: string }; models: { ok: boolean; models?: { name: string; cpuShare?: number }[] }; logs: { ok: boolean; file?: string; errors?: { kind: string; text: string }[] }; summary: string };
}

const diagnose = async (id: string, cfg: string, e: NodeJS.ProcessEnv, data = dataDir()) => {
  const r = await jarvis(['diagnose', id, '--json', '--config', cfg, '--data-dir', data], { env: e });
  return { code: r.code, json: JSON.parse(r.stdout) as DiagnoseJson, stderr: r.stderr };
};

describe('jarvis diagnose reads the evidence', () => {
  it("a model partly on the CPU: degraded, slow, though the probe is ok; the evidence block says so", async () => {
    const cfg = config('offload', ['nodes:', `  - { id: offload, kind: ollama, url: "${url('offload')}", model: "deepseek-r1:14b" }`]);
    const r = await diagnose('offload', cfg, env('busy'));
    expect(r.code).toBe(0);
    expect(r.json.diagnosis).toMatchObject({ rule: 'degraded-cpu-offload', recovery: 'none' });
    expect(r.json.evidence.models.models).toEqual([expect.objectContaining({ name: 'deepseek-r1:14b', cpuShare: 0.4 })]);
    expect(r.json.evidence.facts).toMatchObject({ gpu: 'busy', offload: 'cpu' });
    expect(r.json.diagnosis.actions[0]).toBe('On the CPU now: deepseek-r1:14b 40 % on CPU (GPU: GPU 0 100 % 23.4/24.0 GB 78 °C 342 W)');
    const human = await jarvis(['diagnose', 'offload', '--config', cfg, '--data-dir', dataDir()], { env: env('busy') });
    expect(human.stdout).toMatch(/Evidence .*\n {2}gpu {6}GPU 0 NVIDIA GeForce RTX 4090 100 % 23\.4\/24\.0 GB 78 °C 342 W {2}\(nvidia-smi on this machine\)\n {2}models {3}deepseek-r1:14b 40 % on CPU/);
    expect(human.stdout).toMatch(/Cause {4}degraded: slow \(model partly on the CPU\)/);
  });

  it('a timeout with every slot busy and requests waiting: overloaded, not restarted (recover holds, --force restarts)', async () => {
    const marker = path.join(tmp.dir, 'restarted-busy');
    const restart = JSON.stringify([process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`]);
    const cfg = config('busy', ['nodes:', `  - { id: busy, kind: openai, url: "${url('busy')}", timeoutMs: 800, process: node, restart: ${restart} }`]);
    const r = await diagnose('busy', cfg, env('idle'));
    expect(r.code).toBe(1);
    expect(r.json.diagnosis).toMatchObject({ rule: 'overloaded-queue', cause: 'overloaded', recovery: 'hold' });
    expect(r.json.diagnosis.actions[0]).toBe('GPU: GPU 0 0 % 23.4/24.0 GB 41 °C 31 W; requests: 3 waiting, 4/4 slots busy');
    const rec = await jarvis(['recover', 'busy', '--dry-run', '--json', '--config', cfg, '--data-dir', dataDir()], { env: env('idle') });
    const plan = (JSON.parse(rec.stdout) as { plan: { action: string; reason: string } }).plan;
    expect(plan.action).toBe('none');
    expect(plan.reason).toMatch(/^overloaded: .*3 waiting, 4\/4 slots busy.*; not restarting \(--force restarts it\)$/);
    const forced = await jarvis(['recover', 'busy', '--dry-run', '--force', '--json', '--config', cfg, '--data-dir', dataDir()], { env: env('idle') });
    expect((JSON.parse(forced.stdout) as { plan: { action: string } }).plan.action).toBe('restart');
  });

  it('alive, GPU idle, log silent for 10 min: hung; not restarted without --force or recover.restartHung, and the incident keeps the evidence', async () => {
    const logs = path.join(dataDir(), 'logs');
    mkdirSync(logs, { recursive: true });
    const log = path.join(logs, 'stuck.log');
    writeFileSync(log, 'time=2026-12-02T02:50:00Z level=INFO source=server.go:619 msg="llama runner started in 3.52 seconds"\n');
    const old = Date.now() / 1000 - 600;
    utimesSync(log, old, old);
    const cfg = config('stuck', ['nodes:', `  - { id: stuck, kind: ollama, url: "${url('stuck')}", timeoutMs: 800, process: node, restart: [${JSON.stringify(process.execPath)}, -e, "0"] }`, 'evidence: { timeoutMs: 1000 }']);
    const r = await diagnose('stuck', cfg, env('idle'));
    expect(r.json.diagnosis).toMatchObject({ rule: 'hung', cause: 'hung', recovery: 'restart_hung' });
    expect(r.json.evidence.facts).toMatchObject({ gpu: 'idle', process: 'alive', progress: 'none' });
    expect(r.json.diagnosis.actions[0]).toBe('GPU: GPU 0 0 % 23.4/24.0 GB 41 °C 31 W; the log was last written 10 min ago');
    // /api/ps hangs with the server: its collector gave up at its timeout.
    expect(r.json.evidence.models).toMatchObject({ ok: false, reason: 'timeout' });
    const rec = await jarvis(['recover', 'stuck', '--json', '--config', cfg, '--data-dir', dataDir()], { env: env('idle') });
    const j = JSON.parse(rec.stdout) as { plan: { action: string; reason: string }; incident: { id: string } };
    expect(j.plan.action).toBe('none');
    expect(j.plan.reason).toMatch(/hung: .*only with --force or with recover\.restartHung: true/);
    const list = await jarvis(['incidents', '--json', '--data-dir', dataDir(), '--config', cfg], { env: env() });
    const incident = (JSON.parse(list.stdout) as { incidents: { id: string; diagnosis: string; evidence?: { before: { summary: string; facts: { gpu: string } } } }[] }).incidents.find((i) => i.id === j.incident.id)!;
    expect(incident.diagnosis).toBe('hung');
    expect(incident.evidence!.before.facts.gpu).toBe('idle');
    expect(incident.evidence!.before.summary).toMatch(/GPU 0 0 %.*log silent for 10 min/);
  });

  it('an HTTP 500 and an out-of-memory line in the log jarvis wrote: out of VRAM, with the line and its file', async () => {
    const logs = path.join(dataDir(), 'logs');
    mkdirSync(logs, { recursive: true });
    const log = path.join(logs, 'oom.log');
    writeFileSync(log, ['main: HTTP server is listening, hostname: 127.0.0.1, port: 8080', 'ggml_backend_cuda_buffer_type_alloc_buffer: allocating 9216.00 MiB on device 0: cudaMalloc failed: out of memory', 'srv  log_server_r: request: POST /v1/chat/completions 127.0.0.1 500', ''].join('\n'));
    const cfg = config('oom', ['nodes:', `  - { id: oom, kind: openai, url: "${url('oom')}", timeoutMs: 800, restart: [${JSON.stringify(process.execPath)}, -e, "0"] }`]);
    const r = await diagnose('oom', cfg, env());
    expect(r.json.diagnosis).toMatchObject({ rule: 'out-of-vram-5xx', cause: 'out of VRAM', recovery: 'restart' });
    expect(r.json.diagnosis.actions[0]).toBe(`The log: "ggml_backend_cuda_buffer_type_alloc_buffer: allocating 9216.00 MiB on device 0: cudaMalloc failed: out of memory" (${log})`);
    // No GPU tool here: said, not guessed.
    expect(r.json.evidence.gpu).toMatchObject({ ok: false, reason: 'missing' });
  });

  it('the journal of a systemd unit is read when the node has one', async () => {
    const journal = path.join(tmp.dir, 'journal.txt');
    writeFileSync(journal, `${new Date(Date.now() - 30_000).toISOString().replace(/\.\d+Z$/, '+0000')} gpu-box ollama[812]: CUDA error: an illegal memory access was encountered\n`);
    const cfg = config('unit', ['nodes:', `  - { id: oom, kind: openai, url: "${url('oom')}", timeoutMs: 800, systemdUnit: llama-server }`]);
    const r = await diagnose('oom', cfg, env(undefined, { JARVIS_TEST_JOURNAL: journal }));
    expect(r.json.evidence.logs).toMatchObject({ ok: true, file: 'journalctl -u llama-server', errors: [{ kind: 'gpu' }] });
    expect(r.json.diagnosis.rule).toBe('server-error-logged');
  });

  it('a GPU tool that hangs, or a driver gone: the diagnosis is given within the timeout, and says what it could tell', async () => {
    // Its own data dir: no log of earlier tests, so the HTTP 500 alone decides.
    const cfg = config('hang', ['nodes:', `  - { id: oom, kind: openai, url: "${url('oom')}", timeoutMs: 800 }`, 'evidence: { timeoutMs: 700 }']);
    const started = Date.now();
    const r = await diagnose('oom', cfg, env('hang'), path.join(tmp.dir, 'data-hang'));
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(r.json.evidence.gpu).toMatchObject({ ok: false, reason: 'timeout' });
    expect(r.json.diagnosis.rule).toBe('server-error');
    // No nvidia-smi, an AMD card: rocm-smi is asked instead.
    const amd = await diagnose('oom', cfg, env(undefined, { JARVIS_TEST_ROCM: 'busy' }), path.join(tmp.dir, 'data-hang'));
    expect(amd.json.evidence.gpu).toMatchObject({ ok: true, source: 'rocm-smi on this machine', gpus: [{ vendor: 'amd', name: 'Radeon RX 7900 XTX', utilizationPct: 99, temperatureC: 74, powerW: 251 }] });
    const gone = await diagnose('oom', cfg, env('driver-gone'), path.join(tmp.dir, 'data-hang'));
    expect(gone.json.evidence.facts.gpu).toBe('error');
    expect(gone.json.diagnosis).toMatchObject({ rule: 'gpu-driver', cause: 'GPU driver not responding' });
  });
});

describe('evidence elsewhere', () => {
  it('status collects nothing without the flag; -v adds the GPU and loaded columns, --json the evidence', async () => {
    const cfg = config('status', ['nodes:', `  - { id: offload, kind: ollama, url: "${url('offload')}", model: "deepseek-r1:14b" }`]);
    const plain = await jarvis(['status', '--json', '--config', cfg, '--data-dir', dataDir()], { env: env('two') });
    expect((JSON.parse(plain.stdout) as { nodes: object[] }).nodes[0]).not.toHaveProperty('evidence');
    const table = await jarvis(['status', '-v', '--config', cfg, '--data-dir', dataDir()], { env: env('two') });
    expect(table.stdout).toMatch(/gpu +loaded/);
    expect(table.stdout).toMatch(/2 GPUs, max 97 % +deepseek-r1:14b 40 % on CPU/);
    const json = await jarvis(['status', '--evidence', '--json', '--config', cfg, '--data-dir', dataDir()], { env: env('two') });
    expect((JSON.parse(json.stdout) as { nodes: { evidence: { facts: { offload: string } } }[] }).nodes[0]!.evidence.facts.offload).toBe('cpu');
  });

  it("check's down alert and serve's /api/diagnostics carry it", async () => {
    const cfg = config('check', ['nodes:', `  - { id: oom, kind: openai, url: "${url('oom')}", timeoutMs: 800 }`, `  - { id: offload, kind: ollama, url: "${url('offload')}", model: "deepseek-r1:14b" }`, 'check: { confirmDelayMs: 0 }']);
    const data = path.join(tmp.dir, 'data-check');
    const check = await jarvis(['check', '--json', '--config', cfg, '--data-dir', data], { env: env('busy') });
    const j = JSON.parse(check.stdout) as { alerts: { event: string; node: string; evidence?: string }[] };
    expect(j.alerts.find((a) => a.event === 'down' && a.node === 'oom')!.evidence).toMatch(/^GPU 0 100 % 23\.4\/24\.0 GB/);
    const serve = await startServe({ config: cfg, dataDir: path.join(tmp.dir, 'data-serve'), env: env('busy'), args: ['--health-interval', '600000'] });
    try {
      const res = await fetch(`${serve.url}/api/diagnostics`);
      const body = (await res.json()) as { nodes: { node: string; cause: string; summary: string; evidence: { facts: { offload: string } } }[] };
      const offload = body.nodes.find((n) => n.node === 'offload')!;
      expect(offload.cause).toBe('degraded: slow (model partly on the CPU)');
      expect(offload.evidence.facts.offload).toBe('cpu');
      expect(offload.summary).toMatch(/deepseek-r1:14b 40 % on CPU/);
    } finally {
      await serve.stop();
    }
  });
});

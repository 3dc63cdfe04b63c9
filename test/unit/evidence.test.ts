/** Pure tests of the evidence: the real formats each tool prints, the facts read from them, and the runbook rules on them. */
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { INIT_TEMPLATE } from '../../src/config/template.js';
import type { ProbeResult } from '../../src/probe/probe.js';
import { diagnoseNode, diagnosisForPlan } from '../../src/runbook/diagnosis.js';
import { collectEvidence, evidenceFacts, evidenceSummary, type Evidence, type EvidenceFacts } from '../../src/runbook/evidence/evidence.js';
import { unknown } from '../../src/runbook/evidence/finding.js';
import { parseNvidiaSmi, parseRocmSmi, type GpuFinding } from '../../src/runbook/evidence/gpu.js';
import { classifyLine, readLog, type LogsFinding } from '../../src/runbook/evidence/logs.js';
import { parseLlamaMetrics, parseLmsPs, parseOllamaPs, parseSlots, type ModelsFinding } from '../../src/runbook/evidence/models.js';
import { planRecovery } from '../../src/runbook/plan.js';
import { loadRunbook, type Runbook } from '../../src/runbook/runbook.js';

const config = await parseConfig(INIT_TEMPLATE, 'jarvis.config.yaml');
const nodeOf = (id: string) => config.nodes.find((n) => n.id === id)!;
let runbook: Runbook;
beforeAll(async () => {
  runbook = await loadRunbook();
});

describe('what the tools print', () => {
  it('nvidia-smi: several GPUs, [N/A] fields, a name with a comma; anything else is not its CSV', () => {
    const gpus = parseNvidiaSmi('0, NVIDIA GeForce RTX 3090, 97, 22110, 24576, 80, 348.11\n1, NVIDIA GeForce GTX 1080, 3, 1021, 8192, [N/A], [N/A]\n2, Tesla T4, Rev A, [Not Supported], 15, 15360, 33, 27.9\n');
    expect(gpus).toEqual([
      { index: 0, name: 'NVIDIA GeForce RTX 3090', vendor: 'nvidia', utilizationPct: 97, memoryUsedMiB: 22110, memoryTotalMiB: 24576, temperatureC: 80, powerW: 348.11 },
      { index: 1, name: 'NVIDIA GeForce GTX 1080', vendor: 'nvidia', utilizationPct: 3, memoryUsedMiB: 1021, memoryTotalMiB: 8192 },
      { index: 2, name: 'Tesla T4, Rev A', vendor: 'nvidia', memoryUsedMiB: 15, memoryTotalMiB: 15360, temperatureC: 33, powerW: 27.9 },
    ]);
    expect(parseNvidiaSmi('')).toEqual([]);
    expect(parseNvidiaSmi('NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver.')).toMatch(/not nvidia-smi's CSV/);
  });

  it("rocm-smi --json: per card, bytes to MiB, 'N/A' left out, the system entry skipped", () => {
    const gpus = parseRocmSmi('{"card1": {"GPU use (%)": "0", "VRAM Total Memory (B)": "17163091968", "VRAM Total Used Memory (B)": "10231808", "Average Graphics Package Power (W)": "N/A", "Card series": "Radeon RX 7900 XTX"}, "card0": {"GPU use (%)": "99", "VRAM Total Memory (B)": "17163091968", "VRAM Total Used Memory (B)": "16902012928", "Temperature (Sensor edge) (C)": "74.0"}, "system": {"Driver version": "6.8.0"}}');
    expect(gpus).toEqual([
      { index: 0, name: 'card0', vendor: 'amd', utilizationPct: 99, memoryUsedMiB: 16119, memoryTotalMiB: 16368, temperatureC: 74 },
      { index: 1, name: 'Radeon RX 7900 XTX', vendor: 'amd', utilizationPct: 0, memoryUsedMiB: 10, memoryTotalMiB: 16368 },
    ]);
    expect(parseRocmSmi('ERROR: No AMD GPUs')).toMatch(/not rocm-smi's JSON/);
  });

  it("Ollama /api/ps: size_vram below size is the CPU's share; an empty list is nothing loaded", () => {
    const ps = '{"models":[{"name":"deepseek-r1:14b","model":"deepseek-r1:14b","size":10000000000,"digest":"x","details":{},"expires_at":"2026-12-02T18:00:00Z","size_vram":6000000000},{"name":"nomic-embed-text:latest","size":500,"size_vram":500}]}';
    expect(parseOllamaPs(ps)).toEqual([
      { name: 'deepseek-r1:14b', sizeBytes: 10000000000, vramBytes: 6000000000, cpuShare: 0.4, expiresAt: '2026-12-02T18:00:00Z' },
      { name: 'nomic-embed-text:latest', sizeBytes: 500, vramBytes: 500, cpuShare: 0 },
    ]);
    expect(parseOllamaPs('{"models":[]}')).toEqual([]);
    expect(parseOllamaPs('<html>')).toBe('not JSON');
  });

  it('lms ps --json, llama.cpp /slots and /metrics', () => {
    expect(parseLmsPs('[{"type":"llm","modelKey":"qwen3-30b","identifier":"qwen3-30b","sizeBytes":18000000000}]')).toEqual([{ name: 'qwen3-30b', sizeBytes: 18000000000 }]);
    expect(parseLmsPs('')).toEqual([]);
    expect(parseSlots('[{"id":0,"is_processing":true},{"id":1,"is_processing":false}]')).toEqual({ total: 2, busy: 1 });
    expect(parseSlots('{"error":{"code":501,"message":"This server does not support slots endpoint."}}')).toBeUndefined();
    const metrics = ['# HELP llamacpp:requests_processing Number of requests processing.', '# TYPE llamacpp:requests_processing gauge', 'llamacpp:requests_processing 4', 'llamacpp:requests_deferred 3', 'llamacpp:kv_cache_usage_ratio 0.97', 'llamacpp:predicted_tokens_seconds 7.54'].join('\n');
    expect(parseLlamaMetrics(metrics)).toEqual({ processing: 4, deferred: 3, kvCacheUsage: 0.97, tokensPerSecond: 7.5 });
  });

  it('log lines: out of memory, GPU errors, a port in use, panics and tracebacks picked out; access lines are not trouble', () => {
    expect(classifyLine('ggml_backend_cuda_buffer_type_alloc_buffer: allocating 9216.00 MiB on device 0: cudaMalloc failed: out of memory')).toBe('oom');
    expect(classifyLine('time=2026-12-02T03:01:12.000Z level=ERROR source=sched.go:455 msg="error loading llama server" error="llama runner process has terminated: CUDA error: out of memory"')).toBe('oom');
    expect(classifyLine('CUDA error: an illegal memory access was encountered')).toBe('gpu');
    expect(classifyLine('ggml_metal_graph_compute: command buffer 0 failed with status 5')).toBe('gpu');
    expect(classifyLine('Error: listen tcp 127.0.0.1:11434: bind: address already in use')).toBe('port');
    expect(classifyLine('panic: runtime error: invalid memory address or nil pointer dereference')).toBe('panic');
    expect(classifyLine('Traceback (most recent call last):')).toBe('panic');
    expect(classifyLine('time=2026-12-02T03:01:12Z level=ERROR msg="timed out waiting for llama runner to start"')).toBe('error');
    expect(classifyLine('[GIN] 2026/12/02 - 03:01:12 | 200 |  1.2s | 127.0.0.1 | POST "/api/chat"')).toBeUndefined();
    expect(classifyLine('llama_new_context_with_model: n_ctx = 8192')).toBeUndefined();
    const log = readLog(['starting', 'error: a', 'error: b', 'cudaMalloc failed: out of memory', 'error: c', 'error: d', 'done'].join('\n'));
    // More than three: the worst kind is kept, then the latest of the rest, in log order.
    expect(log.errors.map((e) => e.text)).toEqual(['cudaMalloc failed: out of memory', 'error: c', 'error: d']);
    expect(log.last).toEqual(['error: c', 'error: d', 'done']);
  });
});

const gpu = (util: number[]): GpuFinding => ({ ok: true, source: 'nvidia-smi', gpus: util.map((u, index) => ({ index, name: 'RTX', vendor: 'nvidia', utilizationPct: u, memoryUsedMiB: 20000, memoryTotalMiB: 24000 })) });
const models = (over: Partial<Extract<ModelsFinding, { ok: true }>> = {}): ModelsFinding => ({ ok: true, source: 'GET /api/ps', server: 'ollama', models: [{ name: 'qwen3:8b' }], ...over });
const logs = (lines: string[], ageS?: number): LogsFinding => ({ ok: true, source: 'f', file: '/var/log/ollama.log', ...readLog(lines.join('\n')), ...(ageS !== undefined && { ageS }) });
const none = unknown('missing', 'not here');

function evidence(parts: { gpu?: GpuFinding; models?: ModelsFinding; logs?: LogsFinding; alive?: boolean | null }): Evidence {
  const f = { gpu: parts.gpu ?? none, models: parts.models ?? none, logs: parts.logs ?? none, process: { alive: parts.alive ?? null, detail: parts.alive ? 'process ollama is running' : parts.alive === false ? 'process ollama is not running' : 'cannot tell' } };
  const facts = evidenceFacts(f, 180);
  return { collectedAt: 'x', ms: 1, ...f, facts, summary: evidenceSummary(f, facts) };
}

describe('facts from findings', () => {
  it.each([
    [{ gpu: gpu([100]) }, { gpu: 'busy' }],
    [{ gpu: gpu([3, 0]) }, { gpu: 'idle' }],
    [{ gpu: gpu([40, 2]) }, { gpu: 'active' }],
    [{ gpu: unknown('failed', "nvidia-smi on this machine: the NVIDIA driver is not responding (NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver)") }, { gpu: 'error' }],
    [{ models: models({ models: [] }) }, { loaded: 'none', offload: 'unknown' }],
    [{ models: models({ models: [{ name: 'ds', cpuShare: 0.4 }] }) }, { offload: 'cpu', loaded: 'some' }],
    [{ models: models({ models: [{ name: 'ds', cpuShare: 0 }] }) }, { offload: 'gpu' }],
    [{ models: models({ server: 'llama.cpp', load: { deferred: 3, slots: { total: 4, busy: 4 } } }) }, { queue: 'busy' }],
    [{ models: models({ server: 'llama.cpp', load: { slots: { total: 4, busy: 4 } } }) }, { queue: 'busy' }],
    [{ models: models({ server: 'llama.cpp', load: { processing: 1, deferred: 0, slots: { total: 4, busy: 1 } } }) }, { queue: 'idle' }],
    [{ logs: logs(['ok'], 600) }, { progress: 'none', log: [] }],
    [{ logs: logs(['CUDA error: out of memory'], 5) }, { progress: 'some', log: ['oom'] }],
    [{ alive: true }, { process: 'alive' }],
    [{}, { gpu: 'unknown', queue: 'unknown', offload: 'unknown', loaded: 'unknown', progress: 'unknown', process: 'unknown', log: [] }],
  ] as const)('%j -> %j', (parts, expected) => {
    expect(evidence(parts as Parameters<typeof evidence>[0]).facts).toMatchObject(expected as Partial<EvidenceFacts>);
  });

  it('the one-line summary says what a person needs first', () => {
    const e = evidence({ gpu: gpu([100]), models: models({ models: [{ name: 'deepseek-r1:14b', cpuShare: 0.4 }] }), logs: logs(['CUDA error: out of memory'], 5), alive: true });
    expect(e.summary).toBe('GPU 0 100 % 19.5/23.4 GB; deepseek-r1:14b 40 % on CPU; process ollama is running; log: CUDA error: out of memory');
    expect(evidence({}).summary).toBe('no evidence could be collected');
  });
});

const probe = (id: string, over: Partial<ProbeResult>): ProbeResult => ({ id, kind: nodeOf(id).kind, priority: 1, latencyMs: 3000, target: 'GET x', status: 'ok', ...over });
const up = { host: 'h', reachable: true, detail: 'answers', command: ['ping'] };

describe('the runbook rules on evidence', () => {
  const cfgHung = { ...config, recover: { ...config.recover, restartHung: true } };
  const plan = (id: string, p: ProbeResult, e: Evidence | undefined, opts: { force?: boolean; cfg?: typeof config } = {}) => {
    const node = nodeOf(id);
    const d = diagnosisForPlan(runbook, node, p, up, { platform: 'linux' }, opts.force ?? false, e);
    return planRecovery({ config: opts.cfg ?? config, runbook, node, probe: p, diagnosis: d, processAlive: e?.process.alive ?? null, holders: [], force: opts.force ?? false, wait: true, logDir: '/d' });
  };

  it.each([
    // probe, evidence, rule, cause, recovery, plan action (no force), with --force, with recover.restartHung
    ['ol1', { status: 'timeout' }, { gpu: gpu([100]), alive: true }, 'overloaded-gpu', 'overloaded', 'hold', 'none', 'restart', 'none'],
    ['ol1', { status: 'timeout' }, { models: models({ server: 'llama.cpp', load: { deferred: 3, slots: { total: 4, busy: 4 } } }), alive: true }, 'overloaded-queue', 'overloaded', 'hold', 'none', 'restart', 'none'],
    ['ol1', { status: 'timeout' }, { gpu: gpu([0]), alive: true, logs: logs(['loaded'], 600) }, 'hung', 'hung', 'restart_hung', 'none', 'restart', 'restart'],
    ['ol1', { status: 'timeout' }, { gpu: gpu([0]), alive: true }, 'hung', 'hung', 'restart_hung', 'none', 'restart', 'restart'],
    // A log still being written: progress, so not hung (the rule of old decides).
    ['ol1', { status: 'timeout' }, { gpu: gpu([0]), alive: true, logs: logs(['loading tensors'], 3) }, 'timeout', 'timeout', 'investigate', 'none', 'restart', 'none'],
    ['ol1', { status: 'timeout' }, { gpu: gpu([0]), alive: false }, 'timeout', 'timeout', 'investigate', 'restart', 'restart', 'restart'],
    ['ol1', { status: 'http_error', httpStatus: 500 }, { logs: logs(['cudaMalloc failed: out of memory'], 5) }, 'out-of-vram-5xx', 'out of VRAM', 'restart', 'restart', 'restart', 'restart'],
    ['ol1', { status: 'timeout' }, { gpu: gpu([0]), alive: true, logs: logs(['CUDA error: out of memory'], 5) }, 'out-of-vram', 'out of VRAM', 'restart', 'restart', 'restart', 'restart'],
    ['ol1', { status: 'http_error', httpStatus: 502 }, { logs: logs(['panic: runtime error'], 5) }, 'server-error-logged', 'internal server error', 'restart', 'restart', 'restart', 'restart'],
    ['ol1', { status: 'timeout' }, { gpu: unknown('failed', 'nvidia-smi on this machine: the NVIDIA driver is not responding (exit 9)'), alive: true }, 'gpu-driver', 'GPU driver not responding', 'investigate', 'none', 'restart', 'none'],
    ['ol1', { status: 'ok' }, { models: models({ models: [{ name: 'qwen3:8b', cpuShare: 0.4 }] }) }, 'degraded-cpu-offload', 'degraded: slow (model partly on the CPU)', 'none', 'none', 'none', 'none'],
    ['ol1', { status: 'ok' }, { models: models({ models: [{ name: 'qwen3:8b', cpuShare: 0 }] }), gpu: gpu([100]) }, 'healthy', 'healthy', 'none', 'verify', 'verify', 'verify'],
    // No evidence at all: today's rules.
    ['ol1', { status: 'timeout' }, undefined, 'timeout', 'timeout', 'investigate', 'none', 'restart', 'none'],
    ['ol1', { status: 'http_error', httpStatus: 500 }, undefined, 'server-error', 'internal server error', 'restart', 'restart', 'restart', 'restart'],
    ['ol1', { status: 'refused' }, { gpu: gpu([100]), logs: logs(['CUDA error: out of memory'], 5) }, 'refused', 'connection refused', 'restart', 'restart', 'restart', 'restart'],
  ] as const)('%s %j %j -> %s', (id, over, parts, rule, cause, recovery, action, forced, hungAllowed) => {
    const e = parts ? evidence(parts) : undefined;
    const p = probe(id, over);
    const d = diagnoseNode(runbook, nodeOf(id), p, up, { platform: 'linux' }, e);
    expect([d.rule, d.cause, d.recovery]).toEqual([rule, cause, recovery]);
    if (e) expect(d.evidence).toBe(e.summary);
    expect(d.actions.join('\n')).not.toMatch(/\{\w+\}/);
    expect(plan(id, p, e).action).toBe(action);
    expect(plan(id, p, e, { force: true }).action).toBe(forced);
    expect(plan(id, p, e, { cfg: cfgHung }).action).toBe(hungAllowed);
  });

  it('the actions carry the evidence: the log lines with their file, the GPU, what to unload', () => {
    const e = evidence({ models: models({ models: [{ name: 'qwen3:8b' }, { name: 'llama3.3:70b' }] }), logs: logs(['cudaMalloc failed: out of memory'], 5) });
    const d = diagnoseNode(runbook, nodeOf('ol1'), probe('ol1', { status: 'http_error', httpStatus: 500 }), up, { platform: 'linux' }, e);
    expect(d.actions[0]).toBe('The log: "cudaMalloc failed: out of memory" (/var/log/ollama.log)');
    expect(d.actions[1]).toBe('Unload the other models: ollama stop llama3.3:70b');
    const busy = diagnoseNode(runbook, nodeOf('ol1'), probe('ol1', { status: 'timeout' }), up, { platform: 'linux' }, evidence({ gpu: gpu([100]) }));
    expect(busy.actions[0]).toBe('GPU: GPU 0 100 % 19.5/23.4 GB; requests: (queue unknown)');
  });
});

describe('collectors that hang or are missing', () => {
  it('each gives up within its timeout and the diagnosis stays as it was', async () => {
    const never = () => new Promise<never>(() => undefined);
    const started = performance.now();
    const e = await collectEvidence({ ...nodeOf('ol1'), host: '127.0.0.1', ssh: undefined, url: 'http://127.0.0.1:9' }, { http: never, run: never, now: () => Date.now() }, { runbook, platform: 'linux', logDir: '/nonexistent/logs', timeoutMs: 150, hungAfterS: 180 });
    const took = performance.now() - started;
    // Bounded: a small multiple of the timeout on a busy machine, never the collectors' own hangs.
    expect(took).toBeLessThan(5000);
    expect([e.gpu, e.models, e.logs].map((f) => (f.ok ? 'ok' : f.reason))).toEqual(['timeout', 'timeout', 'timeout']);
    expect(e.process.alive).toBeNull();
    expect(e.facts).toMatchObject({ gpu: 'unknown', queue: 'unknown', process: 'unknown', progress: 'unknown' });
    const p = probe('ol1', { status: 'timeout' });
    const withIt = diagnoseNode(runbook, nodeOf('ol1'), p, up, { platform: 'linux' }, e);
    const without = diagnoseNode(runbook, nodeOf('ol1'), p, up, { platform: 'linux' });
    expect([withIt.rule, withIt.recovery]).toEqual([without.rule, without.recovery]);
  });
});

/**
 * GPU evidence: utilization, memory, temperature and power of every GPU on the node's machine,
 * from nvidia-smi (NVIDIA) or rocm-smi (AMD), run where the node's commands run (docs/protocols.md,
 * "What an ops tool can read on a node"). macOS has no such tool: Ollama's size_vram says there
 * how much of a model sits on the GPU (models.ts).
 */
import type { CommandRunner } from '../../system/process.js';
import { commandOn, type Target } from '../target.js';
import { commandUnknown, firstLine, unknown, type Finding } from './finding.js';

export interface GpuDevice {
  index: number;
  name: string;
  vendor: 'nvidia' | 'amd';
  utilizationPct?: number;
  memoryUsedMiB?: number;
  memoryTotalMiB?: number;
  temperatureC?: number;
  powerW?: number;
}

export type GpuFinding = Finding<{ gpus: GpuDevice[] }>;

const NVIDIA_SMI = ['nvidia-smi', '--query-gpu=index,name,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw', '--format=csv,noheader,nounits'];
const ROCM_SMI = ['rocm-smi', '--showuse', '--showmeminfo', 'vram', '--showtemp', '--showpower', '--showproductname', '--json'];

/** A number, or undefined for `[N/A]`, `[Not Supported]`, `N/A` and empty fields. */
function num(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (t === '' || /^\[?(n\/a|not supported|unknown error)\]?$/i.test(t)) return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/** nvidia-smi's CSV (noheader, nounits): one line per GPU, seven fields; a name may hold commas. */
export function parseNvidiaSmi(stdout: string): GpuDevice[] | string {
  const gpus: GpuDevice[] = [];
  for (const line of stdout.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const f = line.split(',').map((x) => x.trim());
    if (f.length < 7) return `not nvidia-smi's CSV: ${line.slice(0, 120)}`;
    const tail = f.slice(-5);
    const index = num(f[0]);
    if (index === undefined) return `not nvidia-smi's CSV: ${line.slice(0, 120)}`;
    const device: GpuDevice = { index, name: f.slice(1, -5).join(', '), vendor: 'nvidia' };
    const [util, used, total, temp, power] = tail.map(num);
    if (util !== undefined) device.utilizationPct = util;
    if (used !== undefined) device.memoryUsedMiB = used;
    if (total !== undefined) device.memoryTotalMiB = total;
    if (temp !== undefined) device.temperatureC = temp;
    if (power !== undefined) device.powerW = power;
    gpus.push(device);
  }
  return gpus;
}

/** rocm-smi --json: {"card0": {"GPU use (%)": "12", "VRAM Total Memory (B)": "...", ...}, "system": {...}}. */
export function parseRocmSmi(stdout: string): GpuDevice[] | string {
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    return `not rocm-smi's JSON: ${firstLine(stdout)}`;
  }
  if (!json || typeof json !== 'object') return 'not rocm-smi\'s JSON';
  const gpus: GpuDevice[] = [];
  for (const [card, value] of Object.entries(json as Record<string, unknown>)) {
    const m = /^card(\d+)$/.exec(card);
    if (!m || !value || typeof value !== 'object') continue;
    const v = value as Record<string, string | undefined>;
    const field = (re: RegExp) => Object.entries(v).find(([k]) => re.test(k))?.[1];
    const device: GpuDevice = { index: Number(m[1]), name: field(/^Card (series|SKU|model)$/i) ?? card, vendor: 'amd' };
    const util = num(field(/^GPU use \(%\)$/));
    const total = num(field(/^VRAM Total Memory \(B\)$/));
    const used = num(field(/^VRAM Total Used Memory \(B\)$/));
    const temp = num(field(/^Temperature \(Sensor (edge|junction)\) \(C\)$/));
    const power = num(field(/Graphics Package Power \(W\)$/));
    if (util !== undefined) device.utilizationPct = util;
    if (used !== undefined) device.memoryUsedMiB = Math.round(used / 1048576);
    if (total !== undefined) device.memoryTotalMiB = Math.round(total / 1048576);
    if (temp !== undefined) device.temperatureC = temp;
    if (power !== undefined) device.powerW = power;
    gpus.push(device);
  }
  return gpus.sort((a, b) => a.index - b.index);
}

export interface GpuContext {
  run: CommandRunner;
  target: Target;
  /** Where the target is, in words (`this machine`, `m2 (ssh user@m2)`). */
  where: string;
  /** The machine's platform when it is this one; a remote one is taken to be Linux. */
  platform: NodeJS.Platform;
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Asked at once for the same machine (`status -v` over nodes that share one), the GPU tool runs
 * once: callers share the answer while it is in flight.
 */
const inFlight = new Map<string, Promise<GpuFinding>>();

/** Every GPU on the node's machine, or why that cannot be told. */
export function collectGpu(ctx: GpuContext): Promise<GpuFinding> {
  const key = JSON.stringify([ctx.target, ctx.platform]);
  let p = inFlight.get(key);
  if (!p) {
    p = askGpu(ctx).finally(() => inFlight.delete(key));
    inFlight.set(key, p);
  }
  return p;
}

async function askGpu(ctx: GpuContext): Promise<GpuFinding> {
  if (ctx.target.kind === 'local' && ctx.platform === 'darwin') return unknown('unsupported', 'macOS has no GPU tool to ask (Apple silicon shares its memory): see how much of each loaded model is on the GPU');
  const run = (argv: readonly string[]) => ctx.run(commandOn(ctx.target, argv), { timeoutMs: ctx.timeoutMs, ...(ctx.signal && { signal: ctx.signal }) });
  const nvidia = await run(NVIDIA_SMI);
  if (nvidia.exitCode === 0) {
    const gpus = parseNvidiaSmi(nvidia.stdout);
    if (typeof gpus === 'string') return unknown('failed', `nvidia-smi on ${ctx.where}: ${gpus}`);
    return { ok: true, source: `nvidia-smi on ${ctx.where}`, gpus };
  }
  const said = firstLine(nvidia.stdout) || firstLine(nvidia.stderr);
  // Exit 9 and this message: the tool is there, the driver is not (the GPU is unusable).
  if (nvidia.exitCode === 9 || /couldn't communicate with the NVIDIA driver/i.test(said)) return unknown('failed', `nvidia-smi on ${ctx.where}: the NVIDIA driver is not responding (${said || `exit ${nvidia.exitCode}`})`);
  const missingNvidia = nvidia.notFound || nvidia.exitCode === 127;
  if (!missingNvidia) return commandUnknown(nvidia, 'nvidia-smi', ctx.where);
  const amd = await run(ROCM_SMI);
  if (amd.exitCode === 0) {
    const gpus = parseRocmSmi(amd.stdout);
    if (typeof gpus === 'string') return unknown('failed', `rocm-smi on ${ctx.where}: ${gpus}`);
    return { ok: true, source: `rocm-smi on ${ctx.where}`, gpus };
  }
  if (amd.notFound || amd.exitCode === 127) return unknown('missing', `neither nvidia-smi nor rocm-smi is installed on ${ctx.where}`);
  return commandUnknown(amd, 'rocm-smi', ctx.where);
}

/** Whether the finding is the NVIDIA driver gone (a fact of its own: the GPU cannot be used). */
export function driverGone(f: GpuFinding): boolean {
  return !f.ok && /driver is not responding/.test(f.detail);
}

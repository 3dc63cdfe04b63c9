/**
 * `jarvis sim`: simulated nodes as real OS processes, for tests, benchmarks, the demo, and anyone
 * who wants to try jarvis without a cluster. Prints one JSON line when ready, runs until
 * SIGINT/SIGTERM (or its parent dies, with --exit-with-parent).
 */
import { writeFile, readFile } from 'node:fs/promises';
import { load as loadYaml, CORE_SCHEMA } from 'js-yaml';
import { ExitCode, JarvisError, UsageError } from '../errors.js';
import { printable } from '../system/text.js';
import { formatFault, parseFault } from '../sim/faults.js';
import { generatedPreset, RUNBOOK_PRESET, startSimCluster, type SimNodeSpec } from '../sim/cluster.js';
import type { SimKind } from '../sim/node.js';
import { JARVIS_BIN } from '../system/paths.js';

export interface SimRunOptions {
  specs: SimNodeSpec[];
  host?: string;
  controlPort?: number;
  /** Write a jarvis config for the cluster here. */
  configOut?: string;
  timeoutMs?: number;
  exitWithParent?: boolean;
  /** Told once every node listens: the JSON line for programs, or a summary for a person. */
  onReady: (ready: SimReady) => void;
  signal: AbortSignal;
}

/** Builds the node list from a preset, a spec file and `id=fault` overrides. */
export async function resolveSpecs(options: { preset?: string; spec?: string; faults?: string[]; omit?: string[]; prefillMsPer1k?: number }): Promise<SimNodeSpec[]> {
  let specs: SimNodeSpec[];
  if (options.spec) {
    const data = loadYaml(await readFile(options.spec, 'utf8'), { schema: CORE_SCHEMA }) as { nodes?: SimNodeSpec[] } | null;
    if (!data || !Array.isArray(data.nodes)) throw new UsageError(`${options.spec}: expected {nodes: [{id, kind, models}]}`);
    specs = data.nodes;
  } else if (!options.preset || options.preset === 'runbook') {
    specs = RUNBOOK_PRESET.map((s) => ({ ...s }));
  } else if (/^\d+$/.test(options.preset) && Number(options.preset) >= 1 && Number(options.preset) <= 1000) {
    specs = generatedPreset(Number(options.preset));
  } else {
    throw new UsageError(`--preset: expected "runbook" or a node count from 1 to 1000, got "${options.preset}"`);
  }
  for (const f of options.faults ?? []) {
    const [id, fault] = f.split('=', 2);
    const spec = specs.find((s) => s.id === id?.toLowerCase());
    if (!spec || !fault) throw new UsageError(`--fault: expected ID=FAULT with a known id (${specs.map((s) => s.id).join(', ')}), got "${f}"`);
    try {
      spec.fault = formatFault(parseFault(fault));
    } catch (error) {
      throw new UsageError(`--fault ${f}: ${(error as Error).message}`);
    }
  }
  if (options.prefillMsPer1k !== undefined) for (const s of specs) s.prefillMsPer1k = options.prefillMsPer1k;
  const omit = new Set((options.omit ?? []).map((s) => s.toLowerCase()));
  return specs.filter((s) => !omit.has(s.id));
}

export function singleNodeSpec(options: { id?: string; kind: string; port?: string; model?: string[]; fault?: string; prefillMsPer1k?: number }): SimNodeSpec {
  const kinds: SimKind[] = ['ollama', 'lmstudio', 'openai', 'anthropic'];
  if (!kinds.includes(options.kind as SimKind)) throw new UsageError(`--kind: expected one of ${kinds.join(', ')}, got "${options.kind}"`);
  const port = options.port === undefined ? 0 : Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: expected a port number, got "${options.port}"`);
  let fault: string | undefined;
  if (options.fault) {
    try {
      fault = formatFault(parseFault(options.fault));
    } catch (error) {
      throw new UsageError(`--fault: ${(error as Error).message}`);
    }
  }
  const kind = options.kind as SimKind;
  const models = (options.model ?? []).flatMap((m) => m.split(',')).filter(Boolean);
  return {
    id: options.id ?? kind,
    kind,
    port,
    models: models.length > 0 ? models : [kind === 'ollama' ? 'qwen3:8b' : 'local-model'],
    ...(fault && { fault }),
    ...(options.prefillMsPer1k !== undefined && { prefillMsPer1k: options.prefillMsPer1k }),
  };
}

/** What a sim says once it listens (its JSON line is a contract: tests, the demo, scripts read it). */
export interface SimReady {
  event: 'ready';
  pid: number;
  control: string;
  nodes: { id: string; kind: string; url: string; model: string | undefined; fault: string }[];
  config?: string;
}

export async function runSim(options: SimRunOptions): Promise<void> {
  const cluster = await startSimCluster(options.specs, { ...(options.host && { host: options.host }), ...(options.controlPort !== undefined && { controlPort: options.controlPort }) });
  if (options.configOut) await writeFile(options.configOut, cluster.configYaml({ restartVia: JARVIS_BIN, ...(options.timeoutMs && { timeoutMs: options.timeoutMs }) }));
  options.onReady({ event: 'ready', pid: process.pid, ...cluster.describe(), ...(options.configOut && { config: options.configOut }) });

  await new Promise<void>((resolve) => {
    if (options.signal.aborted) return resolve();
    options.signal.addEventListener('abort', () => resolve(), { once: true });
    if (options.exitWithParent) {
      const parent = process.ppid;
      const timer = setInterval(() => {
        if (process.ppid !== parent) resolve();
      }, 500);
      options.signal.addEventListener('abort', () => clearInterval(timer), { once: true });
      // Do not keep the process alive for this timer alone.
      timer.unref();
    }
  });
  await cluster.stop();
}

/** Switches a running sim node's fault through its cluster's control server. */
export async function sendFault(controlUrl: string, node: string, fault: string): Promise<string> {
  try {
    parseFault(fault);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  let base: URL;
  try {
    base = new URL(controlUrl);
    if (base.protocol !== 'http:') throw new Error('not http');
  } catch {
    throw new JarvisError(`sim control: "${printable(controlUrl)}" is not the control URL a sim prints when ready (http://127.0.0.1:PORT)`, ExitCode.config);
  }
  const [{ httpRequest }, { classifyFailure, errorMessage }] = await Promise.all([import('../probe/http.js'), import('../probe/classify.js')]);
  const where = `${base.origin}${base.pathname.replace(/\/$/, '')}`;
  const reply = await httpRequest(`${where}/nodes/${encodeURIComponent(node.toLowerCase())}/fault`, {
    method: 'POST',
    body: JSON.stringify({ fault }),
    timeoutMs: 3000,
  }).catch((error: unknown) => {
    throw new JarvisError(`sim control ${where}: ${classifyFailure(error, 3000).detail ?? 'no answer'}; is the sim running? Use the control URL it printed when ready`, ExitCode.config);
  });
  // The control server's {"error": "..."}: its words, not its JSON.
  if (reply.status !== 200) throw new UsageError(`sim control: ${errorMessage(reply.body) ?? `HTTP ${reply.status}`}`);
  return reply.body;
}

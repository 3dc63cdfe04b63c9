/**
 * Loaded-model evidence: what the server holds in memory and how busy it is, from its own API
 * (docs/protocols.md): Ollama's /api/ps (size_vram below size: part of the model runs on the CPU),
 * LM Studio's /api/v0/models (`state`), else `lms ps --json` where its commands run, llama.cpp's
 * /props, /slots and /metrics (when started with --metrics).
 */
import type { NodeConfig } from '../../config/schema.js';
import { nodeHeaders } from '../../config/credentials.js';
import type { HttpOptions, HttpReply } from '../../probe/http.js';
import { rootUrl } from '../../probe/endpoints.js';
import type { CommandRunner } from '../../system/process.js';
import { commandOn, type Target } from '../target.js';
import { commandUnknown, unknown, type Finding } from './finding.js';

export interface LoadedModel {
  name: string;
  sizeBytes?: number;
  vramBytes?: number;
  /** The share of the model in system memory (0 to 1): on the CPU, several times slower. */
  cpuShare?: number;
  /** When the server unloads it if unused (Ollama's keep-alive). */
  expiresAt?: string;
}

/** How busy the server says it is (llama.cpp). */
export interface ServerLoad {
  slots?: { total: number; busy: number };
  /** Requests being answered now, and waiting for a slot. */
  processing?: number;
  deferred?: number;
  /** KV cache in use, 0 to 1. */
  kvCacheUsage?: number;
  tokensPerSecond?: number;
}

export type ModelsFinding = Finding<{ server: 'ollama' | 'lmstudio' | 'llama.cpp'; models: LoadedModel[]; load?: ServerLoad }>;

export interface ModelsContext {
  http: (url: string, options: HttpOptions) => Promise<HttpReply>;
  run: CommandRunner;
  target: Target | undefined;
  where: string;
  timeoutMs: number;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const strOf = (...vs: unknown[]): string => vs.find((v): v is string => typeof v === 'string') ?? '?';
const numOf = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const NOT_JSON = Symbol('not JSON');
/** A body parsed, or NOT_JSON (a server's reply is untrusted input, never a throw). */
function jsonOf(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return NOT_JSON;
  }
}

/** Ollama's /api/ps body. */
export function parseOllamaPs(body: string): LoadedModel[] | string {
  const json = jsonOf(body);
  if (json === NOT_JSON) return 'not JSON';
  if (!isObj(json) || !Array.isArray(json.models)) return 'no `models` list';
  return json.models.filter(isObj).map((m) => {
    const model: LoadedModel = { name: strOf(m.name, m.model) };
    const size = numOf(m.size);
    const vram = numOf(m.size_vram);
    if (size !== undefined) model.sizeBytes = size;
    if (vram !== undefined) model.vramBytes = vram;
    if (size !== undefined && vram !== undefined && size > 0) model.cpuShare = Math.max(0, Math.round(((size - vram) / size) * 100) / 100);
    if (typeof m.expires_at === 'string') model.expiresAt = m.expires_at;
    return model;
  });
}

/** LM Studio's /api/v0/models body: the entries whose state is `loaded`. */
function parseLmStudioModels(body: string): LoadedModel[] | string {
  const json = jsonOf(body);
  if (json === NOT_JSON) return 'not JSON';
  if (!isObj(json) || !Array.isArray(json.data)) return 'no `data` list';
  return json.data.filter((m) => isObj(m) && m.state === 'loaded').map((m) => ({ name: strOf((m as Record<string, unknown>).id) }));
}

/** `lms ps --json`: a list of {identifier, modelKey, sizeBytes, ...}. */
export function parseLmsPs(stdout: string): LoadedModel[] | string {
  const json = jsonOf(stdout.trim() || '[]');
  if (json === NOT_JSON) return 'not JSON';
  if (!Array.isArray(json)) return 'not a list';
  return json.filter(isObj).map((m) => {
    const model: LoadedModel = { name: strOf(m.identifier, m.modelKey) };
    const size = numOf(m.sizeBytes);
    if (size !== undefined) model.sizeBytes = size;
    return model;
  });
}

/** One Prometheus sample's value (`llamacpp:requests_deferred 3`), label sets ignored. */
function metric(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:\\{[^}]*\\})?\\s+(\\S+)`, 'm').exec(text);
  return m ? numOf(Number(m[1])) : undefined;
}

/** llama.cpp's /metrics text (with --metrics). */
export function parseLlamaMetrics(text: string): ServerLoad {
  const load: ServerLoad = {};
  const processing = metric(text, 'llamacpp:requests_processing');
  const deferred = metric(text, 'llamacpp:requests_deferred');
  const kv = metric(text, 'llamacpp:kv_cache_usage_ratio');
  const tps = metric(text, 'llamacpp:predicted_tokens_seconds');
  if (processing !== undefined) load.processing = processing;
  if (deferred !== undefined) load.deferred = deferred;
  if (kv !== undefined) load.kvCacheUsage = kv;
  if (tps !== undefined) load.tokensPerSecond = Math.round(tps * 10) / 10;
  return load;
}

/** llama.cpp's /slots: a list of slots, each with `is_processing`. */
export function parseSlots(body: string): { total: number; busy: number } | undefined {
  try {
    const json = JSON.parse(body) as unknown;
    if (!Array.isArray(json)) return undefined;
    return { total: json.length, busy: json.filter((s) => isObj(s) && s.is_processing === true).length };
  } catch {
    return undefined;
  }
}

/** What the node's server has loaded and how busy it is, or why that cannot be told. */
export async function collectModels(node: NodeConfig, ctx: ModelsContext): Promise<ModelsFinding> {
  if (!node.url) return unknown('unsupported', `${node.id} has no url to ask`);
  const base = rootUrl(node.url).replace(/\/v1$/, '');
  const headers = { ...nodeHeaders(node, ctx.env), accept: 'application/json' };
  const get = async (path: string): Promise<HttpReply | string> => {
    try {
      return await ctx.http(`${base}${path}`, { timeoutMs: ctx.timeoutMs, headers, maxBytes: 1 << 20, ...(ctx.signal && { signal: ctx.signal }) });
    } catch (error) {
      return (error as Error).message;
    }
  };
  const failed = (path: string, r: HttpReply | string) => unknown(typeof r === 'string' && /timed? ?out/i.test(r) ? 'timeout' : 'failed', `GET ${path}: ${typeof r === 'string' ? r : `HTTP ${r.status}`}`);
  switch (node.kind) {
    case 'ollama': {
      const r = await get('/api/ps');
      if (typeof r === 'string' || r.status !== 200) return failed('/api/ps', r);
      const models = parseOllamaPs(r.body);
      return typeof models === 'string' ? unknown('failed', `GET /api/ps: ${models}`) : { ok: true, source: 'GET /api/ps', server: 'ollama', models };
    }
    case 'lmstudio': {
      const r = await get('/api/v0/models');
      if (typeof r !== 'string' && r.status === 200) {
        const models = parseLmStudioModels(r.body);
        if (typeof models !== 'string') return { ok: true, source: 'GET /api/v0/models', server: 'lmstudio', models };
      }
      // An older LM Studio without the REST API (it answered, but not that path): its CLI, where
      // its commands run. Not when the server is gone: `lms` would start LM Studio to answer.
      if (!ctx.target || typeof r === 'string' || r.status !== 404) return failed('/api/v0/models', r);
      const ps = await ctx.run(commandOn(ctx.target, ['lms', 'ps', '--json']), { timeoutMs: ctx.timeoutMs, ...(ctx.signal && { signal: ctx.signal }) });
      if (ps.exitCode !== 0) return commandUnknown(ps, 'lms ps', ctx.where);
      const models = parseLmsPs(ps.stdout);
      return typeof models === 'string' ? unknown('failed', `lms ps --json on ${ctx.where}: ${models}`) : { ok: true, source: `lms ps --json on ${ctx.where}`, server: 'lmstudio', models };
    }
    case 'openai': {
      const [props, slots, metrics] = await Promise.all([get('/props'), get('/slots'), get('/metrics')]);
      if (typeof props === 'string' || props.status !== 200) {
        return typeof props !== 'string' && props.status === 404 ? unknown('unsupported', 'not a llama.cpp server (no /props): nothing to read') : failed('/props', props);
      }
      let name = '?';
      let totalSlots: number | undefined;
      try {
        const p = JSON.parse(props.body) as { model_path?: unknown; model_alias?: unknown; total_slots?: unknown };
        name = typeof p.model_alias === 'string' ? p.model_alias : typeof p.model_path === 'string' ? (p.model_path.split(/[\\/]/).pop() ?? p.model_path) : name;
        totalSlots = numOf(p.total_slots);
      } catch {
        return unknown('failed', 'GET /props: not JSON');
      }
      const load: ServerLoad = typeof metrics !== 'string' && metrics.status === 200 ? parseLlamaMetrics(metrics.body) : {};
      const s = typeof slots !== 'string' && slots.status === 200 ? parseSlots(slots.body) : undefined;
      if (s) load.slots = s;
      else if (totalSlots !== undefined && load.processing !== undefined) load.slots = { total: totalSlots, busy: Math.min(totalSlots, load.processing) };
      const sources = ['/props', ...(s ? ['/slots'] : []), ...(typeof metrics !== 'string' && metrics.status === 200 ? ['/metrics'] : [])];
      return { ok: true, source: `GET ${sources.join(', ')}`, server: 'llama.cpp', models: [{ name }], ...(Object.keys(load).length > 0 && { load }) };
    }
    default:
      return unknown('unsupported', `a ${node.kind} node has no loaded models to read`);
  }
}

/**
 * A set of simulated nodes in one process, with a control server to switch faults at run time,
 * and the jarvis config that points at them.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dump } from 'js-yaml';
import { parseFault, formatFault, type Fault } from './faults.js';
import { SimNode, type SimKind, type SimLoad } from './node.js';

/** How one simulated node is described (spec files, presets). */
export interface SimNodeSpec {
  id: string;
  kind: SimKind;
  /** How jarvis should see it in the config; defaults to `kind` (proxies are OpenAI-style servers). */
  configKind?: 'ollama' | 'lmstudio' | 'openai' | 'proxy' | 'anthropic';
  models: string[];
  /** The model name written in the config (the runbook says `deepseek`); defaults to models[0]. */
  configModel?: string;
  port?: number;
  fault?: string;
  priority?: number;
  timeoutMs?: number;
  role?: string;
  impact?: 'low' | 'normal';
  embeddings?: boolean;
  /** Delay between streamed tokens (keeps streams open, for load tests). */
  tokenDelayMs?: number;
  /** Milliseconds to process 1,000 prompt tokens not already cached (time to first token grows with them; prompt-cache.ts). */
  prefillMsPer1k?: number;
  /** Closes the connection after each streamed reply while its head said keep-alive (llama.cpp's server does). */
  closeAfterStream?: boolean;
  /** A key the node requires (`Authorization: Bearer`). */
  apiKey?: string;
  /** What the node's status endpoints report (busy slots, a model partly on the CPU, nothing loaded). */
  load?: SimLoad;
  /** Written as `anthropic: true`: jarvis passes Messages requests through to it (llama.cpp's server speaks that API). */
  messagesApi?: boolean;
  fallbacks?: { node: string; for?: string }[];
}

/** The runbook's six-node cluster (runbooks/failover.md), simulated. Proxies are OpenAI-style servers. */
export const RUNBOOK_PRESET: SimNodeSpec[] = [
  { id: 'm2', configModel: 'deepseek', kind: 'lmstudio', models: ['deepseek-coder-v2-lite-instruct'], priority: 1, role: 'code champion', fallbacks: [{ node: 'm3', for: 'code review' }, { node: 'ol1', for: 'questions' }] },
  { id: 'm3', configModel: 'mistral', kind: 'lmstudio', models: ['mistral-7b-instruct-v0.3'], priority: 2, role: 'solid general', fallbacks: [{ node: 'm2', for: 'everything (overload accepted)' }] },
  { id: 'ol1', configModel: 'qwen3:8b', kind: 'ollama', models: ['qwen3:8b', 'nomic-embed-text:latest'], priority: 3, role: 'fast local', fallbacks: [{ node: 'm3', for: 'quick tasks' }] },
  { id: 'gemini', configModel: 'gemini', kind: 'openai', configKind: 'proxy', models: ['gemini-2.5-pro'], priority: 4, role: 'architecture', fallbacks: [{ node: 'claude', for: 'architecture' }] },
  { id: 'claude', configModel: 'claude', kind: 'openai', configKind: 'proxy', models: ['claude-sonnet'], priority: 5, role: 'reasoning' },
  { id: 'm1', configModel: 'qwen3-30b', kind: 'lmstudio', models: ['qwen3-30b-a3b'], priority: 6, role: 'last resort, embeddings', impact: 'low', embeddings: true },
];

/** The runbook's task-specific fallbacks (runbooks/failover.md). */
const RUNBOOK_TASKS: Record<string, string[]> = { code: ['m2', 'm3'], quick: ['ol1', 'm3'], architecture: ['gemini', 'claude'] };

/** N generic nodes, kinds in rotation, for benchmarks. */
export function generatedPreset(count: number): SimNodeSpec[] {
  const kinds: SimKind[] = ['ollama', 'lmstudio', 'openai'];
  return Array.from({ length: count }, (_, i) => {
    const kind = kinds[i % 3]!;
    return { id: `n${i + 1}`, kind, models: [kind === 'ollama' ? 'qwen3:8b' : `model-${i + 1}`], priority: i + 1 };
  });
}

export class SimCluster {
  readonly nodes = new Map<string, SimNode>();
  readonly specs: SimNodeSpec[];
  private control: http.Server | undefined;
  controlUrl = '';

  constructor(specs: SimNodeSpec[], private readonly host = '127.0.0.1') {
    this.specs = specs;
    for (const s of specs) {
      this.nodes.set(
        s.id,
        new SimNode({ id: s.id, kind: s.kind, host, port: s.port ?? 0, models: s.models, fault: s.fault ? parseFault(s.fault) : { mode: 'up' }, ...(s.tokenDelayMs !== undefined && { tokenDelayMs: s.tokenDelayMs }), ...(s.prefillMsPer1k !== undefined && { prefillMsPer1k: s.prefillMsPer1k }), ...(s.closeAfterStream && { closeAfterStream: true }), ...(s.apiKey !== undefined && { apiKey: s.apiKey }), ...(s.load && { load: s.load }) }),
      );
    }
  }

  async start(controlPort = 0): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.start()));
    this.control = http.createServer((req, res) => void this.handleControl(req, res));
    await new Promise<void>((resolve, reject) => {
      this.control!.once('error', reject);
      this.control!.listen({ host: this.host, port: controlPort }, () => resolve());
    });
    this.controlUrl = `http://${this.host}:${(this.control.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.control?.closeAllConnections();
    await Promise.all([...this.nodes.values()].map((n) => n.stop()));
    await new Promise<void>((resolve) => (this.control ? this.control.close(() => resolve()) : resolve()));
  }

  async setFault(id: string, fault: Fault): Promise<void> {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`unknown sim node "${id}" (have: ${[...this.nodes.keys()].join(', ')})`);
    await node.setFault(fault);
  }

  setLoad(id: string, load: SimLoad): void {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`unknown sim node "${id}" (have: ${[...this.nodes.keys()].join(', ')})`);
    node.load = load;
  }

  describe() {
    return { control: this.controlUrl, nodes: [...this.nodes.values()].map((n) => n.describe()) };
  }

  /** A jarvis config (YAML) for this cluster. `extra` adds fields per node (restart argv, ...). */
  /**
   * A jarvis config (YAML) for this cluster. With `restartVia` (the jarvis bin), each node's
   * `restart` starts it again as its own sim process on the same port, so `jarvis recover` works
   * on a simulated cluster as on a real one.
   */
  configYaml(options: { timeoutMs?: number; restartVia?: string; extra?: Record<string, Record<string, unknown>> } = {}): string {
    const nodes = this.specs.map((s) => {
      const sim = this.nodes.get(s.id)!;
      const restart = options.restartVia
        ? [process.execPath, options.restartVia, 'sim', 'node', '--kind', s.kind, '--id', s.id, '--host', sim.host, '--port', String(sim.port), ...s.models.flatMap((m) => ['--model', m])]
        : undefined;
      return {
        id: s.id,
        kind: s.configKind ?? s.kind,
        url: sim.url,
        model: s.configModel ?? s.models[0],
        priority: s.priority ?? 1,
        timeoutMs: s.timeoutMs ?? options.timeoutMs ?? 3000,
        ...(s.role && { role: s.role }),
        ...(s.impact && { impact: s.impact }),
        ...(s.embeddings && { embeddings: true }),
        ...(s.messagesApi && { anthropic: true }),
        // A simulated Anthropic that wants a key takes the client's (as a subscription would).
        ...((s.configKind ?? s.kind) === 'anthropic' && s.apiKey !== undefined && { forwardClientAuth: true }),
        ...(s.fallbacks && { fallbacks: s.fallbacks }),
        ...(restart && { restart, process: false }),
        ...options.extra?.[s.id],
      };
    });
    // Task orders whose nodes are all in this cluster (the runbook preset has them all).
    const ids = new Set(this.specs.map((s) => s.id));
    const tasks = Object.fromEntries(Object.entries(RUNBOOK_TASKS).filter(([, list]) => list.every((id) => ids.has(id))));
    return `# Written by jarvis for a simulated cluster on loopback.\n${dump({ nodes, ...(Object.keys(tasks).length > 0 && { tasks }) }, { flowLevel: 3, lineWidth: 200 })}`;
  }

  private async handleControl(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const m = /^\/nodes\/([^/]+)\/fault$/.exec(req.url ?? '');
    const l = /^\/nodes\/([^/]+)\/load$/.exec(req.url ?? '');
    if (req.method === 'POST' && l) {
      // {"busy": true} | {"cpuShare": 0.4} | {"unloaded": true} | {}: what the status endpoints report.
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      try {
        const json = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
        const load: SimLoad = {};
        if (json.busy !== undefined) load.busy = json.busy === true;
        if (typeof json.cpuShare === 'number' && json.cpuShare >= 0 && json.cpuShare <= 1) load.cpuShare = json.cpuShare;
        if (json.unloaded !== undefined) load.unloaded = json.unloaded === true;
        this.setLoad(decodeURIComponent(l[1]!), load);
        return send(200, { id: l[1], load });
      } catch (error) {
        return send(400, { error: (error as Error).message });
      }
    }
    if (req.method === 'GET' && (req.url === '/' || req.url === '/nodes')) return send(200, this.describe());
    if (req.method === 'POST' && m) {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const text = Buffer.concat(chunks).toString('utf8').trim();
      let spec = text;
      try {
        const json = JSON.parse(text) as { fault?: unknown };
        if (typeof json.fault === 'string') spec = json.fault;
      } catch {
        // plain text body: the fault itself
      }
      try {
        const fault = parseFault(spec);
        await this.setFault(decodeURIComponent(m[1]!), fault);
        return send(200, { id: m[1], fault: formatFault(fault) });
      } catch (error) {
        return send(400, { error: (error as Error).message });
      }
    }
    return send(404, { error: 'GET / or POST /nodes/<id>/fault or /nodes/<id>/load' });
  }
}

/** Starts the nodes of `specs` with the control server; stop() when done. */
export async function startSimCluster(specs: SimNodeSpec[], options: { host?: string; controlPort?: number } = {}): Promise<SimCluster> {
  const cluster = new SimCluster(specs, options.host);
  try {
    await cluster.start(options.controlPort);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/**
 * The proxy's own endpoints: liveness, each node's live health, the runbook's diagnosis, a
 * recovery on demand, Prometheus metrics. Node credentials appear in none of them.
 */
import { findNode } from '../config/nodes.js';
import { ExitCode, isJarvisError } from '../errors.js';
import { diagnoseNode } from '../runbook/diagnosis.js';
import { probeAll } from '../probe/probe.js';
import { readJsonObject } from './body.js';
import { collectEvidence, evidenceOptions } from '../runbook/evidence/evidence.js';
import type { Handler } from './context.js';
import { sendBodyError, sendError } from './openai/errors.js';
import { sendJson } from './reply.js';
import { clusterState } from './cluster-state.js';

export const root: Handler = (req, res, ctx) => {
  // Claude Code probes `HEAD /` at start; Ollama's clients read `GET /` as Ollama answers it (a
  // browser gets the status page, see routes.ts). The pointer for a person is in a header.
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-jarvis': `jarvis serve: ${ctx.config.nodes.length} nodes; OpenAI /v1, Anthropic /v1/messages, Ollama /api; GET /health, /status` });
  res.end(req.method === 'HEAD' ? undefined : 'Ollama is running');
};

/**
 * Can this proxy answer? For a load balancer in front of several jarvis: 200 `ok` when every node
 * is routable (breaker not open, last probe not failed), 200 `degraded` when some are (or the
 * shared state is away), 503 `down` when none is, so that traffic goes to another instance.
 */
export const health: Handler = (_req, res, ctx) => {
  const state = { backend: ctx.health.shared.backend, where: ctx.health.shared.where, available: ctx.health.unavailable === undefined };
  const c = clusterState(ctx);
  const unroutable = [...c.down, ...c.throttled];
  const body = { nodes: c.nodes, routable: c.routable, ...(unroutable.length > 0 && { unroutable }), overall: c.overall, state };
  sendJson(res, c.status === 'down' ? 503 : 200, { status: c.status, ...(c.reason && { reason: c.reason }), ...body });
};

/** Liveness: the process serves requests (whatever the nodes do). */
export const live: Handler = (_req, res) => sendJson(res, 200, { status: 'ok' });

export const status: Handler = async (_req, res, ctx) => {
  const now = ctx.deps.now();
  const probes = new Map(ctx.healer.lastProbes().map((p) => [p.id, p]));
  const failovers = (await ctx.metrics.failovers.get()).values.reduce((a, v) => a + v.value, 0);
  const affinity = ctx.affinity.status();
  sendJson(res, 200, {
    state: { backend: ctx.health.shared.backend, where: ctx.health.shared.where, available: ctx.health.unavailable === undefined, instances: ctx.health.shared.instances() },
    failovers_total: failovers,
    affinity: { enabled: affinity.enabled, shared: affinity.shared, entries: affinity.entries, max_entries: affinity.maxEntries, approx_bytes: affinity.approxBytes, ttl_s: affinity.ttlS, outcomes: affinity.outcomes },
    nodes: Object.fromEntries(
      ctx.config.nodes.map((n) => {
        const h = ctx.health.get(n.id);
        return [
          n.id,
          {
            kind: n.kind,
            url: n.url ?? null,
            model: n.model ?? null,
            ...ctx.health.view(n.id, now),
            in_flight: ctx.load.inFlight(n.id),
            latency_ms: ctx.load.latency(n.id) === undefined ? null : Math.round(ctx.load.latency(n.id)!),
            served: ctx.catalog.served(n.id) ?? null,
            last_error: h?.lastError ?? null,
            last_error_at: h?.lastErrorAt ?? null,
            probe: probes.get(n.id)?.status ?? null,
            pins: affinity.pins[n.id] ?? 0,
          },
        ];
      }),
    ),
  });
};

export const diagnostics: Handler = async (_req, res, ctx) => {
  const { config, executor: x } = ctx;
  const opts = evidenceOptions(config, ctx.runbook, ctx.records.paths, x.platform, x.env);
  // Probes and evidence at once: the answer takes the slowest of them, not their sum.
  const [probes, evidence] = await Promise.all([probeAll(config.nodes, x), Promise.all(config.nodes.map((n) => collectEvidence(n, { http: x.http, run: x.run, now: ctx.wallNow }, opts)))]);
  sendJson(res, 200, {
    nodes: probes.map((p, i) => {
      const e = evidence[i]!;
      const d = diagnoseNode(ctx.runbook, findNode(config, p.id), p, undefined, { platform: x.platform }, e);
      return { node: p.id, status: p.status, detail: p.detail ?? null, cause: d.cause, meaning: d.meaning, recovery: d.recovery, actions: d.actions, summary: e.summary, evidence: e };
    }),
  });
};

export const heal: Handler = async (req, res, ctx) => {
  const read = await readJsonObject(req, 4096);
  if (!read.ok) return sendBodyError(res, read.error);
  const nodeId = read.value.node;
  if (typeof nodeId !== 'string') return sendError(res, { status: 400, message: 'expected {"node": "<id>"}', type: 'invalid_request_error', param: 'node' });
  if (!ctx.config.nodes.some((n) => n.id === nodeId.toLowerCase())) return sendError(res, { status: 404, message: `unknown node "${nodeId}"`, type: 'invalid_request_error', param: 'node' });
  let r;
  try {
    r = await ctx.healer.heal(nodeId);
  } catch (error) {
    if (!isJarvisError(error)) throw error;
    // Nothing was restarted: the incident log cannot be written (503, try again once it can), or
    // another recovery of the node holds its lock or lease (409).
    const unrecordable = error.exitCode === ExitCode.config;
    return sendError(res, { status: unrecordable ? 503 : 409, message: error.message, type: unrecordable ? 'server_error' : 'conflict', code: unrecordable ? 'incidents_unwritable' : 'recovery_running' });
  }
  sendJson(res, r.recovered ? 200 : 502, { node: r.node, outcome: r.outcome, recovered: r.recovered, plan: r.plan, steps: r.steps, verification: r.verification ?? null, incident: r.incident?.id ?? null });
};

export const metrics: Handler = async (_req, res, ctx) => {
  const text = await ctx.metrics.registry.metrics();
  res.writeHead(200, { 'content-type': ctx.metrics.registry.contentType });
  res.end(text);
};

/** The MCP tools (`/mcp`, Streamable HTTP), when `serve.mcp` is on; the body read under serve's limit. */
export const mcp: Handler = async (req, res, ctx) => {
  if (!ctx.config.serve.mcp || !ctx.mcp) return sendError(res, { status: 404, message: 'the MCP endpoint is off: set `serve: { mcp: true }` in the config (or run `jarvis mcp` over stdio)', type: 'invalid_request_error', code: 'not_found' });
  let body: unknown;
  if (req.method === 'POST') {
    const read = await readJsonObject(req, ctx.bodyLimitBytes);
    if (!read.ok) return sendBodyError(res, read.error);
    body = read.value;
  }
  await ctx.mcp(req, res, body);
};

/**
 * Runbook step 4: prove the node answers with a tiny chat completion (`"ping"`, max 10 tokens,
 * no streaming, 5 s). Listing models is not enough: the reply must parse and carry content.
 */
import { nodeHeaders } from '../config/credentials.js';
import type { NodeConfig } from '../config/schema.js';
import { classifyFailure, classifyReply, excerpt } from '../probe/classify.js';
import { apiUrl, rootUrl } from '../probe/endpoints.js';
import type { ProbeDeps, ProbeResult } from '../probe/probe.js';
import { classifyCheckCommand } from '../probe/probe.js';
import type { Verification } from '../incidents/incident.js';

const PING = [{ role: 'user', content: 'ping' }];

/** The request the runbook's verification sends, per kind. */
export function verifyRequest(node: NodeConfig, model: string | undefined): { url: string; body: Record<string, unknown> } | undefined {
  if (!node.url) return undefined;
  if (node.kind === 'ollama') {
    // Ollama's native API reports eval durations, which give tokens per second.
    return { url: `${rootUrl(node.url)}/api/chat`, body: { model, messages: PING, stream: false, options: { num_predict: 10 } } };
  }
  if (node.kind === 'anthropic') return { url: apiUrl(node.url, 'messages'), body: { model: model ?? 'claude-haiku-4-5', messages: PING, max_tokens: 10 } };
  return { url: apiUrl(node.url, 'chat/completions'), body: { ...(model && { model }), messages: PING, max_tokens: 10, stream: false } };
}

/** Reads a completion reply; pure. */
export function readCompletion(kind: NodeConfig['kind'], status: number, body: string): Omit<Verification, 'latencyMs'> {
  if (status < 200 || status >= 300) {
    const c = classifyReply('generic', { status, headers: {}, body });
    return { ok: false, detail: c.detail ?? `HTTP ${status}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, detail: `the completion is not JSON: ${excerpt(body)}` };
  }
  if (kind === 'ollama') {
    const r = json as { message?: { content?: unknown }; model?: unknown; eval_count?: unknown; eval_duration?: unknown };
    const content = r.message?.content;
    if (typeof content !== 'string' || content.trim() === '') return { ok: false, detail: `no content in the reply: ${excerpt(body)}` };
    const tps = typeof r.eval_count === 'number' && typeof r.eval_duration === 'number' && r.eval_duration > 0 ? r.eval_count / (r.eval_duration / 1e9) : undefined;
    return { ok: true, content: excerpt(content, 60), ...(typeof r.model === 'string' && { model: r.model }), ...(tps !== undefined && { tokensPerSecond: Math.round(tps * 10) / 10 }) };
  }
  if (kind === 'anthropic') {
    const m = json as { content?: { type?: unknown; text?: unknown }[]; model?: unknown };
    const text = Array.isArray(m.content) ? m.content.find((b) => b?.type === 'text')?.text : undefined;
    if (typeof text !== 'string' || text.trim() === '') return { ok: false, detail: `no text in the reply: ${excerpt(body)}` };
    return { ok: true, content: excerpt(text, 60), ...(typeof m.model === 'string' && { model: m.model }) };
  }
  const r = json as { choices?: { message?: { content?: unknown; reasoning_content?: unknown } }[]; model?: unknown };
  const message = Array.isArray(r.choices) ? r.choices[0]?.message : undefined;
  const content = typeof message?.content === 'string' && message.content.trim() ? message.content : message?.reasoning_content;
  if (typeof content !== 'string' || content.trim() === '') return { ok: false, detail: `no content in the reply: ${excerpt(body)}` };
  return { ok: true, content: excerpt(content, 60), ...(typeof r.model === 'string' && { model: r.model }) };
}

/** Sends the verification completion (or, for a proxy checked by command, runs its check). */
export async function verifyNode(node: NodeConfig, probe: ProbeResult | undefined, deps: ProbeDeps, timeoutMs: number): Promise<Verification> {
  const started = deps.now();
  const elapsed = () => Math.round(deps.now() - started);
  if (node.kind === 'proxy' && node.check?.command && !node.url) {
    const result = await deps.run(node.check.command, { timeoutMs, ...(deps.signal && { signal: deps.signal }) });
    const c = classifyCheckCommand(result, timeoutMs, node.check.expect);
    return { ok: c.status === 'ok', latencyMs: elapsed(), ...(c.detail && { detail: c.detail }) };
  }
  const model = probe?.matchedModel ?? node.model ?? probe?.models?.[0];
  const req = verifyRequest(node, model);
  if (!req) return { ok: false, latencyMs: 0, detail: 'no url to verify against' };
  try {
    const reply = await deps.http(req.url, { method: 'POST', body: JSON.stringify(req.body), headers: nodeHeaders(node), timeoutMs, maxBytes: 1 << 20, ...(deps.signal && { signal: deps.signal }) });
    return { ...readCompletion(node.kind, reply.status, reply.body), latencyMs: elapsed() };
  } catch (error) {
    const c = classifyFailure(error, timeoutMs);
    return { ok: false, latencyMs: elapsed(), detail: `${c.status}: ${c.detail ?? ''}` };
  }
}

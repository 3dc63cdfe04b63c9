/**
 * Runbook step 1, detection: one probe per node kind, reading the real protocols (docs/protocols.md),
 * with a hard timeout. A probe never throws for a node that is down: the result says how.
 */
import { nodeHeaders } from '../config/credentials.js';
import { meaningfulLines } from '../system/logs.js';
import type { NodeConfig, NodeKind } from '../config/schema.js';
import type { CommandResult, CommandRunner } from '../system/process.js';
import { apiUrl, rootUrl } from './endpoints.js';
import { classifyFailure, classifyReply, excerpt, type Classification, type ReplyProtocol } from './classify.js';
import type { HttpOptions, HttpReply } from './http.js';

/** One node's probe result: the `--json` status contract plus what we learned. */
export interface ProbeResult extends Classification {
  id: string;
  kind: NodeKind;
  url?: string;
  priority: number;
  latencyMs: number;
  /** The configured model. */
  model?: string;
  /** What was asked: `GET http://.../api/tags`, or the check command. */
  target: string;
}

export interface ProbeDeps {
  http: (url: string, options: HttpOptions) => Promise<HttpReply>;
  run: CommandRunner;
  now: () => number;
  signal?: AbortSignal;
}

/** The URL that tells whether a node of this kind is healthy. */
export function probeUrl(kind: NodeKind, base: string): { url: string; protocol: ReplyProtocol } {
  switch (kind) {
    case 'ollama':
      // /api/tags lists the downloaded models; GET / only says "Ollama is running".
      return { url: `${rootUrl(base)}/api/tags`, protocol: 'ollama' };
    default:
      // LM Studio answers 200 to unknown endpoints: only /v1/models proves it.
      return { url: apiUrl(base, 'models'), protocol: 'openai' };
  }
}

/** Probes one node. */
export async function probeNode(node: NodeConfig, deps: ProbeDeps): Promise<ProbeResult> {
  const started = deps.now();
  const base = {
    id: node.id,
    kind: node.kind,
    ...(node.url !== undefined && { url: node.url }),
    priority: node.priority,
    ...(node.model !== undefined && { model: node.model }),
  };
  if (node.kind === 'proxy' && node.check?.command) {
    const timeoutMs = node.check.timeoutMs ?? node.timeoutMs;
    const result = await deps.run(node.check.command, { timeoutMs, ...(deps.signal && { signal: deps.signal }) });
    return { ...base, ...classifyCheckCommand(result, timeoutMs, node.check.expect), latencyMs: Math.round(deps.now() - started), target: node.check.command.join(' ') };
  }
  let url: string;
  let protocol: ReplyProtocol;
  let timeoutMs = node.timeoutMs;
  if (node.kind === 'proxy' && node.check?.url) {
    url = node.check.url;
    protocol = 'generic';
    timeoutMs = node.check.timeoutMs ?? timeoutMs;
  } else {
    ({ url, protocol } = probeUrl(node.kind, node.url!));
  }
  let classification: Classification;
  try {
    const reply = await deps.http(url, { timeoutMs, maxBytes: 4 << 20, headers: nodeHeaders(node), ...(deps.signal && { signal: deps.signal }) });
    classification = classifyReply(protocol, reply, protocol === 'generic' ? undefined : node.model, deps.now());
    // An Anthropic API without a key of ours answers 401: it is up; the client's own key is used.
    if (node.kind === 'anthropic' && !node.apiKeyEnv && reply.status === 401) classification = { status: 'ok', detail: "reachable; answers 401 without a key: the client's own key is forwarded" };
  } catch (error) {
    classification = classifyFailure(error, timeoutMs);
  }
  return { ...base, ...classification, latencyMs: Math.round(deps.now() - started), target: `GET ${url}` };
}

/**
 * Probes every node at once: the wall time is the slowest node's timeout, not the sum. Results
 * come back in the order of `nodes`.
 */
export function probeAll(nodes: readonly NodeConfig[], deps: ProbeDeps): Promise<ProbeResult[]> {
  return Promise.all(nodes.map((n) => probeNode(n, deps)));
}

/**
 * Reads a proxy's check command (the runbook's `gemini-proxy.js --ping`): exit 0 is healthy; a
 * failure is classified by what its output says, since scripts print the error they hit.
 */
export function classifyCheckCommand(result: CommandResult, timeoutMs: number, expect?: string): Classification {
  const out = `${result.stdout}\n${result.stderr}`.trim();
  // What went wrong, not the last line (a Node crash ends in `Node.js v20.20.2`).
  const last = excerpt(meaningfulLines(out, 2).split('\n').join(' / '), 200);
  if (result.notFound) return { status: 'bad_response', detail: `check command not found: ${result.argv[0]}` };
  if (result.timedOut) return { status: 'timeout', detail: `check command gave no answer within ${timeoutMs} ms` };
  if (result.exitCode === 0) {
    if (expect !== undefined && !new RegExp(expect, 'i').test(out)) {
      return { status: 'bad_response', detail: `check passed but its output does not match /${expect}/: ${last}` };
    }
    return { status: 'ok', ...(out && { detail: last }) };
  }
  const how = result.exitCode !== undefined ? `exit ${result.exitCode}` : (result.error ?? 'failed');
  if (/quota|rate.?limit|\b429\b|resource.?exhausted|too many requests/i.test(out)) {
    const wait = /retry.{0,12}?(\d+)\s*s/i.exec(out);
    return {
      status: 'http_error',
      httpStatus: 429,
      throttled: true,
      ...(wait && { retryAfterS: Number(wait[1]) }),
      detail: `throttled: quota or rate limit (${how}): ${last}`,
    };
  }
  if (/ECONNREFUSED|connection refused/i.test(out)) return { status: 'refused', detail: `the proxy's upstream refused the connection (${how}): ${last}` };
  if (/ENOTFOUND|EAI_AGAIN|getaddrinfo/i.test(out)) return { status: 'dns', detail: `name does not resolve (${how}): ${last}` };
  if (/EHOSTUNREACH|ENETUNREACH|network is unreachable|no route to host/i.test(out)) return { status: 'unreachable', detail: `no route (${how}): ${last}` };
  if (/ETIMEDOUT|timed? ?out/i.test(out)) return { status: 'timeout', detail: `timed out (${how}): ${last}` };
  const http = /\b(?:HTTP|status)[ :/]*([45]\d\d)\b/i.exec(out);
  if (http) return { status: 'http_error', httpStatus: Number(http[1]), detail: `HTTP ${http[1]} (${how}): ${last}` };
  return { status: 'bad_response', detail: `check failed (${how})${last !== '(empty)' ? `: ${last}` : ''}` };
}

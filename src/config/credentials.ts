/**
 * A node's upstream credentials: `apiKeyEnv` names the environment variable that holds its key
 * (sent as `Authorization: Bearer`, or `x-api-key` to an `anthropic` node), `headers` adds fixed ones. Sent on probes, verifications and
 * requests; never printed (`redactHeaders` is what a message may show).
 */
import type { NodeConfig } from './schema.js';

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

/** The Messages API version jarvis speaks to an `anthropic` node when the client named none. */
const ANTHROPIC_VERSION = '2023-06-01';

/** Whether a node takes Anthropic's Messages requests as they are. */
export function speaksMessages(node: NodeConfig): boolean {
  return node.kind === 'anthropic' || node.anthropic === true;
}

/** The headers every request to this node carries (none for most nodes). */
export function nodeHeaders(node: NodeConfig, env: NodeJS.ProcessEnv = process.env): Readonly<Record<string, string>> {
  const anthropic = node.kind === 'anthropic';
  if (!node.apiKeyEnv && !node.headers && !anthropic) return EMPTY;
  const headers: Record<string, string> = anthropic ? { 'anthropic-version': ANTHROPIC_VERSION } : {};
  for (const [k, v] of Object.entries(node.headers ?? {})) headers[k.toLowerCase()] = v;
  const key = node.apiKeyEnv ? env[node.apiKeyEnv] : undefined;
  // Anthropic's API takes its key as x-api-key; everyone else as a bearer token.
  if (key) headers[anthropic ? 'x-api-key' : 'authorization'] = anthropic ? key : `Bearer ${key}`;
  return headers;
}

/**
 * What of an Anthropic client's headers a node that speaks the Messages API gets: the client's
 * `anthropic-version` and `anthropic-beta` as they came; its key (x-api-key, or a subscription's
 * Bearer token) only for an `anthropic` node that says `forwardClientAuth: true` and has no key
 * of its own, never for a local server. `client` holds no key jarvis's own auth took (the front
 * leaves those out).
 */
export function forwardedHeaders(node: NodeConfig, client: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  const keys = node.kind === 'anthropic' && node.forwardClientAuth === true && !node.apiKeyEnv ? ['anthropic-version', 'anthropic-beta', 'x-api-key', 'authorization'] : ['anthropic-version', 'anthropic-beta'];
  for (const k of keys) if (client[k]) out[k] = client[k];
  return out;
}

/** What a diagnosis may say about a node's credentials, without their values. */
export function describeCredentials(node: NodeConfig, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const parts: string[] = [];
  if (node.apiKeyEnv) parts.push(env[node.apiKeyEnv] ? `key from $${node.apiKeyEnv}` : `$${node.apiKeyEnv} is not set: no key sent`);
  const names = Object.keys(node.headers ?? {});
  if (names.length > 0) parts.push(`headers ${names.join(', ')} (values not shown)`);
  return parts.length > 0 ? parts.join('; ') : undefined;
}

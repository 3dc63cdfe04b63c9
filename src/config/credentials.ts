/**
 * A node's upstream credentials: `apiKeyEnv` names the environment variable that holds its key
 * (sent as `Authorization: Bearer`), `headers` adds fixed ones. Sent on probes, verifications and
 * requests; never printed (`redactHeaders` is what a message may show).
 */
import type { NodeConfig } from './schema.js';

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

/** The headers every request to this node carries (none for most nodes). */
export function nodeHeaders(node: NodeConfig, env: NodeJS.ProcessEnv = process.env): Readonly<Record<string, string>> {
  if (!node.apiKeyEnv && !node.headers) return EMPTY;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(node.headers ?? {})) headers[k.toLowerCase()] = v;
  const key = node.apiKeyEnv ? env[node.apiKeyEnv] : undefined;
  if (key) headers.authorization = `Bearer ${key}`;
  return headers;
}

/** What a diagnosis may say about a node's credentials, without their values. */
export function describeCredentials(node: NodeConfig, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const parts: string[] = [];
  if (node.apiKeyEnv) parts.push(env[node.apiKeyEnv] ? `key from $${node.apiKeyEnv}` : `$${node.apiKeyEnv} is not set: no key sent`);
  const names = Object.keys(node.headers ?? {});
  if (names.length > 0) parts.push(`headers ${names.join(', ')} (values not shown)`);
  return parts.length > 0 ? parts.join('; ') : undefined;
}

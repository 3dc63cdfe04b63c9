/** Asks a node which models it serves (what the catalog learns); undefined when it could not tell. */
import type { NodeConfig } from '../config/schema.js';
import { nodeHeaders } from '../config/credentials.js';
import { classifyReply } from '../probe/classify.js';

/** Lists a node's models (`/v1/models`, Ollama's tags): what the catalog learns a node serves. */
export async function listModels(node: NodeConfig, timeoutMs: number): Promise<string[] | undefined> {
  if (!node.url) return undefined;
  const [{ httpRequest }, { probeUrl }] = await Promise.all([import('../probe/http.js'), import('../probe/probe.js')]);
  const { url, protocol } = probeUrl(node.kind, node.url);
  try {
    const reply = await httpRequest(url, { timeoutMs, headers: nodeHeaders(node), maxBytes: 4 << 20 });
    return classifyReply(protocol, reply).models;
  } catch {
    return undefined;
  }
}

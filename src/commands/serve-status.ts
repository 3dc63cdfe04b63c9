/**
 * What a running `jarvis serve` says of itself (`/api/status`): found by its record in the data
 * dir (`serve.json`) or a URL given, read within a second; nothing when none answers. For the
 * commands that show a serve's live view beside their own (watch, status).
 */
import type { ProbeDeps } from '../probe/probe.js';
import { readServeFile } from '../store/serve-file.js';

export interface ServeStatus {
  failovers_total?: number;
  nodes?: Record<string, { in_flight?: number; pins?: number }>;
  affinity?: { enabled?: boolean; entries?: number };
}

/** The serve at `url`, or the one `serveFile` names, and what it says; undefined when none answers. */
export async function readServe(url: string | undefined, serveFile: string, deps: ProbeDeps, env: NodeJS.ProcessEnv): Promise<{ url: string; status: ServeStatus } | undefined> {
  const at = url ?? (await readServeFile(serveFile).catch(() => undefined))?.url;
  if (!at) return undefined;
  try {
    const r = await deps.http(`${at.replace(/\/+$/, '')}/api/status`, { timeoutMs: 1000, ...(env.JARVIS_API_KEY && { headers: { authorization: `Bearer ${env.JARVIS_API_KEY}` } }) });
    return r.status === 200 ? { url: at, status: JSON.parse(r.body) as ServeStatus } : undefined;
  } catch {
    return undefined;
  }
}

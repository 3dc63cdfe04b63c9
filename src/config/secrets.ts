/**
 * The secret values a config points at, for system/text.ts to scrub from whatever jarvis shows,
 * logs, stores or sends: node keys (from their environment variables), header values (and the
 * token of an `Authorization: Bearer ...`), jarvis's own client keys, the Redis password, and the
 * parts of each webhook URL that look like tokens (Slack's and Discord's secret is a path
 * segment, others take `?token=`): a segment or query value of 16 characters or more with letters
 * and digits. `/api/v2/alerts` stays readable.
 */
import { rememberSecrets } from '../system/text.js';
import type { Config } from './schema.js';

export function configSecrets(config: Config, env: NodeJS.ProcessEnv): string[] {
  const out: (string | undefined)[] = [];
  const headerValues = (headers: Record<string, string> | undefined) => {
    for (const v of Object.values(headers ?? {})) out.push(v, /^\s*(?:bearer|basic|token)\s+(\S+)/i.exec(v)?.[1]);
  };
  for (const n of config.nodes) {
    if (n.apiKeyEnv) out.push(env[n.apiKeyEnv]);
    headerValues(n.headers);
  }
  out.push(...config.serve.apiKeys, env.JARVIS_API_KEY);
  if (config.serve.apiKeysEnv) out.push(...(env[config.serve.apiKeysEnv] ?? '').split(',').map((k) => k.trim()));
  for (const url of [config.state.url, env.JARVIS_REDIS_URL]) if (url && URL.canParse(url)) out.push(decodeSegment(new URL(url).password), new URL(url).password);
  for (const hook of config.alerts.webhooks) {
    headerValues(hook.headers);
    const u = new URL(hook.url);
    out.push(...[...u.pathname.split('/').map(decodeSegment), ...u.searchParams.values()].filter(looksLikeToken));
  }
  return out.filter((v): v is string => typeof v === 'string' && v.trim() !== '');
}

const looksLikeToken = (s: string) => s.length >= 16 && /\d/.test(s) && /[a-z]/i.test(s);

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Remembers a loaded config's secrets for scrubbing (each load adds; a reloaded config's old keys stay scrubbed). */
export function rememberConfigSecrets(config: Config, env: NodeJS.ProcessEnv): void {
  rememberSecrets(configSecrets(config, env));
}

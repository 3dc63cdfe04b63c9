/**
 * Config in stages (STYLE.md 7): find the file, read it, parse YAML (JSON is YAML too), validate
 * against the schema, apply defaults. Every error names the file, the line where we can, the
 * field path and what was expected.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { load as loadYaml, CORE_SCHEMA, YAMLException } from 'js-yaml';
import type { core } from 'zod';
import { ConfigError } from '../errors.js';
import { configSchema, DEFAULT_TIMEOUT_MS, type Config, type NodeConfig, type RawConfig } from './schema.js';

export interface ConfigSource {
  path: string;
  /** How it was found, for messages: `--config`, `$JARVIS_CONFIG`, `./jarvis.config.yaml`, ... */
  from: string;
}

export interface LocateOptions {
  flag?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  home?: string;
}

/** The places a config is looked for, in order (DESIGN.md). */
export function configCandidates({ flag, env = process.env, cwd = process.cwd(), home = homedir() }: LocateOptions): ConfigSource[] {
  if (flag) return [{ path: path.resolve(cwd, flag), from: '--config' }];
  if (env.JARVIS_CONFIG) return [{ path: path.resolve(cwd, env.JARVIS_CONFIG), from: '$JARVIS_CONFIG' }];
  const xdg = env.XDG_CONFIG_HOME || path.join(home, '.config');
  return [
    { path: path.join(cwd, 'jarvis.config.yaml'), from: './jarvis.config.yaml' },
    { path: path.join(cwd, 'jarvis.config.yml'), from: './jarvis.config.yml' },
    { path: path.join(cwd, 'jarvis.config.json'), from: './jarvis.config.json' },
    { path: path.join(xdg, 'jarvis', 'config.yaml'), from: '~/.config/jarvis/config.yaml' },
  ];
}

/** Finds the config file or throws a ConfigError that says where we looked and what to do. */
export function locateConfig(options: LocateOptions): ConfigSource {
  const candidates = configCandidates(options);
  const explicit = candidates.length === 1 && candidates[0];
  if (explicit) {
    if (!existsSync(explicit.path)) throw new ConfigError(`config file not found: ${explicit.path} (from ${explicit.from})`);
    return explicit;
  }
  const found = candidates.find((c) => existsSync(c.path));
  if (found) return found;
  throw new ConfigError(
    [
      'no config found. Looked for --config, $JARVIS_CONFIG, then:',
      ...candidates.map((c) => `  ${c.path}`),
      'Write one with `jarvis init` (the runbook\'s six-node cluster, to edit),',
      'or try jarvis on a simulated cluster with `jarvis demo`.',
    ].join('\n'),
  );
}

/** Reads, parses and validates a config file. */
export async function loadConfig(options: LocateOptions = {}): Promise<Config> {
  const source = locateConfig(options);
  let text: string;
  try {
    text = await readFile(source.path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config ${source.path}: ${(error as Error).message}`, { cause: error });
  }
  return parseConfig(text, source.path);
}

/**
 * Parses config text (YAML or JSON) and validates it. Pure: no file access.
 *
 * js-yaml parses: it is several times faster on a cold start than the `yaml` package, and config
 * parsing sits on the path of every command (200 nodes: ~25 ms against ~95 ms). `yaml`, whose
 * Document keeps source positions, is loaded only when the config is invalid, to give each
 * error its line.
 */
export async function parseConfig(text: string, file: string): Promise<Config> {
  let data: unknown;
  try {
    data = loadYaml(text, { schema: CORE_SCHEMA, filename: file, json: false });
  } catch (error) {
    if (error instanceof YAMLException) {
      const where = `${file}:${error.mark.line + 1}:${error.mark.column + 1}`;
      throw new ConfigError(`${where}: not valid YAML/JSON: ${error.reason}`);
    }
    throw error;
  }
  if (data === null || data === undefined) throw new ConfigError(`${file}: the file is empty; expected a mapping with a \`nodes\` list`);

  const result = configSchema.safeParse(data, { reportInput: true });
  if (!result.success) {
    const lineOf = await lineLocator(text);
    const messages = result.error.issues.slice(0, 10).map((issue) => {
      const line = lineOf(issue.path);
      return `  ${line ? `line ${line}: ` : ''}${formatPath(issue.path)}: ${describeIssue(issue)}`;
    });
    const more = result.error.issues.length > 10 ? [`  ... and ${result.error.issues.length - 10} more`] : [];
    throw new ConfigError([`invalid config ${file}:`, ...messages, ...more].join('\n'));
  }
  return normalize(result.data, file);
}

function normalize(raw: RawConfig, file: string): Config {
  const defaultTimeout = raw.defaults?.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const nodes: NodeConfig[] = raw.nodes.map((n, index) => ({
    id: n.id,
    kind: n.kind,
    ...(n.url !== undefined && { url: n.url }),
    ...(n.model !== undefined && { model: n.model }),
    priority: n.priority ?? index + 1,
    timeoutMs: n.timeoutMs ?? defaultTimeout,
    ...(n.restart !== undefined && { restart: n.restart }),
    ...(n.stop !== undefined && { stop: n.stop }),
    ...(n.role !== undefined && { role: n.role }),
    impact: n.impact ?? 'normal',
    ...(hostOf(n.host, n.url, n.check?.url) !== undefined && { host: hostOf(n.host, n.url, n.check?.url) }),
    fallbacks: (n.fallbacks ?? []).map((f) => (typeof f === 'string' ? { node: f } : f.for ? { node: f.node, for: f.for } : { node: f.node })),
    ...(n.check !== undefined && { check: n.check }),
    ...(n.ssh !== undefined && { ssh: n.ssh }),
    ...(n.systemdUnit !== undefined && { systemdUnit: n.systemdUnit }),
    ...(n.process !== undefined && { process: n.process }),
    ...(n.embeddings !== undefined && { embeddings: n.embeddings }),
    ...(n.strict !== undefined && { strict: n.strict }),
    ...(n.apiKeyEnv !== undefined && { apiKeyEnv: n.apiKeyEnv }),
    ...(n.headers !== undefined && { headers: n.headers }),
  }));
  const order = new Map(nodes.map((n, i) => [n.id, i]));
  nodes.sort((a, b) => a.priority - b.priority || order.get(a.id)! - order.get(b.id)!);
  return {
    path: file,
    nodes,
    tasks: raw.tasks ?? {},
    incidents: {
      retentionDays: raw.incidents?.retentionDays ?? 90,
      escalateAfter: raw.incidents?.escalateAfter ?? 3,
      windowHours: raw.incidents?.windowHours ?? 24,
    },
    recover: {
      healthTimeoutMs: raw.recover?.healthTimeoutMs ?? 60_000,
      verifyTimeoutMs: raw.recover?.verifyTimeoutMs ?? 5000,
      quotaWaitMaxS: raw.recover?.quotaWaitMaxS ?? 120,
      pullMissing: raw.recover?.pullMissing ?? false,
    },
    check: {
      autoRecover: raw.check?.autoRecover ?? false,
      confirmDelayMs: raw.check?.confirmDelayMs ?? 1000,
      confirmProbes: raw.check?.confirmProbes ?? 1,
      recoverBudgetMs: raw.check?.recoverBudgetMs ?? 120_000,
    },
    cascade: {
      failover: raw.cascade?.failover ?? true,
      maxAttempts: raw.cascade?.maxAttempts ?? 6,
      initialBackoffMs: raw.cascade?.initialBackoffMs ?? 1000,
      maxBackoffMs: raw.cascade?.maxBackoffMs ?? 30_000,
      multiplier: raw.cascade?.multiplier ?? 2,
      jitter: raw.cascade?.jitter ?? true,
      deadlineMs: raw.cascade?.deadlineMs ?? 60_000,
      requestTimeoutMs: raw.cascade?.requestTimeoutMs ?? 30_000,
      failureThreshold: raw.cascade?.failureThreshold ?? 3,
      recoveryMs: raw.cascade?.recoveryMs ?? 120_000,
      maxRecoveryMs: raw.cascade?.maxRecoveryMs ?? 1_800_000,
    },
    routing: {
      strategy: raw.routing?.strategy ?? raw.cascade?.strategy ?? 'priority',
      latencyMargin: raw.routing?.latencyMargin ?? 0.1,
      groups: raw.routing?.groups ?? {},
    },
    serve: {
      apiKeys: raw.serve?.apiKeys ?? [],
      ...(raw.serve?.apiKeysEnv !== undefined && { apiKeysEnv: raw.serve.apiKeysEnv }),
      protect: raw.serve?.protect ?? 'management',
    },
    alerts: {
      webhooks: (raw.alerts?.webhooks ?? []).map((w) => ({
        url: w.url,
        format: w.format ?? 'generic',
        timeoutMs: w.timeoutMs ?? 5000,
        retries: w.retries ?? 2,
        ...(w.headers && { headers: w.headers }),
        ...(w.remindEveryMinutes !== undefined && { remindEveryMinutes: w.remindEveryMinutes }),
      })),
    },
    maintenance: raw.maintenance ?? [],
  };
}

function hostOf(host: string | undefined, ...urls: (string | undefined)[]): string | undefined {
  if (host) return host;
  for (const u of urls) {
    if (u) return new URL(u).hostname.replace(/^\[(.*)\]$/, '$1');
  }
  return undefined;
}

/** `['nodes', 2, 'url']` -> `nodes[2].url` */
export function formatPath(p: readonly PropertyKey[]): string {
  if (p.length === 0) return '(top level)';
  return p.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)), '');
}

function describeIssue(issue: core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  }
  const input = (issue as { input?: unknown }).input;
  if (issue.code === 'invalid_type' && input === undefined) return `missing; ${issue.message}`;
  if (input === undefined || typeof input === 'object') return issue.message;
  return `${issue.message}, got ${JSON.stringify(input)}`;
}

/** Maps a field path to its line in the source (a missing field points at its parent). */
async function lineLocator(text: string): Promise<(p: readonly PropertyKey[]) => number | undefined> {
  const mod = await import('yaml');
  // A bundled CommonJS module imported dynamically arrives as its `default` export.
  const { LineCounter, parseDocument, isNode } = (mod as { default?: typeof mod.default }).default ?? mod;
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  return (p) => {
    for (let n = p.length; n >= 0; n--) {
      const node: unknown = doc.getIn(p.slice(0, n) as (string | number)[], true);
      if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
    }
    return undefined;
  };
}

/**
 * Config in stages: find the file, read it, parse YAML (JSON is YAML too), validate
 * against the schema, apply defaults. Every error names the file, the line where we can, the
 * field path and what was expected.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { load as loadYaml, CORE_SCHEMA, YAMLException } from 'js-yaml';
import type { core } from 'zod';
import { nearest } from '../system/text.js';
import { ConfigError } from '../errors.js';
import { configJsonSchema, configSchema, type Config } from './schema.js';

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

/** The places a config is looked for, in order (docs/configuration.md). */
function configCandidates({ flag, env = process.env, cwd = process.cwd(), home = homedir() }: LocateOptions): ConfigSource[] {
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
    const known = knownKeys();
    // One message per problem (an unknown key each on its own line, with the known key it is
    // nearest to), in the file's order: the first line to fix comes first.
    const problems = result.error.issues.flatMap((issue): { line: number | undefined; text: string }[] => {
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((key) => {
          const near = nearest(key, known(issue.path));
          return { line: lineOf([...issue.path, key]) ?? lineOf(issue.path), text: `${formatPath(issue.path)}: unknown field "${key}"${near ? `; did you mean "${near}"?` : ''}` };
        });
      }
      return [{ line: lineOf(issue.path), text: `${formatPath(issue.path)}: ${describeIssue(issue)}` }];
    });
    problems.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
    const messages = problems.slice(0, 10).map((p) => `  ${p.line ? `line ${p.line}: ` : ''}${p.text}`);
    const more = problems.length > 10 ? [`  ... and ${problems.length - 10} more`] : [];
    throw new ConfigError([`invalid config ${file}:`, ...messages, ...more].join('\n'));
  }
  return { ...result.data, path: file };
}

/** `['nodes', 2, 'url']` -> `nodes[2].url` */
export function formatPath(p: readonly PropertyKey[]): string {
  if (p.length === 0) return '(top level)';
  return p.reduce<string>((acc, key) => (typeof key === 'number' ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)), '');
}

function describeIssue(issue: core.$ZodIssue): string {
  const input = (issue as { input?: unknown }).input;
  if (issue.code === 'invalid_type' && input === undefined) return `missing; ${issue.message}`;
  if (input === undefined || typeof input === 'object') return issue.message;
  return `${issue.message}, got ${JSON.stringify(input)}`;
}

/**
 * The fields the config allows at a path (for "did you mean"), read from its JSON Schema (made
 * once, on the first bad config): objects' properties, through arrays' items and unions.
 */
function knownKeys(): (p: readonly PropertyKey[]) => string[] {
  type Schema = { properties?: Record<string, Schema>; items?: Schema; anyOf?: Schema[]; oneOf?: Schema[]; additionalProperties?: Schema | boolean };
  const root = configJsonSchema() as Schema;
  const alternatives = (s: Schema): Schema[] => [s, ...(s.anyOf ?? []).flatMap(alternatives), ...(s.oneOf ?? []).flatMap(alternatives)];
  return (p) => {
    let at: Schema[] = [root];
    for (const key of p) {
      at = at.flatMap(alternatives).flatMap((s) => (typeof key === 'number' ? (s.items ? [s.items] : []) : [s.properties?.[String(key)], typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined].filter((x): x is Schema => x !== undefined)));
    }
    return [...new Set(at.flatMap(alternatives).flatMap((s) => Object.keys(s.properties ?? {})))];
  };
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

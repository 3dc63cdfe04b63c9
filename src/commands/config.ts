/**
 * `jarvis config check [FILE]` validates a config without touching any node (like `promtool check
 * config`); `jarvis config schema` prints the config's JSON Schema, made from the zod schema, for
 * editors (yaml-language-server) to complete and check the file.
 */
import { z } from 'zod';
import { loadConfig } from '../config/load.js';
import { configSchema } from '../config/schema.js';

export interface ConfigCheckResult {
  path: string;
  nodes: number;
  tasks: number;
  ok: true;
}

/** Loads and validates; a bad config throws the same ConfigError every command would (exit 3). */
export async function runConfigCheck(options: { file?: string }): Promise<ConfigCheckResult> {
  const config = await loadConfig(options.file ? { flag: options.file } : {});
  return { path: config.path, nodes: config.nodes.length, tasks: Object.keys(config.tasks).length, ok: true };
}

/** The JSON Schema of the config file (draft 2020-12), with what the schema's comments say. */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...schema, title: 'jarvis config', description: 'The jarvis cluster config (jarvis.config.yaml): nodes, tasks, cascade, routing, serve, alerts.' };
}

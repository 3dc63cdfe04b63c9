/**
 * `jarvis config check [FILE]` validates a config without touching any node (like `promtool check
 * config`); `jarvis config schema` prints the config's JSON Schema (config/schema.ts
 * `configJsonSchema`) for editors (yaml-language-server) to complete and check the file.
 */
import { loadConfig } from '../config/load.js';

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


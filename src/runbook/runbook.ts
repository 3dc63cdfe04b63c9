/**
 * Loads the runbook data (runbooks/failover.yaml) and checks its shape, so that a bad edit to the
 * runbook is a clear error rather than a wrong diagnosis.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { load as loadYaml, CORE_SCHEMA } from 'js-yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { NODE_KINDS } from '../config/schema.js';
import { PROBE_STATUSES } from '../probe/classify.js';
import { PACKAGE_ROOT } from '../system/paths.js';
import { FACT_VALUES } from './evidence/evidence.js';
import { LOG_KINDS } from './evidence/logs.js';

const actions = z.union([z.array(z.string()), z.record(z.string(), z.array(z.string()))]);

const rule = z.strictObject({
  name: z.string(),
  when: z.strictObject({
    status: z.array(z.enum(PROBE_STATUSES)).optional(),
    host: z.enum(['up', 'down', 'unknown']).optional(),
    httpStatus: z.array(z.union([z.number().int(), z.string().regex(/^[1-5]xx$/)])).optional(),
    throttled: z.boolean().optional(),
    impact: z.enum(['low', 'normal']).optional(),
    kind: z.array(z.enum(NODE_KINDS)).optional(),
    // Evidence (runbook/evidence/): each lists the values that match; `unknown` where nothing could be told.
    gpu: z.array(z.enum(FACT_VALUES.gpu)).optional(),
    queue: z.array(z.enum(FACT_VALUES.queue)).optional(),
    offload: z.array(z.enum(FACT_VALUES.offload)).optional(),
    loaded: z.array(z.enum(FACT_VALUES.loaded)).optional(),
    progress: z.array(z.enum(FACT_VALUES.progress)).optional(),
    process: z.array(z.enum(FACT_VALUES.process)).optional(),
    /** Matches when the log's last lines report any of these. */
    log: z.array(z.enum(LOG_KINDS)).optional(),
  }),
  cause: z.string(),
  meaning: z.string(),
  severity: z.enum(['ok', 'warning', 'critical']),
  // hold: working but overloaded, not restarted (--force does); restart_hung: restarted with
  // --force or when the config's recover.restartHung allows it.
  recovery: z.enum(['none', 'restart', 'wait', 'load_model', 'investigate', 'hold', 'restart_hung']),
  actions,
});

const kindFacts = z.strictObject({
  process: z.string().optional(),
  /** Program names of this kind's servers: a process of one of these names holding the node's port is the node's server. */
  servers: z.array(z.string()).optional(),
  processWindows: z.string().optional(),
  status: z.array(z.string()).optional(),
  restart: z.array(z.string()).optional(),
  restartMode: z.enum(['spawn', 'run']).optional(),
  stop: z.array(z.string()).optional(),
  stopRemote: z.array(z.string()).optional(),
  systemd: z.array(z.string()).optional(),
  loadModel: z.array(z.string()).optional(),
  logs: z.string().optional(),
});

const runbookSchema = z.strictObject({
  rules: z.array(rule).min(1),
  kinds: z.partialRecord(z.enum(NODE_KINDS), kindFacts),
});

export type Runbook = z.infer<typeof runbookSchema>;
export type RunbookRule = z.infer<typeof rule>;
export type KindFacts = z.infer<typeof kindFacts>;

/** Where the shipped runbook lives (next to dist/, in the package). */
export const RUNBOOK_PATH = path.join(PACKAGE_ROOT, 'runbooks', 'failover.yaml');

export async function loadRunbook(file: string = RUNBOOK_PATH): Promise<Runbook> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the runbook ${file}: ${(error as Error).message}`, { cause: error });
  }
  return parseRunbook(text, file);
}

export function parseRunbook(text: string, file: string): Runbook {
  let data: unknown;
  try {
    data = loadYaml(text, { schema: CORE_SCHEMA, filename: file });
  } catch (error) {
    throw new ConfigError(`${file}: not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const result = runbookSchema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(`invalid runbook ${file}: ${issue.path.join('.')}: ${issue.message}`);
  }
  return result.data;
}

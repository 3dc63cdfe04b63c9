/** `jarvis init`: write the runbook's cluster as a commented config to edit. */
import { constants } from 'node:fs';
import { writeFile, access } from 'node:fs/promises';
import path from 'node:path';
import { JarvisError, ExitCode } from '../errors.js';
import { INIT_TEMPLATE } from '../config/template.js';

export interface InitResult {
  path: string;
  nodes: number;
  overwritten: boolean;
  /** The JSON Schema written beside it, which the config's modeline names for editors. */
  schema: string;
}

const SCHEMA_FILE = 'jarvis.schema.json';

export async function runInit({ file, force, cwd = process.cwd() }: { file: string; force: boolean; cwd?: string }): Promise<InitResult> {
  const target = path.resolve(cwd, file);
  const exists = await access(target, constants.F_OK).then(
    () => true,
    () => false,
  );
  if (exists && !force) {
    throw new JarvisError(`${target} already exists; not overwriting it (use --force to replace it)`, ExitCode.config);
  }
  try {
    // 'wx' closes the race between the check above and the write when not forcing.
    await writeFile(target, `# yaml-language-server: $schema=./${SCHEMA_FILE}\n${INIT_TEMPLATE}`, { flag: force ? 'w' : 'wx' });
  } catch (error) {
    throw new JarvisError(`cannot write ${target}: ${(error as Error).message}`, ExitCode.config, { cause: error });
  }
  // Editors with the YAML language server complete and check the file against it.
  const schema = path.join(path.dirname(target), SCHEMA_FILE);
  const { configJsonSchema } = await import('../config/schema.js');
  await writeFile(schema, `${JSON.stringify(configJsonSchema(), null, 2)}\n`).catch((error: unknown) => {
    throw new JarvisError(`cannot write ${schema}: ${(error as Error).message}`, ExitCode.config, { cause: error });
  });
  return { path: target, nodes: (INIT_TEMPLATE.match(/^ {2}- id: /gm) ?? []).length, overwritten: exists, schema };
}

/** `jarvis config`, `init`, `completion` and `demo`: setting jarvis up, and seeing it work. */
import { UsageError } from '../../errors.js';
import type { Command } from 'commander';
import type { CommandSpec } from '../../commands/completion.js';
import type { CliCommand } from '../table.js';

const configCheck: CliCommand = {
  name: 'check',
  description: 'validate a config without touching any node (exit 0 valid, 3 invalid, with file, line and field)',
  examples: ["jarvis config check", "jarvis config check ./other.yaml"],
  args: [{ name: '[file]', description: 'the config file (else the usual lookup)' }],
  run: async ({ args, context, globals }) => {
    const [file] = args as [string | undefined];
    const ctx = await context();
    const flag = file ?? globals.config;
    const [{ runConfigCheck }, { show }] = await Promise.all([import('../../commands/config.js'), import('../../ui/output.js')]);
    show(ctx.out, await runConfigCheck({ ...(flag && { file: flag }) }), (r) => `${r.path}: valid (${r.nodes} node${r.nodes === 1 ? '' : 's'}, ${r.tasks} task${r.tasks === 1 ? '' : 's'})`);
  },
};

const configSchema: CliCommand = {
  name: 'schema',
  description: 'print the JSON Schema of the config (jarvis config schema > jarvis.schema.json)',
  examples: ["jarvis config schema > jarvis.schema.json"],
  run: async () => {
    const [{ configJsonSchema }, { printJson }] = await Promise.all([import('../../config/schema.js'), import('../../ui/output.js')]);
    printJson(configJsonSchema());
  },
};

export const config: CliCommand = {
  name: 'config',
  description: 'the config file: validate it, or print its JSON Schema for editors',
  examples: ["jarvis config check", "jarvis config schema > jarvis.schema.json"],
  subcommands: [configCheck, configSchema],
};

export const completion: CliCommand<{ nodes?: boolean }> = {
  name: 'completion',
  description: 'print a shell completion script: eval "$(jarvis completion bash)"; zsh and fish too',
  examples: ["eval \"$(jarvis completion bash)\"", "jarvis completion zsh > ~/.zfunc/_jarvis"],
  args: [{ name: '[shell]', description: 'bash, zsh or fish', default: 'bash' }],
  flags: [{ flags: '--nodes', description: 'print the node ids of the config in use, one a line (what the scripts complete)' }],
  run: async ({ args, opts, context, program, commands }) => {
    const [shell] = args as [string];
    if (opts.nodes) {
      // Quiet on any problem: a completion must not print errors into the user's prompt.
      const ctx = await context();
      const ids = await ctx
        .config()
        .then((c) => c.nodes.map((n) => n.id))
        .catch(() => []);
      if (ids.length > 0) process.stdout.write(`${ids.join('\n')}\n`);
      return;
    }
    const { completionScript, SHELLS } = await import('../../commands/completion.js');
    if (!(SHELLS as readonly string[]).includes(shell)) throw new UsageError(`completion: expected one of ${SHELLS.join(', ')}, got "${shell}"`);
    // From the program as commander built it (every flag), and the table (what takes a node).
    const spec = (c: Command, table: readonly CliCommand[] | undefined): CommandSpec => {
      const t = table?.find((x) => x.name === c.name());
      const choices = t?.name === 'completion' ? [...SHELLS] : undefined;
      return {
        name: c.name(),
        description: c.description(),
        options: c.options.map((o) => o.long).filter((l): l is string => Boolean(l)),
        valueFlags: c.options.filter((o) => o.required || o.optional).flatMap((o) => [o.long, o.short].filter((f): f is string => Boolean(f))),
        takesNode: Boolean(t?.takesNode),
        ...(choices && { words: choices }),
        ...(c.commands.length > 0 && { subcommands: c.commands.map((sub) => spec(sub, t?.subcommands)) }),
      };
    };
    const specs = program.commands.filter((c) => c.name() !== 'help').map((c) => spec(c, commands));
    const globalFlags = program.options.map((o) => o.long).filter((l): l is string => Boolean(l));
    process.stdout.write(completionScript(shell as (typeof SHELLS)[number], specs, globalFlags));
  },
};

export const init: CliCommand<{ force?: boolean; output: string }> = {
  name: 'init',
  description: "write ./jarvis.config.yaml with the runbook's six-node cluster, to edit",
  examples: ["jarvis init", "jarvis init --output ~/.config/jarvis/config.yaml"],
  flags: [
    { flags: '-f, --force', description: 'overwrite an existing file' },
    { flags: '-o, --output <file>', description: 'where to write it', default: 'jarvis.config.yaml' },
  ],
  run: async ({ opts, context }) => {
    const ctx = await context();
    const [{ runInit }, { show }] = await Promise.all([import('../../commands/init.js'), import('../../ui/output.js')]);
    show(ctx.out, await runInit({ file: opts.output, force: Boolean(opts.force) }), (r) =>
      [`${r.overwritten ? 'Overwrote' : 'Wrote'} ${r.path} (the runbook's ${r.nodes} nodes).`, 'Edit the addresses and models for your machines, then run `jarvis status`.'].join('\n'),
    );
  },
};

export const demo: CliCommand<{ keep?: boolean }> = {
  name: 'demo',
  description: 'run jarvis on a simulated copy of the runbook cluster (loopback only), then clean up',
  examples: ["jarvis demo", "jarvis demo --keep"],
  flags: [{ flags: '--keep', description: 'keep the temp config and data dir' }],
  run: async ({ opts, context, exit }) => {
    const ctx = await context();
    const { runDemo } = await import('../../commands/demo/index.js');
    exit(await runDemo({ keep: Boolean(opts.keep), color: ctx.out.color.level > 0, print: ctx.out.out, signal: ctx.signal }));
  },
};

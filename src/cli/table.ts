/**
 * The CLI as a table: each command declares its arguments, flags and run in its own file
 * (./commands/<name>.ts, beside commands/<name>.ts that does the work and ui/<name>.ts that shows
 * it), and `register` turns a declaration into a commander command. A run gets its context only
 * when it asks (so `--help` and `completion` open nothing) and says its exit code through `exit`.
 */
import { Argument, Option, type Command } from 'commander';
import type { CommandContext } from '../commands/context.js';
import type { GlobalOptions, ProcessParts } from './context.js';

interface Flag {
  /** Commander's flag syntax: `-s, --since <when>`, `--no-wait`. */
  flags: string;
  description: string;
  default?: string | boolean;
  /** Left out of --help (kept for older scripts and unit files). */
  hidden?: boolean;
  required?: boolean;
  /** A repeatable option's fold (see options.ts's `collect`). */
  repeat?: (value: string, previous: string[]) => string[];
}

interface Run<O> {
  /** The positional arguments, as commander parsed them (a variadic one is a list). */
  args: unknown[];
  opts: O;
  /** This run's context (config, data dir, records, doors), made on first call. */
  context: () => Promise<CommandContext>;
  exit: (code: number) => void;
  /** The global flags (--config, --data-dir, --json, --no-color), wherever they were written. */
  globals: GlobalOptions;
  proc: ProcessParts;
  /** The whole program and its table (for completion, which lists every command). */
  program: Command;
  commands: readonly CliCommand[];
}

export interface CliCommand<O = Record<string, unknown>> {
  name: string;
  description: string;
  /** `<node>`, `[prompt...]`, with a description and an optional default. */
  args?: { name: string; description: string; default?: string }[];
  flags?: Flag[];
  /** Its argument is a node id (completion offers the config's). */
  takesNode?: boolean;
  /** Two or three command lines that show it at work, ending its --help. */
  examples?: string[];
  /** Lines after the examples (a file to write, say). */
  notes?: string[];
  /** Method syntax on purpose: a command with its own flags type fits the table of all. */
  run?(this: void, r: Run<O>): Promise<void>;
  subcommands?: CliCommand[];
}

/** What `register` needs from the program: how to make a context, where exit codes go. */
export interface Registry {
  context: (cmd: Command) => Promise<CommandContext>;
  exit: (code: number) => void;
  proc: ProcessParts;
  program: Command;
  commands: readonly CliCommand[];
}

export function register(parent: Command, spec: CliCommand, registry: Registry): Command {
  const cmd = parent.command(spec.name).description(spec.description);
  for (const a of spec.args ?? []) {
    const argument = new Argument(a.name, a.description);
    // Shown as written (`default: bash`), not as a JSON string.
    if (a.default !== undefined) argument.default(a.default, a.default);
    cmd.addArgument(argument);
  }
  for (const f of spec.flags ?? []) {
    const option = new Option(f.flags, f.description);
    if (f.default !== undefined) option.default(f.default, typeof f.default === 'string' ? f.default : undefined);
    if (f.hidden) option.hideHelp();
    if (f.required) option.makeOptionMandatory();
    if (f.repeat) option.argParser(f.repeat);
    cmd.addOption(option);
  }
  const run = spec.run;
  if (run) {
    cmd.action(async (...parsed: unknown[]) => {
      const self = parsed.at(-1) as Command;
      let made: Promise<CommandContext> | undefined;
      await run({ args: parsed.slice(0, -2), opts: self.opts(), globals: self.optsWithGlobals<GlobalOptions>(), context: () => (made ??= registry.context(self)), exit: registry.exit, proc: registry.proc, program: registry.program, commands: registry.commands });
    });
  }
  const examples = spec.examples ?? [];
  const after = [...(examples.length > 0 ? ['', 'Examples:', ...examples.map((e) => `  $ ${e}`)] : []), ...(spec.notes ? ['', ...spec.notes] : []), '', 'Global options (--config, --data-dir, --json, --no-color): see jarvis --help.'];
  cmd.addHelpText('after', after.join('\n'));
  for (const sub of spec.subcommands ?? []) register(cmd, sub, registry);
  return cmd;
}

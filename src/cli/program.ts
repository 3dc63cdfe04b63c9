/**
 * The commander program: the global flags, then every command of the table (./commands/, one
 * declaration per command, registered by ./table.ts). A command's modules are imported when it
 * runs, so `jarvis --help` stays fast; the contexts the run opened are closed at its end.
 */
import { Command } from 'commander';
import { ExitCode } from '../errors.js';
import type { CommandContext } from '../commands/context.js';
import { PACKAGE_VERSION } from '../system/paths.js';
import { reportFor } from './exit.js';
import type { GlobalOptions, ProcessParts } from './context.js';
import { register, type CliCommand, type Registry } from './table.js';
import { ask } from './commands/ask.js';
import { health, reset } from './commands/health.js';
import { incidents } from './commands/incidents.js';
import { check, diagnose, recover } from './commands/recover.js';
import { serve } from './commands/serve.js';
import { completion, config, demo, init } from './commands/setup.js';
import { mcp, skill } from './commands/mcp.js';
import { sim } from './commands/sim.js';
import { report, status, watch } from './commands/status.js';


/** What a run of the program ends with, and the contexts its commands opened (closed at the end). */
interface RunState {
  code: number;
  contexts?: CommandContext[];
}

/** Every command, in the order --help lists them. */
const COMMANDS: readonly CliCommand[] = [status, watch, report, diagnose, recover, check, incidents, ask, serve, mcp, health, reset, config, completion, init, skill, demo, sim];

export function buildProgram(proc: ProcessParts, state: RunState = { code: 0 }): Command {
  const program = new Command('jarvis')
    .description('Operations CLI for self-hosted LLM clusters: runs the failover runbook (detect, diagnose, recover, verify, record).')
    .version(PACKAGE_VERSION, '-V, --version')
    .option('-c, --config <file>', 'config file (else $JARVIS_CONFIG, ./jarvis.config.yaml, ~/.config/jarvis/config.yaml)')
    .option('-d, --data-dir <dir>', 'data directory (else $JARVIS_DATA_DIR, else ./data)')
    .option('--json', 'machine-readable output on stdout, nothing else there', false)
    .option('--no-color', 'no colours (NO_COLOR is honoured too)')
    .showHelpAfterError('(run jarvis --help for usage)')
    .exitOverride();
  const registry: Registry = {
    context: async (cmd) => {
      const { createContext } = await import('./context.js');
      const made = createContext(cmd.optsWithGlobals<GlobalOptions>(), proc);
      (state.contexts ??= []).push(made);
      return made;
    },
    exit: (code) => void (state.code = code),
    proc,
    program,
    commands: COMMANDS,
  };
  for (const command of COMMANDS) register(program, command, registry);
  return program;
}

/**
 * Runs the program on `proc.argv` and returns the exit code; errors are reported here (exit.ts).
 * `interrupted` says how many times Ctrl-C / SIGTERM came.
 */
export async function runCli(proc: ProcessParts & { interrupted: () => number }): Promise<number> {
  const state: RunState = { code: ExitCode.ok };
  try {
    await buildProgram(proc, state).parseAsync([...proc.argv]);
    // sim, serve and mcp stop on a signal by design: that is their normal end.
    return proc.interrupted() && !['sim', 'serve', 'mcp'].some((c) => proc.argv.includes(c)) ? ExitCode.interrupted : state.code;
  } catch (error) {
    const report = reportFor(error, proc.signal.aborted);
    if (report.stdout) process.stdout.write(report.stdout);
    if (report.stderr) process.stderr.write(report.stderr);
    return report.code;
  } finally {
    await Promise.all((state.contexts ?? []).map((c) => c.close().catch(() => undefined)));
  }
}

/**
 * The commander program and nothing else: each command's flags, parsed into options; its action
 * runs the command with a context (./context.ts) and shows the result (ui/). Modules are imported
 * when their command runs, so `jarvis --help` stays fast.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { ExitCode, isJarvisError, UsageError } from '../errors.js';
import type { CommandContext } from '../commands/context.js';
import { PACKAGE_ROOT } from '../system/paths.js';
import { reportFor, NagiosUnknown } from './exit.js';
import type { GlobalOptions, ProcessParts } from './context.js';
import { collect, readToolsFile, wholeNumber } from './options.js';

const version = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** What a run of the program ends with. */
interface RunState {
  code: number;
}

export function buildProgram(proc: ProcessParts, state: RunState = { code: 0 }): Command {
  const context = async (cmd: Command): Promise<CommandContext> => {
    const { createContext } = await import('./context.js');
    return createContext(cmd.optsWithGlobals<GlobalOptions>(), proc);
  };
  const exit = (code: number) => void (state.code = code);

  const program = new Command('jarvis')
    .description('Operations CLI for self-hosted LLM clusters: runs the failover runbook (detect, diagnose, recover, verify, record).')
    .version(version, '-V, --version')
    .option('-c, --config <file>', 'config file (else $JARVIS_CONFIG, ./jarvis.config.yaml, ~/.config/jarvis/config.yaml)')
    .option('-d, --data-dir <dir>', 'data directory (else $JARVIS_DATA_DIR, else ./data)')
    .option('--json', 'machine-readable output on stdout, nothing else there', false)
    .option('--no-color', 'no colours (NO_COLOR is honoured too)')
    .showHelpAfterError('(run jarvis --help for usage)')
    .configureHelp({ showGlobalOptions: true })
    .exitOverride();

  program
    .command('status')
    .description('probe every node at once and show what is up (exit 0 all ok, 1 otherwise)')
    .option('-v, --evidence', "also read each node's GPU and loaded models (within evidence.timeoutMs)")
    .action(async (opts: { evidence?: boolean }, cmd: Command) => {
      const ctx = await context(cmd);
      const [{ runStatus }, { renderStatus }, { show }] = await Promise.all([import('../commands/status.js'), import('../ui/status.js'), import('../ui/output.js')]);
      const result = await runStatus(ctx, { evidence: Boolean(opts.evidence) });
      show(ctx.out, result, renderStatus);
      exit(result.summary.failing === 0 ? ExitCode.ok : ExitCode.unhealthy);
    });

  program
    .command('watch')
    .description('the cluster live in the terminal: status, latency, last probes, breakers, serve\'s load, last incidents (q quits)')
    .addOption(new Option('-i, --interval <ms>', 'refresh every').default('2000'))
    .option('--serve <url>', "a jarvis serve to show in-flight requests and failovers of (default: the one running on the data dir)")
    .action(async (opts: { interval: string; serve?: string }, cmd: Command) => {
      const ctx = await context(cmd);
      const intervalMs = wholeNumber(opts.interval, '--interval', 200);
      const { runWatch } = await import('../commands/watch.js');
      exit(await runWatch({ intervalMs, ...(opts.serve && { serve: opts.serve }) }, ctx));
    });

  program
    .command('report')
    .description('uptime, outages, incidents, time to recovery, latency and worst hour per node, from the probe history')
    .option('-s, --since <when>', 'the window: 24h, 7d, 30d, or a date', '7d')
    .option('--markdown', 'Markdown for a weekly post')
    .action(async (opts: { since: string; markdown?: boolean }, cmd: Command) => {
      const ctx = await context(cmd);
      const [{ runReport }, { renderReport, renderReportMarkdown }, { show, forTerminal }] = await Promise.all([import('../commands/report.js'), import('../ui/report.js'), import('../ui/output.js')]);
      const result = await runReport({ since: opts.since }, ctx);
      if (opts.markdown && !ctx.out.json) ctx.out.out(renderReportMarkdown(forTerminal(result)));
      else show(ctx.out, result, renderReport);
    });

  program
    .command('diagnose')
    .description("probe one node, ping its machine and apply the runbook's diagnosis (exit 0 healthy, 1 not)")
    .argument('<node>', 'node id, e.g. m2 (case-insensitive)')
    .addOption(new Option('--ping-timeout <ms>', 'host ping timeout').default('1000'))
    .action(async (nodeId: string, opts: { pingTimeout: string }, cmd: Command) => {
      const pingTimeoutMs = wholeNumber(opts.pingTimeout, '--ping-timeout', 1, 600_000);
      const ctx = await context(cmd);
      const [{ runDiagnose }, { renderDiagnosis }, { show }] = await Promise.all([import('../commands/diagnose.js'), import('../ui/diagnose.js'), import('../ui/output.js')]);
      const result = await runDiagnose({ nodeId, pingTimeoutMs }, ctx);
      show(ctx.out, result, renderDiagnosis);
      exit(result.node.status === 'ok' ? ExitCode.ok : ExitCode.unhealthy);
    });

  program
    .command('recover')
    .description('run the runbook on one node: diagnose, restart, wait until healthy, verify, record the incident (exit 0 recovered/healthy, 1 not)')
    .argument('<node>', 'node id, e.g. ol1 (case-insensitive)')
    .option('--dry-run', 'assess (read-only) and print the plan; run nothing')
    .option('-f, --force', 'restart even a low-impact node, or a busy one whose process is alive')
    .option('--no-wait', 'do not wait out a quota (429); just record it')
    .action(async (nodeId: string, opts: { dryRun?: boolean; force?: boolean; wait: boolean }, cmd: Command) => {
      const ctx = await context(cmd);
      const [{ runRecover }, ui, { show, forTerminal }] = await Promise.all([import('../commands/recover.js'), import('../ui/recover.js'), import('../ui/output.js')]);
      const reporter = await ui.stepReporter(ctx.out);
      const result = await runRecover(
        {
          nodeId,
          force: Boolean(opts.force),
          wait: opts.wait,
          dryRun: Boolean(opts.dryRun),
          onEvent: reporter.onEvent,
          // The plan is shown before its steps run.
          onPlan: (planned) => void (!ctx.out.json && !planned.dryRun && ctx.out.out(`${ui.renderRecoverHeader(forTerminal(planned), ctx.out)}\n`)),
        },
        ctx,
      ).finally(() => reporter.stop());
      show(ctx.out, result, ui.renderRecover);
      exit(result.exitCode);
    });

  program
    .command('check')
    .description('for cron: probe, confirm, recover (with --recover), record, alert; quiet unless something changed; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN')
    .option('-r, --recover', 'run the runbook recovery for confirmed-down nodes (or set check.autoRecover)')
    .option('-v, --verbose', 'a full report, even when nothing changed')
    .option('--nagios', 'one status line with performance data (a monitoring plugin)')
    .action(async (opts: { recover?: boolean; verbose?: boolean; nagios?: boolean }, cmd: Command) => {
      // A monitoring plugin always prints its one line, for a config or data error too.
      const asNagios = (error: unknown): never => {
        if (opts.nagios && isJarvisError(error)) throw new NagiosUnknown(error.message);
        throw error;
      };
      const ctx = await context(cmd);
      const [{ runCheck }, { presentCheck }] = await Promise.all([import('../commands/check.js'), import('../ui/check.js')]);
      const result = await runCheck({ recover: Boolean(opts.recover) }, ctx).catch(asNagios);
      presentCheck(result, ctx.out, { nagios: Boolean(opts.nagios), verbose: Boolean(opts.verbose) });
      exit(result.exitCode);
    });

  const incidentsCmd = program
    .command('incidents')
    .description('the incident log, newest first, with the per-node count over the escalation window')
    .option('-n, --node <id>', 'only this node')
    .option('-s, --since <when>', 'only since: 30m, 24h, 7d, or a date')
    .option('-e, --escalated', 'only escalated incidents')
    .option('-l, --limit <n>', 'at most this many (default 50 in the table, all with --json)')
    .option('--prune', 'remove incidents older than the retention period now')
    .action(async (opts: { node?: string; since?: string; escalated?: boolean; limit?: string; prune?: boolean }, cmd: Command) => {
      const ctx = await context(cmd);
      const limit = opts.limit === undefined ? (ctx.out.json ? undefined : 50) : wholeNumber(opts.limit, '--limit', 1);
      const [{ runIncidents }, { renderIncidents }, { show }] = await Promise.all([import('../commands/incidents.js'), import('../ui/incidents.js'), import('../ui/output.js')]);
      const result = await runIncidents(
        {
          ...(opts.node && { node: opts.node }),
          ...(opts.since && { since: opts.since }),
          escalated: Boolean(opts.escalated),
          ...(limit !== undefined && { limit }),
          prune: Boolean(opts.prune),
        },
        ctx,
      );
      show(ctx.out, result, renderIncidents);
    });
  incidentsCmd
    .command('ack')
    .description('acknowledge an escalated node: `check` may restart it automatically again')
    .argument('<node>', 'node id')
    .action(async (nodeId: string, _opts: unknown, cmd: Command) => {
      const ctx = await context(cmd);
      const [{ runAck }, { renderAck }, { show }] = await Promise.all([import('../commands/incidents.js'), import('../ui/incidents.js'), import('../ui/output.js')]);
      show(ctx.out, await runAck({ nodeId }, ctx), renderAck);
    });

  program
    .command('ask')
    .description('send a prompt through the fallback cascade (retries, backoff, circuit breakers); the answer on stdout')
    .argument('[prompt...]', 'the prompt (else read from stdin)')
    .option('-t, --task <task>', 'a task from the config (code, quick, architecture): its nodes first')
    .option('-n, --node <id>', 'this node first, then its fallbacks, then the cascade')
    .option('-m, --model <name>', 'the nodes serving this model first (its group), then their fallbacks, then the cascade')
    .option('--strict', 'only the named node or model group may answer')
    .option('--tools <file>', 'a JSON file with OpenAI-style tools the model may call')
    .option('-s, --stream', 'print tokens as they arrive')
    .option('--timeout <ms>', 'overall deadline for this request, all attempts included')
    .option('--max-tokens <n>', 'limit the answer length')
    .action(async (words: string[], opts: { task?: string; node?: string; model?: string; strict?: boolean; tools?: string; stream?: boolean; timeout?: string; maxTokens?: string }, cmd: Command) => {
      const deadlineMs = opts.timeout === undefined ? undefined : wholeNumber(opts.timeout, '--timeout', 1);
      const maxTokens = opts.maxTokens === undefined ? undefined : wholeNumber(opts.maxTokens, '--max-tokens', 1);
      const tools = opts.tools === undefined ? undefined : readToolsFile(opts.tools);
      const ctx = await context(cmd);
      const prompt = words.join(' ').trim() || (await ctx.readStdin()).trim();
      if (!prompt) throw new UsageError('no prompt: give it as arguments or on stdin');
      const [{ runAsk }, ui] = await Promise.all([import('../commands/ask.js'), import('../ui/ask.js')]);
      const stream = Boolean(opts.stream) && !ctx.out.json;
      const progress = ui.askProgress(ctx.out, stream);
      const result = await runAsk(
        {
          request: {
            messages: [{ role: 'user', content: prompt }],
            stream,
            ...(opts.task && { task: opts.task }),
            ...(opts.node && { node: opts.node }),
            ...(opts.model && { model: opts.model }),
            ...(opts.strict && { strict: true }),
            ...(maxTokens && { maxTokens }),
            ...(tools && { extra: { tools } }),
          },
          ...(deadlineMs !== undefined && { deadlineMs }),
          onEvent: progress.onEvent,
        },
        ctx,
      ).finally(() => progress.stop());
      ui.presentAsk(result, ctx.out, progress.printedTokens());
      exit(result.ok ? ExitCode.ok : ctx.signal.aborted ? ExitCode.interrupted : ExitCode.unhealthy);
    });

  program
    .command('serve')
    .description('an OpenAI- and Anthropic-compatible failover proxy in front of the cluster (POST /v1/chat/completions, /v1/messages, GET /v1/models)')
    .option('--host <addr>', 'address to bind (loopback unless told otherwise)', '127.0.0.1')
    .option('-p, --port <port>', 'port', '4000')
    .option('--api-key <key>', 'key the management endpoints require (else $JARVIS_API_KEY; with none they answer on a loopback bind only)')
    .option('--body-limit <bytes>', 'largest request body', String(1 << 20))
    .option('--drain <ms>', 'on SIGTERM, how long in-flight requests may finish', '10000')
    .option('--health-interval <ms>', 'background health check interval', '30000')
    .option('--auto-recover', "run the runbook's recovery in the background for nodes whose breaker opens")
    .option('--access-log', 'log every request on stderr (default: failovers and failures only)')
    .option('--low-memory', 'V8 flags for less peak memory under many open streams, at a cost in throughput (docs/proxy.md)')
    .addOption(new Option('--v8-defaults', "V8's default settings: the default now; kept so that older unit files still start").hideHelp())
    .action(async (opts: { host: string; port: string; apiKey?: string; bodyLimit: string; drain: string; healthInterval: string; autoRecover?: boolean; accessLog?: boolean; lowMemory?: boolean; v8Defaults?: boolean }, cmd: Command) => {
      if (opts.lowMemory && opts.v8Defaults) throw new UsageError('--low-memory and --v8-defaults contradict each other: choose one');
      const options = {
        host: opts.host,
        port: wholeNumber(opts.port, '--port', 0, 65535),
        ...(opts.apiKey && { apiKey: opts.apiKey }),
        bodyLimitBytes: wholeNumber(opts.bodyLimit, '--body-limit', 1024, 1 << 30),
        drainMs: wholeNumber(opts.drain, '--drain', 0, 600_000),
        healthIntervalMs: wholeNumber(opts.healthInterval, '--health-interval', 100, 3_600_000),
        autoRecover: Boolean(opts.autoRecover),
        accessLog: Boolean(opts.accessLog),
        lowMemory: Boolean(opts.lowMemory),
      };
      const ctx = await context(cmd);
      const [{ runServe }, ui] = await Promise.all([import('../commands/serve.js'), import('../ui/serve.js')]);
      const result = await runServe(options, ctx, ui.serveEvents(ctx.out, ctx.clock));
      ctx.out.err(ui.renderServeStopped(result));
    });

  program
    .command('health')
    .description("each node's circuit breaker and counts, as the cascade remembers them")
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = await context(cmd);
      const [{ runHealth }, { renderHealthTable }, { show }] = await Promise.all([import('../commands/health.js'), import('../ui/health.js'), import('../ui/output.js')]);
      show(ctx.out, await runHealth(ctx), renderHealthTable);
    });

  program
    .command('reset')
    .description("close a node's circuit breaker and clear its counts (a running jarvis serve follows within a second)")
    .argument('[node]', 'node id')
    .option('-a, --all', 'every node')
    .action(async (nodeId: string | undefined, opts: { all?: boolean }, cmd: Command) => {
      if (!nodeId && !opts.all) throw new UsageError('reset: name a node, or --all');
      if (nodeId && opts.all) throw new UsageError('reset: a node or --all, not both');
      const ctx = await context(cmd);
      const [{ runReset }, { renderReset }, { show }] = await Promise.all([import('../commands/reset.js'), import('../ui/health.js'), import('../ui/output.js')]);
      show(ctx.out, await runReset({ ...(nodeId && { nodeId }) }, ctx), renderReset);
    });

  const configCmd = program.command('config').description('the config file: validate it, or print its JSON Schema for editors');
  configCmd
    .command('check')
    .description('validate a config without touching any node (exit 0 valid, 3 invalid, with file, line and field)')
    .argument('[file]', 'the config file (else the usual lookup)')
    .action(async (file: string | undefined, _opts: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const ctx = await context(cmd);
      const [{ runConfigCheck }, { show }] = await Promise.all([import('../commands/config.js'), import('../ui/output.js')]);
      show(ctx.out, await runConfigCheck({ ...((file ?? g.config) && { file: file ?? g.config }) }), (r) => `${r.path}: valid (${r.nodes} node${r.nodes === 1 ? '' : 's'}, ${r.tasks} task${r.tasks === 1 ? '' : 's'})`);
    });
  configCmd
    .command('schema')
    .description('print the JSON Schema of the config (jarvis config schema > jarvis.schema.json)')
    .action(async () => {
      const [{ configJsonSchema }, { printJson }] = await Promise.all([import('../commands/config.js'), import('../ui/output.js')]);
      printJson(configJsonSchema());
    });

  program
    .command('completion')
    .description('print a shell completion script: eval "$(jarvis completion bash)"; zsh and fish too')
    .argument('[shell]', 'bash, zsh or fish', 'bash')
    .option('--nodes', 'print the node ids of the config in use, one a line (what the scripts complete)')
    .action(async (shell: string, opts: { nodes?: boolean }, cmd: Command) => {
      if (opts.nodes) {
        // Quiet on any problem: a completion must not print errors into the user's prompt.
        const ctx = await context(cmd);
        const ids = await ctx.config().then((c) => c.nodes.map((n) => n.id)).catch(() => []);
        if (ids.length > 0) process.stdout.write(`${ids.join('\n')}\n`);
        return;
      }
      const { completionScript, SHELLS } = await import('../commands/completion.js');
      if (!(SHELLS as readonly string[]).includes(shell)) throw new UsageError(`completion: expected one of ${SHELLS.join(', ')}, got "${shell}"`);
      const specs = program.commands.map((c) => ({
        name: c.name(),
        description: c.description(),
        options: c.options.map((o) => o.long).filter((l): l is string => Boolean(l)),
        takesNode: ['diagnose', 'recover', 'reset'].includes(c.name()),
      }));
      const globalFlags = program.options.map((o) => o.long).filter((l): l is string => Boolean(l));
      process.stdout.write(completionScript(shell as (typeof SHELLS)[number], specs, globalFlags));
    });

  program
    .command('init')
    .description("write ./jarvis.config.yaml with the runbook's six-node cluster, to edit")
    .option('-f, --force', 'overwrite an existing file')
    .option('-o, --output <file>', 'where to write it', 'jarvis.config.yaml')
    .action(async (opts: { force?: boolean; output: string }, cmd: Command) => {
      const ctx = await context(cmd);
      const [{ runInit }, { show }] = await Promise.all([import('../commands/init.js'), import('../ui/output.js')]);
      show(ctx.out, await runInit({ file: opts.output, force: Boolean(opts.force) }), (r) =>
        [`${r.overwritten ? 'Overwrote' : 'Wrote'} ${r.path} (the runbook's ${r.nodes} nodes).`, 'Edit the addresses and models for your machines, then run `jarvis status`.'].join('\n'),
      );
    });

  program
    .command('demo')
    .description('run jarvis on a simulated copy of the runbook cluster (loopback only), then clean up')
    .option('--keep', 'keep the temp config and data dir')
    .action(async (opts: { keep?: boolean }, cmd: Command) => {
      const ctx = await context(cmd);
      const { runDemo } = await import('../commands/demo.js');
      exit(await runDemo({ keep: Boolean(opts.keep), color: ctx.out.color.level > 0, print: ctx.out.out, signal: ctx.signal }));
    });

  const sim = program.command('sim').description('simulated Ollama / LM Studio / OpenAI-style nodes on loopback, with faults');
  sim
    .command('node')
    .description('run one simulated node until stopped; prints a JSON line when ready')
    .requiredOption('-k, --kind <kind>', 'ollama | lmstudio | openai')
    .option('--id <id>', 'node id (default: the kind)')
    .option('-p, --port <port>', 'port (0 = any free port)', '0')
    .option('--host <addr>', 'address to bind', '127.0.0.1')
    .option('-m, --model <name>', 'a model it serves (repeat or comma-separate; the first is the configured one)', collect)
    .option('--fault <fault>', 'start in this fault mode')
    .option('--control-port <port>', 'control server port (0 = any)', '0')
    .option('--exit-with-parent', 'exit when the parent process dies')
    .action(async (opts: { kind: string; id?: string; port: string; host: string; model?: string[]; fault?: string; controlPort: string; exitWithParent?: boolean }) => {
      const { runSim, singleNodeSpec } = await import('../commands/sim.js');
      const spec = singleNodeSpec({ kind: opts.kind, port: opts.port, ...(opts.id && { id: opts.id }), ...(opts.model && { model: opts.model }), ...(opts.fault && { fault: opts.fault }) });
      await runSim({ specs: [spec], host: opts.host, controlPort: wholeNumber(opts.controlPort, '--control-port', 0, 65535), exitWithParent: Boolean(opts.exitWithParent), print: (l) => void process.stdout.write(`${l}\n`), signal: proc.signal });
    });
  sim
    .command('cluster')
    .description('run a simulated cluster (the runbook preset by default) until stopped')
    .option('--preset <name>', '"runbook" (six nodes) or a node count', 'runbook')
    .option('--spec <file>', 'YAML/JSON {nodes: [{id, kind, models, fault?, port?}]}')
    .option('--fault <id=fault>', 'start a node in a fault mode (repeatable)', collect)
    .option('--omit <id>', 'leave a node out: its port stays closed (repeatable)', collect)
    .option('--host <addr>', 'address to bind', '127.0.0.1')
    .option('--config-out <file>', 'write a jarvis config for the cluster here')
    .option('--timeout <ms>', 'timeoutMs written in that config')
    .option('--control-port <port>', 'control server port (0 = any)', '0')
    .option('--exit-with-parent', 'exit when the parent process dies')
    .action(async (opts: { preset: string; spec?: string; fault?: string[]; omit?: string[]; host: string; configOut?: string; timeout?: string; controlPort: string; exitWithParent?: boolean }) => {
      const { runSim, resolveSpecs } = await import('../commands/sim.js');
      const specs = await resolveSpecs({ preset: opts.preset, ...(opts.spec && { spec: opts.spec }), ...(opts.fault && { faults: opts.fault }), ...(opts.omit && { omit: opts.omit }) });
      await runSim({
        specs,
        host: opts.host,
        controlPort: wholeNumber(opts.controlPort, '--control-port', 0, 65535),
        ...(opts.configOut && { configOut: opts.configOut }),
        ...(opts.timeout && { timeoutMs: wholeNumber(opts.timeout, '--timeout', 1, 600_000) }),
        exitWithParent: Boolean(opts.exitWithParent),
        print: (l) => void process.stdout.write(`${l}\n`),
        signal: proc.signal,
      });
    });
  sim
    .command('fault')
    .description('switch a running sim node to a fault: up, down, hang, 500, 502, loading, slow:MS, 429[:S], garbage, html, model-missing, reset, cut')
    .argument('<control-url>', 'the control URL the sim printed when ready')
    .argument('<node>', 'node id')
    .argument('<fault>', 'fault mode')
    .action(async (controlUrl: string, node: string, fault: string) => {
      const { sendFault } = await import('../commands/sim.js');
      process.stdout.write(`${await sendFault(controlUrl, node, fault)}\n`);
    });

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
    // sim and serve stop on a signal by design: that is their normal end.
    return proc.interrupted() && !proc.argv.includes('sim') && !proc.argv.includes('serve') ? ExitCode.interrupted : state.code;
  } catch (error) {
    const report = reportFor(error, proc.signal.aborted);
    if (report.stdout) process.stdout.write(report.stdout);
    if (report.stderr) process.stderr.write(report.stderr);
    return report.code;
  }
}

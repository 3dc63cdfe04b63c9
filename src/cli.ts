/**
 * The CLI's wiring and nothing else: commander declares commands and flags, each action
 * lazy-imports its command module (so `jarvis --help` stays fast), and one handler maps errors
 * to messages and exit codes. process.exit is called here only.
 */
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { ExitCode, isJarvisError, UsageError } from './errors.js';
import type { Config } from './config/schema.js';
import type { Output } from './ui/output.js';
import type { CancelSignal } from './cascade/cancel.js';

interface GlobalOptions {
  config?: string;
  dataDir?: string;
  json: boolean;
  color: boolean;
}

// src/cli.ts and dist/cli.js both sit one level below the package root.
const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Aborted on Ctrl-C / SIGTERM so fetches, child processes and spinners stop cleanly. */
const interrupt = new AbortController();
// Every probe listens on it at once (200 nodes is a normal cluster for `status`).
setMaxListeners(0, interrupt.signal);

function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

async function output(g: GlobalOptions): Promise<Output> {
  const { createOutput } = await import('./ui/output.js');
  return createOutput({ json: g.json, color: g.color });
}

async function config(g: GlobalOptions): Promise<Config> {
  const { loadConfig } = await import('./config/load.js');
  return loadConfig({ ...(g.config && { flag: g.config }) });
}

async function probeDeps() {
  const [{ httpRequest }, { runCommand }] = await Promise.all([import('./probe/http.js'), import('./system/process.js')]);
  return { http: httpRequest, run: runCommand, now: () => performance.now(), signal: interrupt.signal };
}

async function wallClock() {
  const { systemClock } = await import('./system/clock.js');
  const clock = systemClock();
  return () => clock.now();
}

function dataDir(g: GlobalOptions): string {
  return path.resolve(g.dataDir ?? process.env.JARVIS_DATA_DIR ?? 'data');
}

/** A sleep that a cancel signal (an AbortSignal or a Cancel) cuts short (rejects with AbortError). */
async function abortableSleep(): Promise<(ms: number, signal?: CancelSignal) => Promise<void>> {
  const [{ setTimeout: sleep }, { toAbortSignal }] = await Promise.all([import('node:timers/promises'), import('./cascade/cancel.js')]);
  return (ms, signal) => sleep(ms, undefined, signal ? { signal: toAbortSignal(signal) } : {});
}

async function executorDeps() {
  const [probe, { spawnDetached }, sleep, { readLogTail }, { stopListeners }] = await Promise.all([probeDeps(), import('./system/process.js'), abortableSleep(), import('./system/logs.js'), import('./system/ports.js')]);
  return { ...probe, spawn: spawnDetached, sleep, readLogTail, stopListeners: (port: number, graceMs: number) => stopListeners(port, graceMs, { run: probe.run, sleep: (ms) => sleep(ms) }), env: process.env };
}

async function runbook() {
  const { loadRunbook } = await import('./runbook/runbook.js');
  return loadRunbook();
}

/** What the user ran, for lock owners ("held by pid 42 … (jarvis recover ol1)"). */
function commandLine(): string {
  return `jarvis ${process.argv.slice(2).join(' ')}`;
}

/** A whole-number option within bounds, or a UsageError naming the flag (exit 2). */
function wholeNumber(value: string, flag: string, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag}: expected a whole number${max === Number.MAX_SAFE_INTEGER ? ` of at least ${min}` : ` from ${min} to ${max}`}, got "${value}"`);
  }
  return n;
}

/** `--tools FILE`: a JSON list of OpenAI-style tools, or a UsageError naming the file. */
function readToolsFile(file: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`--tools ${file}: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0) throw new UsageError(`--tools ${file}: expected a JSON list of tools ([{"type": "function", "function": {...}}])`);
  return parsed;
}

/** `check --nagios` could not check: the plugin's UNKNOWN line on stdout, exit 3. */
class NagiosUnknown extends Error {}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function buildProgram(): Command {
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
    .action(async (_opts: unknown, cmd: Command) => {
      const g = globals(cmd);
      const [out, cfg, deps, wallNow, { runStatus }] = await Promise.all([output(g), config(g), probeDeps(), wallClock(), import('./commands/status.js')]);
      const { startSpinner } = await import('./ui/output.js');
      const spinner = await startSpinner(out, `probing ${cfg.nodes.length} node${cfg.nodes.length === 1 ? '' : 's'}…`);
      const result = await runStatus({ config: cfg, deps, wallNow }).finally(() => spinner.stop());
      if (g.json) printJson(result);
      else {
        const { renderStatus } = await import('./ui/status.js');
        out.out(renderStatus(result, out));
      }
      process.exitCode = result.summary.failing === 0 ? ExitCode.ok : ExitCode.unhealthy;
    });

  program
    .command('diagnose')
    .description("probe one node, ping its machine and apply the runbook's diagnosis (exit 0 healthy, 1 not)")
    .argument('<node>', 'node id, e.g. m2 (case-insensitive)')
    .addOption(new Option('--ping-timeout <ms>', 'host ping timeout').default('1000'))
    .action(async (nodeId: string, opts: { pingTimeout: string }, cmd: Command) => {
      const g = globals(cmd);
      const pingTimeoutMs = wholeNumber(opts.pingTimeout, '--ping-timeout', 1, 600_000);
      const [out, cfg, deps, wallNow, { runDiagnose }, rb] = await Promise.all([output(g), config(g), probeDeps(), wallClock(), import('./commands/diagnose.js'), runbook()]);
      const { startSpinner } = await import('./ui/output.js');
      const spinner = await startSpinner(out, `diagnosing ${nodeId.toLowerCase()}…`);
      const result = await runDiagnose({ config: cfg, runbook: rb, nodeId, deps, wallNow, pingTimeoutMs }).finally(() => spinner.stop());
      if (g.json) printJson(result);
      else {
        const { renderDiagnosis } = await import('./ui/diagnose.js');
        out.out(renderDiagnosis(result, out));
      }
      process.exitCode = result.node.status === 'ok' ? ExitCode.ok : ExitCode.unhealthy;
    });

  program
    .command('recover')
    .description('run the runbook on one node: diagnose, restart, wait until healthy, verify, record the incident (exit 0 recovered/healthy, 1 not)')
    .argument('<node>', 'node id, e.g. ol1 (case-insensitive)')
    .option('--dry-run', 'assess (read-only) and print the plan; run nothing')
    .option('-f, --force', 'restart even a low-impact node, or a busy one whose process is alive')
    .option('--no-wait', 'do not wait out a quota (429); just record it')
    .action(async (nodeId: string, opts: { dryRun?: boolean; force?: boolean; wait: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const [out, cfg, deps, wallNow, { runRecover }, rb, ui] = await Promise.all([
        output(g),
        config(g),
        executorDeps(),
        wallClock(),
        import('./commands/recover.js'),
        runbook(),
        import('./ui/recover.js'),
      ]);
      const reporter = await ui.stepReporter(out);
      const result = await runRecover({
        config: cfg,
        runbook: rb,
        nodeId,
        dataDir: dataDir(g),
        deps,
        wallNow,
        force: Boolean(opts.force),
        wait: opts.wait,
        dryRun: Boolean(opts.dryRun),
        commandLine: commandLine(),
        onEvent: reporter.onEvent,
        onPlan: (planned) => {
          if (!g.json) out.out(`${ui.renderRecoverHeader(planned, out)}\n`);
        },
      }).finally(() => reporter.stop());
      if (g.json) printJson(result);
      else if (result.dryRun) out.out(ui.renderRecoverHeader(result, out));
      else out.out(`\n${ui.renderRecoverOutcome(result, out)}`);
      process.exitCode = result.exitCode;
    });

  program
    .command('check')
    .description('for cron: probe, confirm, recover (with --recover), record, alert; quiet unless something changed; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN')
    .option('-r, --recover', 'run the runbook recovery for confirmed-down nodes (or set check.autoRecover)')
    .option('-v, --verbose', 'a full report, even when nothing changed')
    .option('--nagios', 'one status line with performance data (a monitoring plugin)')
    .action(async (opts: { recover?: boolean; verbose?: boolean; nagios?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      // A monitoring plugin always prints its one line, for a config or data error too.
      const asNagios = (error: unknown): never => {
        if (opts.nagios && isJarvisError(error)) throw new NagiosUnknown(error.message);
        throw error;
      };
      const [out, cfg, deps, wallNow, { runCheck }, rb, ui] = await Promise.all([
        output(g),
        config(g),
        executorDeps(),
        wallClock(),
        import('./commands/check.js'),
        runbook(),
        import('./ui/check.js'),
      ]).catch(asNagios);
      const result = await runCheck({
        config: cfg,
        runbook: rb,
        dataDir: dataDir(g),
        deps,
        wallNow,
        recover: Boolean(opts.recover) || cfg.check.autoRecover,
        commandLine: commandLine(),
      }).catch(asNagios);
      for (const d of result.deliveries.filter((x) => !x.ok)) out.err(`jarvis: webhook ${d.url} failed after ${d.attempts} attempt(s): ${d.error ?? 'unknown error'} (logged in ${result.logFile})`);
      if (g.json) printJson(result);
      else if (opts.nagios) out.out(ui.nagiosLine(result));
      else {
        const text = ui.renderCheck(result, out, Boolean(opts.verbose));
        if (text) out.out(text);
      }
      process.exitCode = result.exitCode;
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
      const g = globals(cmd);
      const limit = opts.limit === undefined ? (g.json ? undefined : 50) : wholeNumber(opts.limit, '--limit', 1);
      const [out, cfg, wallNow, { runIncidents }] = await Promise.all([output(g), config(g), wallClock(), import('./commands/incidents.js')]);
      if (opts.node && !cfg.nodes.some((n) => n.id === opts.node!.toLowerCase())) {
        // Incidents may name nodes since removed from the config: allow them, but say so.
        out.err(`note: ${opts.node} is not in the config (${cfg.nodes.map((n) => n.id).join(', ')})`);
      }
      const result = await runIncidents({
        config: cfg,
        dataDir: dataDir(g),
        wallNow,
        ...(opts.node && { node: opts.node }),
        ...(opts.since && { since: opts.since }),
        escalated: Boolean(opts.escalated),
        ...(limit !== undefined && { limit }),
        prune: Boolean(opts.prune),
      });
      if (g.json) printJson(result);
      else {
        const { renderIncidents } = await import('./ui/incidents.js');
        out.out(renderIncidents(result, out));
      }
    });
  incidentsCmd
    .command('ack')
    .description('acknowledge an escalated node: `check` may restart it automatically again')
    .argument('<node>', 'node id')
    .action(async (nodeId: string, _opts: unknown, cmd: Command) => {
      const g = globals(cmd);
      const [out, cfg, wallNow, { runAck }] = await Promise.all([output(g), config(g), wallClock(), import('./commands/incidents.js')]);
      const result = await runAck({ config: cfg, dataDir: dataDir(g), wallNow, nodeId });
      if (g.json) printJson(result);
      else out.out(`Acknowledged ${result.node} at ${result.at}: its earlier incidents no longer block automatic restarts.`);
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
      const g = globals(cmd);
      const deadlineMs = opts.timeout === undefined ? undefined : wholeNumber(opts.timeout, '--timeout', 1);
      const maxTokens = opts.maxTokens === undefined ? undefined : wholeNumber(opts.maxTokens, '--max-tokens', 1);
      const tools = opts.tools === undefined ? undefined : readToolsFile(opts.tools);
      let prompt = words.join(' ').trim();
      if (!prompt && !process.stdin.isTTY) {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        prompt = Buffer.concat(chunks).toString('utf8').trim();
      }
      if (!prompt) throw new UsageError('no prompt: give it as arguments or on stdin');
      const [out, cfg, wallNow, { runAsk }, ui, transport, sleep] = await Promise.all([
        output(g),
        config(g),
        wallClock(),
        import('./commands/ask.js'),
        import('./ui/ask.js'),
        import('./cascade/transport.js'),
        abortableSleep(),
      ]);
      const progress = ui.askProgress(out, Boolean(opts.stream) && !g.json);
      const result = await runAsk({
        config: cfg,
        dataDir: dataDir(g),
        request: {
          messages: [{ role: 'user', content: prompt }],
          stream: Boolean(opts.stream) && !g.json,
          ...(opts.task && { task: opts.task }),
          ...(opts.node && { node: opts.node }),
          ...(opts.model && { model: opts.model }),
          ...(opts.strict && { strict: true }),
          ...(maxTokens && { maxTokens }),
          ...(tools && { extra: { tools } }),
        },
        ...(deadlineMs !== undefined && { deadlineMs }),
        deps: {
          send: transport.sendChat,
          listModels: transport.listModels,
          now: wallNow,
          sleep,
          random: Math.random,
          signal: interrupt.signal,
          onEvent: progress.onEvent,
        },
      }).finally(() => progress.stop());
      if (g.json) {
        printJson({ node: result.node ?? null, model: result.model ?? null, content: result.content ?? null, ...(result.toolCalls && { toolCalls: result.toolCalls }), ...(result.error && { error: result.error }), durationMs: result.durationMs, attempts: result.attempts });
      } else if (result.ok) {
        if (progress.printedTokens()) process.stdout.write('\n');
        else if (result.content || !result.toolCalls) out.out(result.content ?? '');
        if (result.toolCalls) out.out(ui.renderToolCalls(result.toolCalls, out));
        out.err(out.color.dim(`answered by ${result.node}${result.model ? ` (${result.model})` : ''} in ${Math.round(result.durationMs)} ms, ${result.attempts.filter((a) => a.outcome !== 'skipped').length} attempt(s)`));
      } else {
        if (progress.printedTokens()) process.stdout.write('\n');
        out.err(ui.renderAskFailure(result, out));
      }
      process.exitCode = result.ok ? ExitCode.ok : interrupt.signal.aborted ? ExitCode.interrupted : ExitCode.unhealthy;
    });

  program
    .command('serve')
    .description('an OpenAI-compatible failover proxy in front of the cluster (POST /v1/chat/completions, GET /v1/models)')
    .option('--host <addr>', 'address to bind (loopback unless told otherwise)', '127.0.0.1')
    .option('-p, --port <port>', 'port', '4000')
    .option('--api-key <key>', 'key the management endpoints require (else $JARVIS_API_KEY; with none they answer on a loopback bind only)')
    .option('--body-limit <bytes>', 'largest request body', String(1 << 20))
    .option('--drain <ms>', 'on SIGTERM, how long in-flight requests may finish', '10000')
    .option('--health-interval <ms>', 'background health check interval', '30000')
    .option('--auto-recover', "run the runbook's recovery in the background for nodes whose breaker opens")
    .option('--access-log', 'log every request on stderr (default: failovers and failures only)')
    .option('--v8-defaults', "keep V8's default memory settings (by default serve sets three V8 flags for about 30 % less peak memory under many streams)")
    .action(async (opts: { host: string; port: string; apiKey?: string; bodyLimit: string; drain: string; healthInterval: string; autoRecover?: boolean; accessLog?: boolean; v8Defaults?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const port = wholeNumber(opts.port, '--port', 0, 65535);
      const bodyLimitBytes = wholeNumber(opts.bodyLimit, '--body-limit', 1024, 1 << 30);
      const drainMs = wholeNumber(opts.drain, '--drain', 0, 600_000);
      const healthIntervalMs = wholeNumber(opts.healthInterval, '--health-interval', 100, 3_600_000);
      // Before anything loads the upstream client: see serve/tuning.ts.
      const v8Flags = opts.v8Defaults ? [] : await (await import('./serve/tuning.js')).tuneV8ForServe();
      const [out, cfg, wallNow, { startServer }, transport, sleep, executor, rb] = await Promise.all([
        output(g),
        config(g),
        wallClock(),
        import('./serve/server.js'),
        import('./cascade/transport.js'),
        abortableSleep(),
        executorDeps(),
        runbook(),
      ]);
      const apiKey = opts.apiKey ?? process.env.JARVIS_API_KEY;
      const server = await startServer({
        config: cfg,
        dataDir: dataDir(g),
        host: opts.host,
        port,
        ...(apiKey && { apiKey }),
        bodyLimitBytes,
        runbook: rb,
        executor,
        healthIntervalMs,
        autoRecover: Boolean(opts.autoRecover),
        accessLog: Boolean(opts.accessLog),
        deps: { send: transport.createSender(await transport.undiciRequester()), listModels: transport.listModels, now: wallNow, sleep, random: Math.random },
        log: (line) => out.err(`${new Date(wallNow()).toISOString()} ${line}`),
      });
      // SIGHUP reloads the config: validated first; a bad one keeps the old and says why.
      let reloading = Promise.resolve();
      const onHangup = () => {
        reloading = reloading.then(async () => {
          try {
            const next = await config(g);
            await server.reload(next);
            out.err(`jarvis serve: reloaded ${next.path} (${next.nodes.length} nodes)`);
          } catch (error) {
            out.err(`jarvis serve: config not reloaded, keeping the one in use: ${(error as Error).message}`);
          }
        });
      };
      process.on('SIGHUP', onHangup);
      // One line, so a supervisor or a test can read the address it bound.
      if (g.json) process.stdout.write(`${JSON.stringify({ event: 'listening', url: server.url, pid: process.pid, v8Flags })}\n`);
      else out.err(`jarvis serve: listening on ${server.url} (${cfg.nodes.length} nodes; POST /v1/chat/completions, GET /v1/models)`);
      await new Promise<void>((resolve) => interrupt.signal.addEventListener('abort', () => resolve(), { once: true }));
      process.off('SIGHUP', onHangup);
      await reloading;
      const { drained, inFlight } = await server.close(drainMs);
      out.err(`jarvis serve: stopped${drained ? '' : ` (${inFlight} request(s) cut after ${drainMs} ms)`}; breaker state saved`);
      process.exitCode = 0;
    });

  program
    .command('health')
    .description("each node's circuit breaker and counts, as the cascade remembers them")
    .action(async (_opts: unknown, cmd: Command) => {
      const g = globals(cmd);
      const [out, cfg, wallNow, { runHealth }, ui] = await Promise.all([output(g), config(g), wallClock(), import('./commands/ask.js'), import('./ui/ask.js')]);
      const health = await runHealth({ config: cfg, dataDir: dataDir(g), wallNow });
      if (g.json) printJson(health);
      else out.out(ui.renderHealthTable(health, out));
    });

  program
    .command('reset')
    .description("close a node's circuit breaker and clear its counts (a running jarvis serve follows within a second)")
    .argument('[node]', 'node id')
    .option('-a, --all', 'every node')
    .action(async (nodeId: string | undefined, opts: { all?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      if (!nodeId && !opts.all) throw new UsageError('reset: name a node, or --all');
      if (nodeId && opts.all) throw new UsageError('reset: a node or --all, not both');
      const [out, cfg, wallNow, { runReset }] = await Promise.all([output(g), config(g), wallClock(), import('./commands/ask.js')]);
      const r = await runReset({ config: cfg, dataDir: dataDir(g), wallNow, ...(nodeId && { nodeId }) });
      if (g.json) printJson(r);
      else if (opts.all) out.out(r.nodes.length > 0 ? `Reset ${r.nodes.join(', ')}: breakers closed, counts cleared.` : 'No node had recorded state; nothing to reset.');
      else out.out(r.nodes.length > 0 ? `Reset ${r.node}: breaker closed, counts cleared.` : `${r.node} had no recorded state; nothing to reset.`);
    });

  const configCmd = program.command('config').description('the config file: validate it, or print its JSON Schema for editors');
  configCmd
    .command('check')
    .description('validate a config without touching any node (exit 0 valid, 3 invalid, with file, line and field)')
    .argument('[file]', 'the config file (else the usual lookup)')
    .action(async (file: string | undefined, _opts: unknown, cmd: Command) => {
      const g = globals(cmd);
      const [{ runConfigCheck }, out] = await Promise.all([import('./commands/config.js'), output(g)]);
      const r = await runConfigCheck({ ...((file ?? g.config) && { file: file ?? g.config }) });
      if (g.json) printJson(r);
      else out.out(`${r.path}: valid (${r.nodes} node${r.nodes === 1 ? '' : 's'}, ${r.tasks} task${r.tasks === 1 ? '' : 's'})`);
    });
  configCmd
    .command('schema')
    .description('print the JSON Schema of the config (jarvis config schema > jarvis.schema.json)')
    .action(async () => {
      const { configJsonSchema } = await import('./commands/config.js');
      printJson(configJsonSchema());
    });

  program
    .command('completion')
    .description('print a shell completion script: eval "$(jarvis completion bash)"; zsh and fish too')
    .argument('[shell]', 'bash, zsh or fish', 'bash')
    .option('--nodes', 'print the node ids of the config in use, one a line (what the scripts complete)')
    .action(async (shell: string, opts: { nodes?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      if (opts.nodes) {
        // Quiet on any problem: a completion must not print errors into the user's prompt.
        const ids = await config(g).then((c) => c.nodes.map((n) => n.id)).catch(() => []);
        if (ids.length > 0) process.stdout.write(`${ids.join('\n')}\n`);
        return;
      }
      const { completionScript, SHELLS } = await import('./commands/completion.js');
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
      const g = globals(cmd);
      const { runInit } = await import('./commands/init.js');
      const result = await runInit({ file: opts.output, force: Boolean(opts.force) });
      if (g.json) printJson(result);
      else {
        const out = await output(g);
        out.out(`${result.overwritten ? 'Overwrote' : 'Wrote'} ${result.path} (the runbook's ${result.nodes} nodes).`);
        out.out('Edit the addresses and models for your machines, then run `jarvis status`.');
      }
    });

  program
    .command('demo')
    .description('run jarvis on a simulated copy of the runbook cluster (loopback only), then clean up')
    .option('--keep', 'keep the temp config and data dir')
    .action(async (opts: { keep?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const { runDemo } = await import('./commands/demo.js');
      const out = await output(g);
      process.exitCode = await runDemo({ keep: Boolean(opts.keep), color: out.color.level > 0, print: out.out, signal: interrupt.signal });
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
      const { runSim, singleNodeSpec } = await import('./commands/sim.js');
      const spec = singleNodeSpec({ kind: opts.kind, port: opts.port, ...(opts.id && { id: opts.id }), ...(opts.model && { model: opts.model }), ...(opts.fault && { fault: opts.fault }) });
      await runSim({ specs: [spec], host: opts.host, controlPort: wholeNumber(opts.controlPort, '--control-port', 0, 65535), exitWithParent: Boolean(opts.exitWithParent), print: (l) => void process.stdout.write(`${l}\n`), signal: interrupt.signal });
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
      const { runSim, resolveSpecs } = await import('./commands/sim.js');
      const specs = await resolveSpecs({ preset: opts.preset, ...(opts.spec && { spec: opts.spec }), ...(opts.fault && { faults: opts.fault }), ...(opts.omit && { omit: opts.omit }) });
      await runSim({
        specs,
        host: opts.host,
        controlPort: wholeNumber(opts.controlPort, '--control-port', 0, 65535),
        ...(opts.configOut && { configOut: opts.configOut }),
        ...(opts.timeout && { timeoutMs: wholeNumber(opts.timeout, '--timeout', 1, 600_000) }),
        exitWithParent: Boolean(opts.exitWithParent),
        print: (l) => void process.stdout.write(`${l}\n`),
        signal: interrupt.signal,
      });
    });
  sim
    .command('fault')
    .description('switch a running sim node to a fault: up, down, hang, 500, 502, loading, slow:MS, 429[:S], garbage, html, model-missing, reset, cut')
    .argument('<control-url>', 'the control URL the sim printed when ready')
    .argument('<node>', 'node id')
    .argument('<fault>', 'fault mode')
    .action(async (controlUrl: string, node: string, fault: string) => {
      const { sendFault } = await import('./commands/sim.js');
      process.stdout.write(`${await sendFault(controlUrl, node, fault)}\n`);
    });

  return program;
}

/** Runs the CLI and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  let interrupted = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted++;
    if (interrupted > 1) process.exit(ExitCode.interrupted);
    interrupt.abort(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await program.parseAsync(argv);
    // sim and serve stop on a signal by design: that is their normal end.
    return interrupted && !argv.includes('sim') && !argv.includes('serve') ? ExitCode.interrupted : Number(process.exitCode ?? 0);
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return 0;
      return ExitCode.usage;
    }
    if (error instanceof NagiosUnknown) {
      process.stdout.write(`JARVIS UNKNOWN - ${error.message.split('\n').map((l) => l.trim()).filter(Boolean).join(' ')}\n`);
      return ExitCode.config; // Nagios UNKNOWN
    }
    if (isJarvisError(error)) {
      process.stderr.write(`jarvis: ${error.message}\n`);
      return error.exitCode;
    }
    if ((error as { isLockBusy?: unknown } | null)?.isLockBusy === true) {
      process.stderr.write(`jarvis: a data file is locked by another jarvis process: ${(error as Error).message}\n`);
      return ExitCode.config;
    }
    if (interrupt.signal.aborted) {
      process.stderr.write('jarvis: interrupted\n');
      return ExitCode.interrupted;
    }
    // The bundle is minified; its source maps ship beside it.
    process.stderr.write(`jarvis: internal error: ${(error as Error)?.stack ?? String(error)}\n${process.sourceMapsEnabled ? '' : 'jarvis: NODE_OPTIONS=--enable-source-maps shows source lines in this trace\n'}`);
    return ExitCode.internal;
  }
}

const code = await main(process.argv);
process.exitCode = code;
// Whatever a failed command left open (a socket, a timer) must not keep the process alive: an
// unref'd timer fires only if something else still holds the event loop.
setTimeout(() => process.exit(code), 1000).unref();

/** `jarvis diagnose`, `recover` and `check`: the runbook on one node, and on all of them for cron. */
import { ExitCode, isJarvisError } from '../../errors.js';
import { NagiosUnknown } from '../exit.js';
import { wholeNumber } from '../options.js';
import type { CliCommand } from '../table.js';

export const diagnose: CliCommand<{ pingTimeout: string }> = {
  name: 'diagnose',
  description: "probe one node, ping its machine and apply the runbook's diagnosis (exit 0 healthy, 1 not)",
  examples: ["jarvis diagnose m2", "jarvis diagnose ol1 --json"],
  args: [{ name: '<node>', description: 'node id, e.g. m2 (case-insensitive)' }],
  flags: [{ flags: '--ping-timeout <ms>', description: 'host ping timeout', default: '1000' }],
  takesNode: true,
  run: async ({ args, opts, context, exit }) => {
    const [nodeId] = args as [string];
    const pingTimeoutMs = wholeNumber(opts.pingTimeout, '--ping-timeout', 1, 600_000);
    const ctx = await context();
    const [{ runDiagnose }, { renderDiagnosis }, { show }] = await Promise.all([import('../../commands/diagnose.js'), import('../../ui/diagnose.js'), import('../../ui/output.js')]);
    const result = await runDiagnose({ nodeId, pingTimeoutMs }, ctx);
    show(ctx.out, result, renderDiagnosis);
    exit(result.node.status === 'ok' ? ExitCode.ok : ExitCode.unhealthy);
  },
};

export const recover: CliCommand<{ dryRun?: boolean; force?: boolean; wait: boolean }> = {
  name: 'recover',
  description: 'run the runbook on one node: diagnose, restart, wait until healthy, verify, record the incident (exit 0 recovered/healthy, 1 not)',
  examples: ["jarvis recover ol1", "jarvis recover m2 --dry-run", "jarvis recover m1 --force"],
  args: [{ name: '<node>', description: 'node id, e.g. ol1 (case-insensitive)' }],
  flags: [
    { flags: '--dry-run', description: 'assess (read-only) and print the plan; run nothing' },
    { flags: '-f, --force', description: 'restart even a low-impact node, or a busy one whose process is alive' },
    { flags: '--no-wait', description: 'do not wait out a quota (429); just record it' },
  ],
  takesNode: true,
  run: async ({ args, opts, context, exit }) => {
    const [nodeId] = args as [string];
    const ctx = await context();
    const [{ runRecover }, ui, { show, forTerminal }] = await Promise.all([import('../../commands/recover.js'), import('../../ui/recover.js'), import('../../ui/output.js')]);
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
  },
};

export const check: CliCommand<{ recover?: boolean; verbose?: boolean; nagios?: boolean }> = {
  name: 'check',
  description: 'for cron: probe, confirm, recover (with --recover), record, alert; quiet unless something changed; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN',
  examples: ["jarvis check                  # from cron: quiet unless something changed", "jarvis check --recover --verbose", "jarvis check --nagios"],
  flags: [
    { flags: '-r, --recover', description: 'run the runbook recovery for confirmed-down nodes (or set check.autoRecover)' },
    { flags: '-v, --verbose', description: 'a full report, even when nothing changed' },
    { flags: '--nagios', description: 'one status line with performance data (a monitoring plugin)' },
  ],
  run: async ({ opts, context, exit }) => {
    // A monitoring plugin always prints its one line, for a config or data error too.
    const asNagios = (error: unknown): never => {
      if (opts.nagios && isJarvisError(error)) throw new NagiosUnknown(error.message);
      throw error;
    };
    const ctx = await context();
    const [{ runCheck }, { presentCheck }] = await Promise.all([import('../../commands/check.js'), import('../../ui/check.js')]);
    const result = await runCheck({ recover: Boolean(opts.recover) }, ctx).catch(asNagios);
    presentCheck(result, ctx.out, { nagios: Boolean(opts.nagios), verbose: Boolean(opts.verbose) });
    exit(result.exitCode);
  },
};

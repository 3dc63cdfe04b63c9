/** `jarvis status`, `watch` and `report`: what the cluster looks like now, live, and over a window. */
import { ExitCode } from '../../errors.js';
import { wholeNumber } from '../options.js';
import type { CliCommand } from '../table.js';

export const status: CliCommand<{ evidence?: boolean }> = {
  name: 'status',
  description: 'probe every node at once and show what is up (exit 0 all ok, 1 otherwise)',
  examples: ["jarvis status", "jarvis status --json | jq '.nodes[] | select(.status != \"ok\")'", "jarvis status --evidence"],
  flags: [{ flags: '-v, --evidence', description: "also read each node's GPU and loaded models (within evidence.timeoutMs)" }],
  run: async ({ opts, context, exit }) => {
    const ctx = await context();
    const [{ runStatus }, { renderStatus }, { show }] = await Promise.all([import('../../commands/status.js'), import('../../ui/status.js'), import('../../ui/output.js')]);
    const result = await runStatus(ctx, { evidence: Boolean(opts.evidence) });
    show(ctx.out, result, renderStatus);
    exit(result.summary.failing === 0 ? ExitCode.ok : ExitCode.unhealthy);
  },
};

export const watch: CliCommand<{ interval: string; serve?: string }> = {
  name: 'watch',
  description: "the cluster live in the terminal: status, latency, last probes, breakers, serve's load, last incidents (q quits)",
  examples: ["jarvis watch", "jarvis watch --interval 5000 --serve http://127.0.0.1:4000"],
  flags: [
    { flags: '-i, --interval <ms>', description: 'refresh every', default: '2000' },
    { flags: '--serve <url>', description: 'a jarvis serve to show in-flight requests and failovers of (default: the one running on the data dir)' },
  ],
  run: async ({ opts, context, exit }) => {
    const ctx = await context();
    const intervalMs = wholeNumber(opts.interval, '--interval', 200);
    const { runWatch } = await import('../../commands/watch.js');
    exit(await runWatch({ intervalMs, ...(opts.serve && { serve: opts.serve }) }, ctx));
  },
};

export const report: CliCommand<{ since: string; markdown?: boolean }> = {
  name: 'report',
  description: 'uptime, outages, incidents, time to recovery, latency and worst hour per node, from the probe history',
  examples: ["jarvis report", "jarvis report --since 30d --markdown > uptime.md"],
  flags: [
    { flags: '-s, --since <when>', description: 'the window: 24h, 7d, 30d, or a date', default: '7d' },
    { flags: '--markdown', description: 'Markdown for a weekly post' },
  ],
  run: async ({ opts, context }) => {
    const ctx = await context();
    const [{ runReport }, { renderReport, renderReportMarkdown }, { show, forTerminal }] = await Promise.all([import('../../commands/report.js'), import('../../ui/report.js'), import('../../ui/output.js')]);
    const result = await runReport({ since: opts.since }, ctx);
    if (opts.markdown && !ctx.out.json) ctx.out.out(renderReportMarkdown(forTerminal(result)));
    else show(ctx.out, result, renderReport);
  },
};

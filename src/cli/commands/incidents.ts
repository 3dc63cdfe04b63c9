/** `jarvis incidents` and `incidents ack`: the incident log and the acknowledgement that resets escalation. */
import { wholeNumber } from '../options.js';
import type { CliCommand } from '../table.js';

const ack: CliCommand = {
  name: 'ack',
  description: 'acknowledge an escalated node: `check` may restart it automatically again',
  examples: ["jarvis incidents ack ol1"],
  args: [{ name: '<node>', description: 'node id' }],
  takesNode: true,
  run: async ({ args, context }) => {
    const [nodeId] = args as [string];
    const ctx = await context();
    const [{ runAck }, { renderAck }, { show }] = await Promise.all([import('../../commands/incidents.js'), import('../../ui/incidents.js'), import('../../ui/output.js')]);
    show(ctx.out, await runAck({ nodeId }, ctx), renderAck);
  },
};

export const incidents: CliCommand<{ node?: string; since?: string; escalated?: boolean; limit?: string; prune?: boolean }> = {
  name: 'incidents',
  description: 'the incident log, newest first, with the per-node count over the escalation window',
  examples: ["jarvis incidents", "jarvis incidents --node ol1 --since 7d", "jarvis incidents --escalated --json"],
  flags: [
    { flags: '-n, --node <id>', description: 'only this node' },
    { flags: '-s, --since <when>', description: 'only since: 30m, 24h, 7d, or a date' },
    { flags: '-e, --escalated', description: 'only escalated incidents' },
    { flags: '-l, --limit <n>', description: 'at most this many (default 50 in the table, all with --json)' },
    { flags: '--prune', description: 'remove incidents older than the retention period now' },
  ],
  run: async ({ opts, context }) => {
    const ctx = await context();
    const limit = opts.limit === undefined ? (ctx.out.json ? undefined : 50) : wholeNumber(opts.limit, '--limit', 1);
    const [{ runIncidents }, { renderIncidents }, { show }] = await Promise.all([import('../../commands/incidents.js'), import('../../ui/incidents.js'), import('../../ui/output.js')]);
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
  },
  subcommands: [ack],
};

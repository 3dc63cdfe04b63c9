/** `jarvis health` and `reset`: the breakers and counts the cascade remembers, and clearing them. */
import { UsageError } from '../../errors.js';
import type { CliCommand } from '../table.js';

export const health: CliCommand = {
  name: 'health',
  description: "each node's circuit breaker and counts, as the cascade remembers them",
  examples: ["jarvis health", "jarvis health --json"],
  run: async ({ context }) => {
    const ctx = await context();
    const [{ runHealth }, { renderHealthTable }, { show }] = await Promise.all([import('../../commands/health.js'), import('../../ui/health.js'), import('../../ui/output.js')]);
    show(ctx.out, await runHealth(ctx), renderHealthTable);
  },
};

export const reset: CliCommand<{ all?: boolean }> = {
  name: 'reset',
  description: "close a node's circuit breaker and clear its counts (a running jarvis serve follows within a second)",
  examples: ["jarvis reset m2", "jarvis reset --all"],
  args: [{ name: '[node]', description: 'node id' }],
  flags: [{ flags: '-a, --all', description: 'every node' }],
  takesNode: true,
  run: async ({ args, opts, context }) => {
    const [nodeId] = args as [string | undefined];
    if (!nodeId && !opts.all) throw new UsageError('reset: name a node, or --all');
    if (nodeId && opts.all) throw new UsageError('reset: a node or --all, not both');
    const ctx = await context();
    const [{ runReset }, { renderReset }, { show }] = await Promise.all([import('../../commands/reset.js'), import('../../ui/health.js'), import('../../ui/output.js')]);
    show(ctx.out, await runReset({ ...(nodeId && { nodeId }) }, ctx), renderReset);
  },
};

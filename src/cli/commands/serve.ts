/** `jarvis serve`: the failover proxy. */
import { UsageError } from '../../errors.js';
import { wholeNumber } from '../options.js';
import type { CliCommand } from '../table.js';

type ServeFlags = { host: string; port: string; apiKey?: string; bodyLimit: string; drain: string; healthInterval: string; autoRecover?: boolean; accessLog?: boolean; lowMemory?: boolean; v8Defaults?: boolean };

export const serve: CliCommand<ServeFlags> = {
  name: 'serve',
  description: 'an OpenAI- and Anthropic-compatible failover proxy in front of the cluster (POST /v1/chat/completions, /v1/messages, GET /v1/models)',
  examples: ["jarvis serve", "jarvis serve --auto-recover --port 4000", "OPENAI_BASE_URL=http://127.0.0.1:4000/v1 your-tool"],
  flags: [
    { flags: '--host <addr>', description: 'address to bind (loopback unless told otherwise)', default: '127.0.0.1' },
    { flags: '-p, --port <port>', description: 'port', default: '4000' },
    { flags: '--api-key <key>', description: 'key the management endpoints require (else $JARVIS_API_KEY; with none they answer on a loopback bind only)' },
    { flags: '--body-limit <bytes>', description: 'largest request body', default: String(1 << 20) },
    { flags: '--drain <ms>', description: 'on SIGTERM, how long in-flight requests may finish', default: '10000' },
    { flags: '--health-interval <ms>', description: 'background health check interval', default: '30000' },
    { flags: '--auto-recover', description: "run the runbook's recovery in the background for nodes whose breaker opens" },
    { flags: '--access-log', description: 'log every request on stderr (default: failovers and failures only)' },
    { flags: '--low-memory', description: 'V8 flags for less peak memory under many open streams, at a cost in throughput (docs/proxy.md)' },
    { flags: '--v8-defaults', description: "V8's default settings: the default now; kept so that older unit files still start", hidden: true },
  ],
  run: async ({ opts, context }) => {
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
    const ctx = await context();
    const [{ runServe }, ui] = await Promise.all([import('../../commands/serve.js'), import('../../ui/serve.js')]);
    const result = await runServe(options, ctx, ui.serveEvents(ctx.out, ctx.clock));
    ctx.out.err(ui.renderServeStopped(result));
  },
};

/** `jarvis ask`: one prompt through the fallback cascade. */
import { ExitCode, UsageError } from '../../errors.js';
import { readToolsFile, wholeNumber } from '../options.js';
import type { CliCommand } from '../table.js';

export const ask: CliCommand<{ task?: string; node?: string; model?: string; strict?: boolean; tools?: string; stream?: boolean; timeout?: string; maxTokens?: string }> = {
  name: 'ask',
  description: 'send a prompt through the fallback cascade (retries, backoff, circuit breakers); the answer on stdout',
  examples: ["jarvis ask \"why is the sky blue\"", "jarvis ask --task code --stream \"write a binary search in Go\"", "git diff | jarvis ask --model qwen3:8b \"review this\""],
  args: [{ name: '[prompt...]', description: 'the prompt (else read from stdin)' }],
  flags: [
    { flags: '-t, --task <task>', description: 'a task from the config (code, quick, architecture): its nodes first' },
    { flags: '-n, --node <id>', description: 'this node first, then its fallbacks, then the cascade' },
    { flags: '-m, --model <name>', description: 'the nodes serving this model first (its group), then their fallbacks, then the cascade' },
    { flags: '--strict', description: 'only the named node or model group may answer' },
    { flags: '--tools <file>', description: 'a JSON file with OpenAI-style tools the model may call' },
    { flags: '-s, --stream', description: 'print tokens as they arrive' },
    { flags: '--timeout <ms>', description: 'overall deadline for this request, all attempts included' },
    { flags: '--max-tokens <n>', description: 'limit the answer length' },
  ],
  run: async ({ args, opts, context, exit }) => {
    const [words] = args as [string[]];
    const deadlineMs = opts.timeout === undefined ? undefined : wholeNumber(opts.timeout, '--timeout', 1);
    const maxTokens = opts.maxTokens === undefined ? undefined : wholeNumber(opts.maxTokens, '--max-tokens', 1);
    const tools = opts.tools === undefined ? undefined : readToolsFile(opts.tools);
    const ctx = await context();
    const prompt = words.join(' ').trim() || (await ctx.readStdin()).trim();
    if (!prompt) throw new UsageError('no prompt: give it as arguments or on stdin');
    const [{ runAsk }, ui] = await Promise.all([import('../../commands/ask.js'), import('../../ui/ask.js')]);
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
  },
};

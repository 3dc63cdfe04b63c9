/** What `jarvis serve` says on stderr (and its one JSON line on stdout with --json). */
import type { ServeEvents, ServeResult } from '../commands/serve.js';
import type { Clock } from '../system/clock.js';
import { oneLine } from '../system/text.js';
import type { Output } from './output.js';

export function serveEvents(output: Output, clock: Clock): ServeEvents {
  return {
    // One line, so a supervisor or a test can read the address it bound.
    listening: ({ url, pid, v8Flags, nodes }) => {
      if (output.json) process.stdout.write(`${JSON.stringify({ event: 'listening', url, pid, v8Flags })}\n`);
      else {
        output.err(`jarvis serve: listening on ${url} (${nodes} nodes; POST /v1/chat/completions, /v1/messages, GET /v1/models)`);
        output.err(`jarvis serve: Claude Code: ANTHROPIC_BASE_URL=${url} claude`);
      }
    },
    reloaded: (config) => output.err(`jarvis serve: reloaded ${config.path} (${config.nodes.length} nodes)`),
    reloadFailed: (error) => output.err(`jarvis serve: config not reloaded, keeping the one in use: ${error.message}`),
    // One entry, one line: what a node or a client put in it cannot start another.
    log: (line) => output.err(`${new Date(clock.now()).toISOString()} ${oneLine(line)}`),
  };
}

export function renderServeStopped(r: ServeResult): string {
  return `jarvis serve: stopped${r.drained ? '' : ` (${r.inFlight} request(s) cut after ${r.drainMs} ms)`}; breaker state saved`;
}

/**
 * What `jarvis ask` shows while it works (the cascade's progress), on stderr: on a terminal, the
 * node it is waiting on and for how long (a spinner line, redrawn ten times a second until the
 * first token or the outcome); retries in yellow with a live countdown, failovers in cyan,
 * giving up in red. Nothing live in a pipe. The answer alone goes to stdout.
 */
import type { CascadeResult, CascadeEvent } from '../cascade/engine.js';
import type { ToolCall } from '../protocols/openai/chat.js';
import { renderColumns } from './columns.js';
import { formatMs } from './format.js';
import { forTerminal, printJson, type Output } from './output.js';
import { oneLine, printable } from '../system/text.js';

export function askProgress(output: Output, stream: boolean): { onEvent: (e: CascadeEvent) => void; stop: () => void; printedTokens: () => boolean } {
  const c = output.color;
  let countdown: NodeJS.Timeout | undefined;
  let tokens = false;
  const clearLine = () => {
    if (countdown) clearInterval(countdown);
    countdown = undefined;
    if (output.interactive) process.stderr.write('\r\u001b[2K');
  };
  return {
    onEvent: (e) => {
      if (e.type === 'token') {
        if (stream) {
          // The first token ends the wait: the answer takes the line.
          if (!tokens) clearLine();
          tokens = true;
          // A model's text as lines: newlines kept, no control character a terminal obeys.
          process.stdout.write(printable(e.text));
        }
        return;
      }
      if (output.json || e.type === 'data') return;
      clearLine();
      if (e.type === 'attempt') {
        if (!output.interactive) return;
        const from = Date.now();
        const frames = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';
        let i = 0;
        const text = () => `${c.cyan(frames[i++ % frames.length]!)} waiting on ${c.bold(e.node)}${e.max > 1 ? ` (attempt ${e.attempt}/${e.max})` : ''} ${formatMs(Date.now() - from)}${c.dim(` of ${formatMs(e.timeoutMs)}`)}`;
        process.stderr.write(text());
        countdown = setInterval(() => process.stderr.write(`\r\u001b[2K${text()}`), 100);
      } else if (e.type === 'retry') {
        const until = Date.now() + e.inMs;
        const text = (left: number) => c.yellow(`retry ${e.node} in ${(left / 1000).toFixed(1)} s (attempt ${e.attempt}/${e.max}) after ${e.reason}`);
        if (output.interactive) {
          process.stderr.write(text(e.inMs));
          countdown = setInterval(() => process.stderr.write(`\r\u001b[2K${text(Math.max(0, until - Date.now()))}`), 100);
        } else output.err(text(e.inMs));
      } else if (e.type === 'failover') output.err(c.cyan(`failover ${e.from} -> ${e.to} (${e.reason})`));
      else if (e.type === 'skip') output.err(c.dim(`skip ${e.node}: ${e.reason}`));
    },
    stop: clearLine,
    printedTokens: () => tokens,
  };
}

/** A model's tool calls, one a line: `tool call get_weather {"city": "Paris"}`. */
function renderToolCalls(calls: ToolCall[], output: Output): string {
  return calls
    .map((c) => {
      let args = c.arguments;
      try {
        args = JSON.stringify(JSON.parse(c.arguments), null, 1).replace(/\n\s*/g, ' ');
      } catch {
        // not JSON: shown as the model wrote it
      }
      return `${output.color.cyan('tool call')} ${output.color.bold(oneLine(c.name))} ${oneLine(args)}${c.id ? output.color.dim(` (${oneLine(c.id)})`) : ''}`;
    })
    .join('\n');
}

function renderAskFailure(result: CascadeResult, output: Output): string {
  const c = output.color;
  const rows = result.attempts.map((a) => [a.node, a.outcome === 'ok' ? c.green('ok') : a.outcome === 'skipped' ? c.dim('skipped') : c.red('failed'), a.class ?? '', formatMs(a.ms), a.detail ?? '']);
  return [c.red(`jarvis: ${result.error}`), renderColumns(['node', 'outcome', 'class', 'took', 'detail'], rows)].join('\n');
}

/** The answer on stdout (tokens already there when streamed), then who answered on stderr; or why nobody did. */
export function presentAsk(raw: CascadeResult, output: Output, printedTokens: boolean): void {
  if (output.json) return printJson(askJson(raw));
  const result = forTerminal(raw);
  if (printedTokens) process.stdout.write('\n');
  if (!result.ok) return output.err(renderAskFailure(result, output));
  if (!printedTokens && (result.content || !result.toolCalls)) output.out(result.content ?? '');
  if (result.toolCalls) output.out(renderToolCalls(result.toolCalls, output));
  output.err(output.color.dim(`answered by ${result.node}${result.model ? ` (${result.model})` : ''} in ${Math.round(result.durationMs)} ms, ${result.attempts.filter((a) => a.outcome !== 'skipped').length} attempt(s)`));
}

/** `ask --json`: the answer and how it was reached. */
function askJson(result: CascadeResult): unknown {
  return { node: result.node ?? null, model: result.model ?? null, content: result.content ?? null, ...(result.toolCalls && { toolCalls: result.toolCalls }), ...(result.error && { error: result.error }), durationMs: result.durationMs, attempts: result.attempts };
}

/**
 * What `jarvis ask` shows while it works (seed 001's notifications), on stderr: retries in yellow
 * with a live countdown on a terminal, failovers in cyan, giving up in red. The answer alone goes
 * to stdout.
 */
import type { CascadeResult, CascadeEvent } from '../cascade/engine.js';
import type { ToolCall } from '../cascade/transport.js';
import { renderColumns } from './columns.js';
import { formatMs } from './format.js';
import type { Output } from './output.js';

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
          tokens = true;
          process.stdout.write(e.text);
        }
        return;
      }
      if (output.json) return;
      clearLine();
      if (e.type === 'retry') {
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
export function renderToolCalls(calls: ToolCall[], output: Output): string {
  return calls
    .map((c) => {
      let args = c.arguments;
      try {
        args = JSON.stringify(JSON.parse(c.arguments), null, 1).replace(/\n\s*/g, ' ');
      } catch {
        // not JSON: shown as the model wrote it
      }
      return `${output.color.cyan('tool call')} ${output.color.bold(c.name)} ${args}${c.id ? output.color.dim(` (${c.id})`) : ''}`;
    })
    .join('\n');
}

export function renderAskFailure(result: CascadeResult, output: Output): string {
  const c = output.color;
  const rows = result.attempts.map((a) => [a.node, a.outcome === 'ok' ? c.green('ok') : a.outcome === 'skipped' ? c.dim('skipped') : c.red('failed'), a.class ?? '', formatMs(a.ms), a.detail ?? '']);
  return [c.red(`jarvis: ${result.error}`), renderColumns(['node', 'outcome', 'class', 'took', 'detail'], rows)].join('\n');
}

export function renderHealthTable(health: Record<string, { state: string; success_rate: number; consecutive_failures: number; total_requests: number; last_error?: string; last_error_at?: string; open_until?: string }>, output: Output): string {
  const c = output.color;
  const paint = (s: string) => (s === 'healthy' ? c.green(s) : s === 'degraded' || s === 'half_open' ? c.yellow(s) : c.red(s));
  // No request yet: no rate to show (100 % of nothing says nothing).
  const rows = Object.entries(health).map(([id, h]) => [
    c.bold(id),
    paint(h.state),
    h.total_requests === 0 ? c.dim('-') : `${Math.round(h.success_rate * 100)}%`,
    String(h.consecutive_failures),
    String(h.total_requests),
    h.open_until ? `open until ${h.open_until}` : '',
    h.last_error ? `${h.last_error}${h.last_error_at ? c.dim(` (${h.last_error_at})`) : ''}` : '',
  ]);
  return renderColumns(['node', 'state', 'success', 'consecutive failures', 'requests', 'breaker', 'last error'], rows);
}

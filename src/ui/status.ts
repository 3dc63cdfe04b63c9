/** Renders `jarvis status` for people: a table and a summary line. */
import type { StatusResult } from '../commands/status.js';
import type { ProbeResult } from '../probe/probe.js';
import { formatMs, paintStatus } from './format.js';
import type { Output } from './output.js';
import { renderColumns } from './columns.js';

export function renderStatus(result: StatusResult, output: Output): string {
  const c = output.color;
  const rows = result.nodes.map((n) => [
    c.bold(n.id),
    n.kind,
    String(n.priority),
    paintStatus(c, n.status, n.throttled),
    n.status === 'ok' || n.status === 'model_missing' ? formatMs(n.latencyMs) : c.dim(formatMs(n.latencyMs)),
    modelCell(n),
  ]);
  // The detail column takes what the terminal has left (120 columns in a pipe) and wraps.
  const text = renderColumns(
    ['node', 'kind', 'prio', 'status', 'latency', 'model', 'detail'],
    rows.map((row, i) => [...row, result.nodes[i]!.detail ?? '']),
    { width: output.columns ?? 120, head: (h) => (c.level > 0 ? c.bold(h) : h) },
  );
  return `${text}\n${summaryLine(result, output)}`;
}

/** The configured model; the served name it matched is in --json and in `diagnose`. */
function modelCell(n: ProbeResult): string {
  return n.model ?? '';
}

function summaryLine(result: StatusResult, output: Output): string {
  const c = output.color;
  const { total, ok } = result.summary;
  const bad = result.nodes.filter((n) => n.status !== 'ok');
  const head = ok === total ? c.green(`all ${total} nodes ok`) : `${ok === 0 ? c.red(`${ok}/${total} ok`) : c.yellow(`${ok}/${total} ok`)}`;
  const problems = bad.map((n) => `${n.id} ${paintStatus(c, n.status, n.throttled)}`).join(', ');
  const hint = bad[0] ? c.dim(`  next: jarvis diagnose ${bad[0].id}`) : '';
  return `${head}${problems ? ` · ${problems}` : ''} · ${formatMs(result.durationMs)}${hint}`;
}

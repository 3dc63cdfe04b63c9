/** Renders `jarvis status` for people: a table and a summary line. */
import Table from 'cli-table3';
import type { StatusResult } from '../commands/status.js';
import type { ProbeResult } from '../probe/probe.js';
import { formatMs, paintStatus } from './format.js';
import type { Output } from './output.js';
import { visibleLength } from './columns.js';

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
  // The detail column takes what the terminal has left (100 columns in a pipe) and wraps.
  const widths = [0, 1, 2, 3, 4, 5].map((i) => Math.max(['node', 'kind', 'prio', 'status', 'latency', 'model'][i]!.length, ...rows.map((r) => visibleLength(r[i]!))) + 2);
  const detailWidth = Math.max(24, (output.columns ?? 120) - widths.reduce((a, b) => a + b, 0) - 1);
  const table = new Table({
    head: ['node', 'kind', 'prio', 'status', 'latency', 'model', 'detail'],
    colWidths: [...widths, detailWidth],
    wordWrap: true,
    chars: BORDERLESS,
    style: { head: c.level > 0 ? ['bold'] : [], border: [], 'padding-left': 0, 'padding-right': 2 },
  });
  rows.forEach((row, i) => table.push([...row, result.nodes[i]!.detail ?? '']));
  const text = table
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
  return `${text}\n${summaryLine(result, output)}`;
}

const BORDERLESS = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
  bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
  left: '', 'left-mid': '', mid: '', 'mid-mid': '',
  right: '', 'right-mid': '', middle: '',
};

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

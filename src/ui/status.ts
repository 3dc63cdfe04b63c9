/** Renders `jarvis status` for people: a table and a summary line. */
import type { StatusResult } from '../commands/status.js';
import type { ProbeResult } from '../probe/probe.js';
import { formatMs, paintStatus } from './format.js';
import type { Output } from './output.js';
import { renderColumns } from './columns.js';
import { oneLine } from '../system/text.js';
import { gpuLines, offloadText, queueText } from '../runbook/evidence/evidence.js';

export function renderStatus(result: StatusResult, output: Output): string {
  const c = output.color;
  const withEvidence = result.nodes.some((n) => n.evidence);
  const rows = result.nodes.map((n) => [
    c.bold(n.id),
    n.kind,
    String(n.priority),
    paintStatus(c, n.status, n.throttled),
    n.status === 'ok' || n.status === 'model_missing' ? formatMs(n.latencyMs) : c.dim(formatMs(n.latencyMs)),
    modelCell(n),
    ...(withEvidence ? [gpuCell(n, output), loadedCell(n, output)] : []),
  ]);
  // The detail column takes what the terminal has left (120 columns in a pipe) and wraps.
  const text = renderColumns(
    ['node', 'kind', 'prio', 'status', 'latency', 'model', ...(withEvidence ? ['gpu', 'loaded'] : []), 'detail'],
    rows.map((row, i) => [...row, result.nodes[i]!.detail ?? '']),
    { width: output.columns ?? 120, head: (h) => (c.level > 0 ? c.bold(h) : h) },
  );
  return `${text}\n${summaryLine(result, output)}`;
}

/** The busiest GPU, or why none could be read (`-`: not ours to read). */
function gpuCell(n: StatusResult['nodes'][number], output: Output): string {
  const e = n.evidence;
  if (!e) return '';
  const c = output.color;
  if (!e.gpu.ok) return e.facts.gpu === 'error' ? c.red('driver gone') : c.dim(e.gpu.reason === 'unsupported' ? '-' : e.gpu.reason === 'missing' ? 'no tool' : e.gpu.reason);
  const lines = gpuLines(e.gpu);
  if (lines.length === 0) return c.dim('none');
  const text = lines.length === 1 ? lines[0]!.replace(/^GPU 0 /, '') : `${lines.length} GPUs, max ${Math.max(...e.gpu.gpus.map((g) => g.utilizationPct ?? 0))} %`;
  return e.facts.gpu === 'busy' ? c.yellow(text) : text;
}

/** What the server has loaded; a model partly on the CPU or nothing loaded stands out. */
function loadedCell(n: StatusResult['nodes'][number], output: Output): string {
  const e = n.evidence;
  if (!e) return '';
  const c = output.color;
  if (!e.models.ok) return c.dim(e.models.reason === 'unsupported' ? '-' : e.models.reason);
  if (e.models.models.length === 0) return c.yellow('nothing');
  const offload = offloadText(e.models);
  if (offload) return c.yellow(offload);
  const queue = queueText(e.models);
  return `${e.models.models.map((m) => m.name).join(', ')}${queue ? ` (${queue})` : ''}`;
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
  return `${head}${problems ? ` · ${problems}` : ''} · ${formatMs(result.durationMs)}${hint}${serveLine(result, output)}`;
}

/** A serve on the data dir: the conversations it keeps on their nodes (KV-cache affinity). */
function serveLine(result: StatusResult, output: Output): string {
  const s = result.serve;
  if (!s) return '';
  const c = output.color;
  const url = oneLine(s.url);
  if (!s.affinity) return `\n${c.dim(`serve ${url}: affinity off`)}`;
  const per = result.nodes.filter((n) => (n.pins ?? 0) > 0).map((n) => `${n.id} ${n.pins}`);
  return `\n${c.dim(`serve ${url}: ${s.pins} conversation${s.pins === 1 ? '' : 's'} pinned${per.length > 0 ? ` (${per.join(', ')})` : ''}`)}`;
}

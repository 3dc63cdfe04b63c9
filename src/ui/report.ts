/** Renders `jarvis report`: a table for people, or Markdown for a weekly post. */
import type { ReportResult } from '../commands/report.js';
import type { NodeReport } from '../history/report.js';
import { renderColumns } from './columns.js';
import { coverageText, spanText } from '../history/timeline.js';
import type { Output } from './output.js';

const duration = (ms: number | null): string => (ms === null ? '-' : spanText(ms));
const ms = (v: number | null) => (v === null ? '-' : `${v} ms`);
/** Uptime is a share of watched up-or-down time; "-" when there was none (see history/timeline.ts). */
const uptime = (r: NodeReport) => (r.uptimePct === null ? '-' : `${r.uptimePct.toFixed(2)} %`);
const worst = (r: NodeReport) => (r.worstHour ? `${r.worstHour.at.slice(0, 13).replace('T', ' ')}h UTC (${r.worstHour.failed}/${r.worstHour.probes} failed)` : '-');

function cells(r: NodeReport): string[] {
  return [r.node, uptime(r), r.throttledMs > 0 ? duration(r.throttledMs) : '-', coverageText(r.watchedMs, r.windowMs).text, String(r.downPeriods.length), String(r.incidents), duration(r.mttrMs), ms(r.p50Ms), ms(r.p95Ms), worst(r)];
}

const HEAD = ['node', 'uptime', 'throttled', 'watched', 'outages', 'incidents', 'MTTR', 'p50', 'p95', 'worst hour'];

/** How the figures were judged, said under every report. */
const ruleText = (r: ReportResult['rule']) => `up after ${r.upAfter} answers in a row, down after ${r.downAfter} failures; a probe vouches for ${duration(r.coverMs)}; uptime is up over up and down time, throttled (429) apart`;

export function renderReport(result: ReportResult, output: Output): string {
  const c = output.color;
  const rows = result.nodes.map((r) => {
    const row = cells(r);
    row[0] = c.bold(row[0]!);
    if (r.uptimePct !== null && r.uptimePct < 99) row[1] = r.uptimePct < 95 ? c.red(row[1]!) : c.yellow(row[1]!);
    if (r.throttledMs > 0) row[2] = c.magenta(row[2]!);
    if (r.watchedMs < r.windowMs * 0.999) row[3] = c.dim(row[3]!);
    return row;
  });
  const head = `${c.bold('Report')} ${result.from.slice(0, 16).replace('T', ' ')} to ${result.to.slice(0, 16).replace('T', ' ')} UTC ${c.dim(`(${ruleText(result.rule)})`)}`;
  return `${head}\n${renderColumns(HEAD, rows, { width: output.columns ?? 120, head: (h) => (c.level > 0 ? c.bold(h) : h) })}`;
}

export function renderReportMarkdown(result: ReportResult): string {
  const lines = [`## Cluster report, ${result.from.slice(0, 10)} to ${result.to.slice(0, 10)}`, '', `| ${HEAD.join(' | ')} |`, `|${HEAD.map(() => '---').join('|')}|`];
  for (const r of result.nodes) lines.push(`| ${cells(r).join(' | ')} |`);
  const outages = result.nodes.flatMap((r) => r.downPeriods.map((p) => `- **${r.node}** down from ${p.from.slice(0, 16).replace('T', ' ')} UTC${p.to ? ` for ${duration(p.ms)}${p.unwatchedAfter ? ' (then unwatched)' : ''}` : ', still down'}${p.cause ? ` (${p.cause})` : ''}`));
  if (outages.length > 0) lines.push('', '### Outages', '', ...outages);
  lines.push('', `_${ruleText(result.rule).replace(/^u/, 'U')}; from \`jarvis report\`._`);
  return lines.join('\n');
}

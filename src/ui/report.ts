/** Renders `jarvis report`: a table for people, or Markdown for a weekly post. */
import type { ReportResult } from '../commands/report.js';
import type { NodeReport } from '../history/report.js';
import { renderColumns } from './columns.js';
import type { Output } from './output.js';

const duration = (ms: number | null): string => {
  if (ms === null) return '-';
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
};
const ms = (v: number | null) => (v === null ? '-' : `${v} ms`);
const uptime = (r: NodeReport) => (r.uptimePct === null ? 'no data' : `${r.uptimePct.toFixed(2)} %`);
const worst = (r: NodeReport) => (r.worstHour ? `${r.worstHour.at.slice(0, 13).replace('T', ' ')}h UTC (${r.worstHour.failed}/${r.worstHour.probes} failed)` : '-');

function cells(r: NodeReport): string[] {
  return [r.node, uptime(r), String(r.downPeriods.length), String(r.incidents), duration(r.mttrMs), ms(r.p50Ms), ms(r.p95Ms), worst(r)];
}

const HEAD = ['node', 'uptime', 'outages', 'incidents', 'MTTR', 'p50', 'p95', 'worst hour'];

export function renderReport(result: ReportResult, output: Output): string {
  const c = output.color;
  const rows = result.nodes.map((r) => {
    const row = cells(r);
    row[0] = c.bold(row[0]!);
    if (r.uptimePct !== null && r.uptimePct < 99) row[1] = r.uptimePct < 95 ? c.red(row[1]!) : c.yellow(row[1]!);
    return row;
  });
  const head = `${c.bold('Report')} ${result.from.slice(0, 16).replace('T', ' ')} to ${result.to.slice(0, 16).replace('T', ' ')} UTC ${c.dim(`(up after ${result.rule.upAfter} answers in a row, down after ${result.rule.downAfter} failures)`)}`;
  return `${head}\n${renderColumns(HEAD, rows, { width: output.columns ?? 120, head: (h) => (c.level > 0 ? c.bold(h) : h) })}`;
}

export function renderReportMarkdown(result: ReportResult): string {
  const lines = [`## Cluster report, ${result.from.slice(0, 10)} to ${result.to.slice(0, 10)}`, '', `| ${HEAD.join(' | ')} |`, `|${HEAD.map(() => '---').join('|')}|`];
  for (const r of result.nodes) lines.push(`| ${cells(r).join(' | ')} |`);
  const outages = result.nodes.flatMap((r) => r.downPeriods.map((p) => `- **${r.node}** down from ${p.from.slice(0, 16).replace('T', ' ')} UTC${p.to ? ` for ${duration(p.ms)}` : ', still down'}${p.cause ? ` (${p.cause})` : ''}`));
  if (outages.length > 0) lines.push('', '### Outages', '', ...outages);
  lines.push('', `_Up after ${result.rule.upAfter} answers in a row, down after ${result.rule.downAfter} failed probes; from \`jarvis report\`._`);
  return lines.join('\n');
}

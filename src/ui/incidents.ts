/** Renders the incident log for people. */
import type { IncidentsResult } from '../commands/incidents.js';
import { formatMs } from './format.js';
import type { Output } from './output.js';
import { renderColumns } from './columns.js';

export function renderIncidents(result: IncidentsResult, output: Output): string {
  const c = output.color;
  const lines: string[] = [];
  if (result.pruned !== undefined) lines.push(`pruned ${result.pruned} incident${result.pruned === 1 ? '' : 's'} older than the retention period`);
  if (result.total === 0) {
    lines.push(`no incidents recorded (${result.file})`);
    return lines.join('\n');
  }
  if (result.incidents.length === 0) lines.push('no incident matches');
  else {
    const rows = result.incidents.map((i) => [
      localTime(i.at),
      c.bold(i.node),
      i.status,
      i.diagnosis,
      i.outcome === 'recovered' ? c.green(i.outcome) : i.outcome === 'interrupted' || i.outcome === 'no_action' ? c.yellow(i.outcome) : c.red(i.outcome),
      formatMs(i.durationMs),
      i.escalated ? c.red.bold('ESCALATED') : '',
    ]);
    lines.push(renderColumns(['when', 'node', 'status', 'diagnosis', 'outcome', 'took', ''], rows));
    if (result.matched > result.incidents.length) lines.push(c.dim(`… ${result.matched - result.incidents.length} older not shown (--limit N, or --json for all)`));
  }
  const w = result.window;
  if (w.nodes.length > 0) lines.push(windowLine(output, w.nodes, w));
  else lines.push(c.dim(`no incident in the last ${w.hours} h`));
  if (result.expired > 0) lines.push(c.yellow(`${result.expired} incident(s) are older than the retention period: \`jarvis incidents --prune\` removes them (the next recovery does too)`));
  return lines.join('\n');
}

/**
 * The escalation window's tally, one way for every surface (incidents' footer, recover's last
 * line): each node's incidents in the window and how many of them count toward escalation, so a
 * recorded `no_action` never reads as a 0 beside its own row.
 */
export function windowLine(output: Output, nodes: readonly { node: string; recorded: number; count: number; escalated: boolean }[], rule: { hours: number; escalateAfter: number }): string {
  const c = output.color;
  const parts = nodes.map((n) => {
    const text = `${n.node} ${n.recorded}, ${n.count} counting`;
    return n.escalated ? c.red.bold(`${text} (escalated)`) : text;
  });
  return `last ${rule.hours} h: ${parts.join(' · ')}  ${c.dim(`(${rule.escalateAfter} or more counting escalate; no_action and interrupted do not count)`)}`;
}

/** Local time with its offset (`2026-12-01 22:52:38 +01:00`): a time without a zone is a guess at 3 a.m. */
function localTime(iso: string): string {
  const d = new Date(iso);
  const p = (n: number) => String(Math.abs(n)).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const zone = off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${p(Math.trunc(off / 60))}:${p(off % 60)}`;
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${zone}`;
}

export function renderAck(result: { node: string; at: string }): string {
  return `Acknowledged ${result.node} at ${result.at}: its earlier incidents no longer block automatic restarts.`;
}

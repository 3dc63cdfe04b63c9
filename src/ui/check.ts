/** Renders `jarvis check`: the news only (cron mails any output), a full report, or one Nagios line. */
import type { CheckNodeResult, CheckResult } from '../check/run.js';
import { NAGIOS_LABEL } from '../check/nagios.js';
import { statusWord } from '../probe/classify.js';
import { renderColumns } from './columns.js';
import { formatMs, paintStatus } from './format.js';
import { forTerminal, printJson, type Output } from './output.js';

function news(n: CheckNodeResult, output: Output): string[] {
  const c = output.color;
  const lines: string[] = [];
  const r = n.recovery;
  const then = r ? (r.action === 'recovered' ? c.green(` -> recovered, ${r.reason}`) : r.action === 'not_recovered' ? c.red(` -> not recovered: ${r.reason}`) : c.yellow(` -> ${r.reason}`)) : '';
  if (n.transition === 'down' && n.throttled) lines.push(`${c.bold(n.id)} ${c.yellow('THROTTLED')} (${n.detail ?? '429'})${then}`);
  else if (n.transition === 'down') lines.push(`${c.bold(n.id)} ${c.red('DOWN')} (${n.firstStatus}${n.detail && n.status !== 'ok' ? `: ${n.detail}` : ''})${then}`, ...(n.evidence ? [c.dim(`  evidence: ${n.evidence}`)] : []));
  else if (n.transition === 'resolved') lines.push(`${c.bold(n.id)} ${c.green('RESOLVED')} (was ${n.previous ?? 'down'})${then}`);
  else if (n.transition === 'changed') lines.push(`${c.bold(n.id)} ${c.yellow('CHANGED')} ${n.previous} -> ${n.status}${then}`);
  // A node left alone again for the same reason (escalated, throttled, low impact) is not news:
  // cron would mail it every run.
  else if (r && r.action !== 'skipped') lines.push(`${c.bold(n.id)} still ${n.firstStatus}${then}`);
  if (r?.escalated) lines.push(c.red.bold(`${n.id} ESCALATED: repeated incidents; automatic restarts stop until \`jarvis incidents ack ${n.id}\``));
  return lines;
}

/** How many problem nodes the summary line names before it only counts. */
const SHOWN = 5;

function summary(result: CheckResult): string {
  const ok = result.nodes.filter((n) => n.status === 'ok').length;
  const bad = result.nodes.filter((n) => n.status !== 'ok' || n.recovery?.action === 'recovered');
  const parts = bad.map((n) => `${n.id} ${n.recovery?.action === 'recovered' ? `${n.firstStatus} (recovered)` : statusWord(n)}${n.escalated ? ' (escalated)' : ''}`);
  // A large cluster's line stays a line: counts, then the first few names.
  const shown = parts.length > SHOWN ? [...parts.slice(0, SHOWN), `+${parts.length - SHOWN} more`] : parts;
  const record = result.recordError ? `; cannot record incidents: ${result.recordError}` : '';
  return `JARVIS ${NAGIOS_LABEL[result.level]} - ${ok}/${result.nodes.length} ok${shown.length ? `; ${shown.join(', ')}` : ''}${record}`;
}

/** One line in the Nagios plugin format, with performance data. */
export function nagiosLine(result: CheckResult): string {
  const ok = result.nodes.filter((n) => n.status === 'ok').length;
  const total = result.nodes.length;
  const perNode = total <= 50 ? result.nodes.map((n) => (n.status === 'ok' ? `'${n.id}'=${n.latencyMs}ms;;;0` : `'${n.id}'=U`)) : [];
  const perf = [`ok=${ok};;;0;${total}`, `duration=${result.durationMs}ms;;;0`, ...perNode];
  return `${summary(result)} | ${perf.join(' ')}`;
}

function renderCheck(result: CheckResult, output: Output, verbose: boolean): string {
  const c = output.color;
  const lines = result.nodes.flatMap((n) => news(n, output));
  if (result.recordError) lines.push(c.red(`cannot record incidents (nothing was restarted): ${result.recordError}`));
  if (!verbose) return lines.length > 0 ? [...lines, summary(result)].join('\n') : '';
  const rows = result.nodes.map((n) => [
    c.bold(n.id),
    paintStatus(c, n.status, n.throttled),
    formatMs(n.latencyMs),
    n.transition === 'unchanged' ? c.dim('unchanged') : n.transition,
    n.recovery ? `${n.recovery.action}: ${n.recovery.reason}` : n.flapped ? 'flapped: answered when probed again' : '',
    n.level,
  ]);
  return [renderColumns(['node', 'status', 'latency', 'since last check', 'recovery', 'level'], rows), ...(lines.length ? ['', ...lines] : []), summary(result), c.dim(`log: ${result.logFile}`)].join('\n');
}

/** Failed webhooks on stderr, then the report: JSON, the Nagios line, or the news. */
export function presentCheck(raw: CheckResult, output: Output, options: { nagios: boolean; verbose: boolean }): void {
  const result = forTerminal(raw);
  for (const d of result.deliveries.filter((x) => !x.ok)) output.err(`jarvis: webhook ${d.url} failed after ${d.attempts} attempt(s): ${d.error ?? 'unknown error'} (logged in ${result.logFile})`);
  if (output.json) printJson(raw);
  else if (options.nagios) output.out(nagiosLine(result));
  else {
    const text = renderCheck(result, output, options.verbose);
    if (text) output.out(text);
  }
}

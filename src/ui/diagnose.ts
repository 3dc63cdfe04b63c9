/** Renders `jarvis diagnose` for people: what is wrong, what it means, what to do, who takes over. */
import type { DiagnoseResult } from '../commands/diagnose.js';
import type { FallbackStatus } from '../runbook/diagnosis.js';
import { formatMs, paintSeverity, paintStatus } from './format.js';
import type { Output } from './output.js';
import { evidenceLines } from './evidence.js';

export function renderDiagnosis(result: DiagnoseResult, output: Output): string {
  const c = output.color;
  const { node, diagnosis: d, host } = result;
  const lines: string[] = [];
  const title = `${c.bold(node.id)} (${node.kind}${node.role ? `, ${node.role}` : ''}${node.impact === 'low' ? ', low impact' : ''})`;
  lines.push(`${title}  ${paintStatus(c, node.status, node.throttled)}  ${c.dim(formatMs(node.latencyMs))}`);
  lines.push(`  probe    ${node.target}${node.httpStatus !== undefined ? ` -> HTTP ${node.httpStatus}` : ''}`);
  if (node.detail) lines.push(`  saw      ${node.detail}`);
  if (node.model) lines.push(`  model    ${node.model}${node.matchedModel && node.matchedModel !== node.model ? ` (served as ${node.matchedModel})` : ''}`);
  if (host) {
    const mark = host.reachable === true ? c.green('up') : host.reachable === false ? c.red('down') : c.yellow('unknown');
    lines.push(`  host     ${host.host} ${mark}: ${d.hostNote ?? host.detail}${host.rttMs !== undefined ? ` (${host.rttMs} ms)` : ''}`);
  }
  lines.push('', `${c.bold('Evidence')} ${c.dim(`(${formatMs(result.evidence.ms)})`)}`, ...evidenceLines(result.evidence, c));
  lines.push('');
  lines.push(`${c.bold('Cause')}    ${paintSeverity(c, d.severity, d.cause)}`);
  lines.push(`${c.bold('Meaning')}  ${d.meaning}`);
  if (d.actions.length > 0) {
    lines.push('');
    lines.push(c.bold('Do'));
    d.actions.forEach((a, i) => lines.push(`  ${i + 1}. ${a}`));
  }
  if (d.recovery !== 'none' && d.severity !== 'ok') {
    lines.push(c.dim(`  (recovery for this case: ${d.recovery})`));
  }
  if (d.severity !== 'ok') lines.push('', ...meanwhileLines(result.fallbacks, output));
  return lines.join('\n');
}

/**
 * Who takes the node's work meanwhile (diagnose and recover): its own fallbacks, each with what
 * its probe saw, then the healthy nodes of the rest of the cascade on one line; and plainly
 * when nobody can.
 */
export function meanwhileLines(fallbacks: readonly FallbackStatus[], output: Output): string[] {
  const c = output.color;
  if (fallbacks.length === 0) return [c.yellow('No other node can take over this node\'s work (it is strict, or alone).')];
  const lines = [c.bold('Meanwhile')];
  const own = fallbacks.filter((f) => f.for !== 'cascade');
  const cascade = fallbacks.filter((f) => f.for === 'cascade');
  for (const f of own) lines.push(`  ${c.bold(f.node)}${f.for ? ` takes ${f.for}` : ''}: ${paintStatus(c, f.status, f.throttled)}${f.status === 'ok' ? ` (${formatMs(f.latencyMs)})` : f.detail ? c.dim(` - ${f.detail}`) : ''}`);
  const healthy = cascade.filter((f) => f.status === 'ok');
  if (cascade.length > 0) {
    const rest = cascade.length - healthy.length;
    const names = healthy.map((f) => `${c.bold(f.node)} ${c.green('ok')} (${formatMs(f.latencyMs)})`).join(', ');
    lines.push(`  ${own.length > 0 ? 'then the cascade' : 'the cascade'}: ${names || c.red('none answers')}${rest > 0 && healthy.length > 0 ? c.dim(` · ${rest} more not answering`) : ''}`);
  }
  if (!fallbacks.some((f) => f.status === 'ok')) lines.push(c.red('  no fallback is healthy: this node\'s work has nowhere to go'));
  else if (own.length > 0 && !own.some((f) => f.status === 'ok')) lines.push(c.yellow('  its own fallbacks do not answer: the rest of the cascade takes its work'));
  return lines;
}

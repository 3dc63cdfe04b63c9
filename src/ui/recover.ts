/** Renders `jarvis recover`: live step progress while it runs, then the outcome. */
import type { RecoverResult } from '../runbook/recover.js';
import type { StepRecord } from '../incidents/incident.js';
import type { StepEvent } from '../runbook/executor.js';
import { displayArgv } from '../system/process.js';
import { formatMs, paintStatus } from './format.js';
import { forTerminal, type Output } from './output.js';
import { oneLine } from '../system/text.js';
import { windowLine } from './incidents.js';
import { meanwhileLines } from './diagnose.js';

/** A step line: ✓/✗, label, detail, time. */
function stepLine(output: Output, r: StepRecord): string {
  const c = output.color;
  const mark = r.ok ? c.green('✓') : c.red('✗');
  return `${mark} ${r.label}${r.detail ? c.dim(` - ${r.detail}`) : ''} ${c.dim(`(${formatMs(r.ms)})`)}${r.output && !r.ok ? `\n${r.output.replace(/^/gm, '    ')}` : ''}`;
}

/**
 * Live progress: a spinner per step on a terminal (on stderr, stopped and replaced by the step's
 * line), plain lines as steps end otherwise, nothing with --json. The step lines are the result a
 * person reads, so they go to stdout, in order with the rest.
 */
export async function stepReporter(output: Output): Promise<{ onEvent: (e: StepEvent) => void; stop: () => void }> {
  if (output.json) return { onEvent: () => undefined, stop: () => undefined };
  if (!output.interactive) {
    return { onEvent: (e) => void (e.type === 'end' && output.out(stepLine(output, forTerminal(e.record)))), stop: () => undefined };
  }
  const { default: ora } = await import('ora');
  const spinner = ora({ stream: process.stderr, discardStdin: false });
  return {
    onEvent: (e) => {
      if (e.type === 'start') spinner.start(e.step.label);
      else if (e.type === 'progress') spinner.text = `${e.step.label} ${output.color.dim(oneLine(e.text))}`;
      else {
        spinner.stop();
        output.out(stepLine(output, forTerminal(e.record)));
      }
    },
    stop: () => void spinner.stop(),
  };
}

export function renderRecoverHeader(result: RecoverResult, output: Output): string {
  const c = output.color;
  const { probe, host, process: proc } = result.assessment;
  const lines = [
    `${c.bold(result.node)}: ${paintStatus(c, probe.status, probe.throttled)}${probe.detail ? c.dim(` - ${probe.detail}`) : ''}`,
    ...(host ? [`  host     ${host.host} ${host.reachable === true ? c.green('up') : host.reachable === false ? c.red('down') : c.yellow('unknown')}: ${host.detail}`] : []),
    ...(proc.command ? [`  process  ${proc.detail} ${c.dim(`(${proc.command})`)}`] : []),
    `  evidence ${result.evidence.before.summary}`,
    `  cause    ${result.diagnosis.cause}`,
    `  plan     ${result.plan.reason}`,
  ];
  if (result.dryRun) {
    lines.push('', c.bold('Would run (dry run: nothing is executed):'));
    if (result.plan.steps.length === 0) lines.push('  (nothing)');
    result.plan.steps.forEach((s, i) => {
      const argv = s.kind === 'command' || s.kind === 'spawn' ? s.argv : undefined;
      const what = argv && !s.label.includes(argv.join(' ')) ? `  ${c.dim(displayArgv(argv))}` : '';
      lines.push(`  ${i + 1}. ${s.label}${what}`);
    });
  }
  return lines.join('\n');
}

function renderRecoverOutcome(result: RecoverResult, output: Output): string {
  const c = output.color;
  const lines: string[] = [];
  if (result.dryRun) return '';
  const v = result.verification;
  switch (result.outcome) {
    case 'healthy':
      lines.push(c.green(`${result.node} is healthy and answers${v ? ` (${v.latencyMs} ms)` : ''}; nothing to recover, no incident recorded.`));
      break;
    case 'recovered':
      lines.push(c.green.bold(`${result.node} recovered and verified${v ? `: answered in ${v.latencyMs} ms${v.tokensPerSecond !== undefined ? `, ${v.tokensPerSecond} tokens/s` : ''}` : ''}.`));
      break;
    case 'no_action':
      lines.push(c.yellow(`${result.node} not recovered: ${result.plan.reason}.`));
      break;
    case 'interrupted':
      lines.push(c.yellow(result.incident ? `${result.node}: recovery interrupted; recorded as such.` : `${result.node}: interrupted while assessing it; nothing done, nothing recorded.`));
      break;
    default:
      lines.push(c.red.bold(result.plan.action === 'refused' ? `${result.node} NOT recovered: ${result.plan.reason}.` : `${result.node} NOT recovered.`));
  }
  if (result.incident) {
    const i = result.incident;
    lines.push(c.dim(`incident ${i.id} recorded`));
    // Records written before windowRecorded existed count what they counted.
    lines.push(windowLine(output, [{ node: result.node, recorded: i.windowRecorded ?? i.windowCount ?? 0, count: i.windowCount ?? 0, escalated: (i.windowCount ?? 0) >= result.window.escalateAfter }], result.window));
    if (result.incident.escalated) {
      lines.push(c.red.bold(`ESCALATED: ${result.incident.windowCount} incidents on ${result.node} within the window. The runbook asks for a deeper investigation (hardware, logs, load), not another restart.`));
    }
  }
  if (result.sameMachineDown) {
    const down = result.sameMachineDown.map((d) => `${d.node} (${d.status})`).join(', ');
    lines.push(c.red.bold(`but on the same machine ${down} answered before the recovery and not after it: look at what the restart touched.`));
  }
  if (result.unrecorded) lines.push(c.yellow.bold(`forced: this recovery could not be recorded in the incident log (${result.unrecorded})`));
  if (result.pruned) lines.push(c.dim(`pruned ${result.pruned} incident(s) older than the retention period`));
  if (!result.recovered && result.outcome !== 'healthy') lines.push(...meanwhileLines(result.fallbacks, output));
  return lines.join('\n');
}

/** The whole report after the run: the plan for a dry run, else the outcome (the header was shown before the steps). */
export function renderRecover(result: RecoverResult, output: Output): string {
  return result.dryRun ? renderRecoverHeader(result, output) : `\n${renderRecoverOutcome(result, output)}`;
}

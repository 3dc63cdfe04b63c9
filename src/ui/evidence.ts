/** The evidence block of `jarvis diagnose` (and of an incident): one line per collector, what it found or why it could not tell. */
import type { Evidence } from '../runbook/evidence/evidence.js';
import { formatAge, gpuLines, offloadText, queueText } from '../runbook/evidence/evidence.js';
import type { ChalkInstance } from 'chalk';

export function evidenceLines(e: Evidence, c: ChalkInstance): string[] {
  const lines: string[] = [];
  const row = (label: string, text: string) => lines.push(`  ${label.padEnd(8)} ${text}`);
  const why = (f: { detail: string; reason: string }) => c.dim(`${f.reason === 'missing' ? 'not available' : f.reason}: ${f.detail}`);
  if (e.gpu.ok) {
    const gpus = gpuLines(e.gpu);
    if (gpus.length === 0) row('gpu', c.dim(`none found (${e.gpu.source})`));
    const source = e.gpu.source;
    gpus.forEach((g, i) => row(i === 0 ? 'gpu' : '', `${g}${i === 0 ? c.dim(`  (${source})`) : ''}`));
  } else row('gpu', e.facts.gpu === 'error' ? c.red(e.gpu.detail) : why(e.gpu));
  if (e.models.ok) {
    const models = e.models.models;
    const offload = offloadText(e.models);
    const text = models.length === 0 ? c.yellow('nothing loaded (the next request pays the load)') : models.map((m) => `${m.name}${(m.cpuShare ?? 0) >= 0.05 ? c.yellow(` ${Math.round(m.cpuShare! * 100)} % on CPU`) : ''}`).join(', ');
    row('models', `${text}${c.dim(`  (${e.models.source})`)}`);
    if (offload) row('', c.yellow('part of a model runs on the CPU: expect several times the latency'));
    const queue = queueText(e.models);
    if (queue) row('queue', e.facts.queue === 'busy' ? c.yellow(queue) : queue);
  } else row('models', why(e.models));
  row('process', e.process.alive === true ? c.green(e.process.detail) : e.process.alive === false ? c.red(e.process.detail) : c.dim(e.process.detail));
  if (e.logs.ok) {
    row('log', `${e.logs.file}${e.logs.ageS !== undefined ? c.dim(` (last written ${formatAge(e.logs.ageS)} ago)`) : ''}`);
    if (e.logs.errors.length === 0) row('', c.dim('no error lines in its last lines'));
    for (const l of e.logs.errors) row('', `${l.kind === 'error' ? c.yellow(l.text) : c.red(l.text)}`);
  } else row('log', why(e.logs));
  return lines;
}

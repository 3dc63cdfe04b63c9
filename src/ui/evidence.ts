/** The evidence block of `jarvis diagnose` (and of an incident): one line per collector, what it found or why it could not tell. */
import type { Evidence } from '../runbook/evidence/evidence.js';
import { formatAge, gpuLines, offloadText, queueText } from '../runbook/evidence/evidence.js';
import type { ChalkInstance } from 'chalk';

export function evidenceLines(e: Evidence, c: ChalkInstance): string[] {
  const lines: string[] = [];
  const row = (label: string, text: string) => lines.push(`  ${label.padEnd(8)} ${text}`);
  // What could not be read for a plain reason (no such tool, not this kind of node) goes on one
  // dim line at the end; a timeout, a permission or a failure is a finding and keeps its row.
  const notRead: string[] = [];
  const quiet = (f: { reason: string }) => f.reason === 'missing' || f.reason === 'unsupported';
  const why = (label: string, f: { detail: string; reason: string }) => (quiet(f) ? void notRead.push(`${label}: ${f.detail}`) : row(label, c.yellow(`${f.reason}: ${f.detail}`)));
  if (e.gpu.ok) {
    const gpus = gpuLines(e.gpu, true);
    if (gpus.length === 0) row('gpu', c.dim(`none found (${e.gpu.source})`));
    const source = e.gpu.source;
    gpus.forEach((g, i) => row(i === 0 ? 'gpu' : '', `${g}${i === 0 ? c.dim(`  (${source})`) : ''}`));
  } else if (e.facts.gpu === 'error') row('gpu', c.red(e.gpu.detail));
  else why('gpu', e.gpu);
  if (e.models.ok) {
    const models = e.models.models;
    const offload = offloadText(e.models);
    const text = models.length === 0 ? c.yellow('nothing loaded (the next request pays the load)') : models.map((m) => `${m.name}${(m.cpuShare ?? 0) >= 0.05 ? c.yellow(` ${Math.round(m.cpuShare! * 100)} % on CPU`) : ''}`).join(', ');
    row('models', `${text}${c.dim(`  (${e.models.source})`)}`);
    if (offload) row('', c.yellow('part of a model runs on the CPU: expect several times the latency'));
    const queue = queueText(e.models);
    if (queue) row('queue', e.facts.queue === 'busy' ? c.yellow(queue) : queue);
  } else why('models', e.models);
  if (e.process.command || e.process.alive !== null) row('process', e.process.alive === true ? c.green(e.process.detail) : e.process.alive === false ? c.red(e.process.detail) : c.yellow(e.process.detail));
  else notRead.push(`process: ${e.process.detail}`);
  if (e.logs.ok) {
    row('log', `${e.logs.file}${e.logs.ageS !== undefined ? c.dim(` (last written ${formatAge(e.logs.ageS)} ago)`) : ''}`);
    if (e.logs.errors.length === 0) row('', c.dim('no error lines in its last lines'));
    for (const l of e.logs.errors) row('', `${l.kind === 'error' ? c.yellow(l.text) : c.red(l.text)}`);
  } else why('log', e.logs);
  if (notRead.length > 0) row('not read', c.dim(notRead.join('; ')));
  return lines;
}

/** Small formatters shared by the renderers. */
import type { ChalkInstance } from 'chalk';
import { statusWord, type ProbeStatus } from '../probe/classify.js';

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/** A status word in its colour: green healthy, yellow degraded but alive, red down. */
export function paintStatus(c: ChalkInstance, status: ProbeStatus, throttled?: boolean): string {
  const label = statusWord({ status, throttled });
  if (status === 'ok') return c.green(label);
  if (status === 'loading' || status === 'model_missing' || throttled) return c.yellow(label);
  return c.red(label);
}

export function paintSeverity(c: ChalkInstance, severity: 'ok' | 'warning' | 'critical', text: string): string {
  return severity === 'ok' ? c.green(text) : severity === 'warning' ? c.yellow(text) : c.red(text);
}

/** Renders `jarvis health` and `jarvis reset`. */
import type { HealthResult } from '../commands/health.js';
import type { ResetResult } from '../commands/reset.js';
import { renderColumns } from './columns.js';
import type { Output } from './output.js';

export function renderHealthTable(health: HealthResult, output: Output): string {
  const c = output.color;
  const paint = (s: string) => (s === 'healthy' ? c.green(s) : s === 'degraded' || s === 'half_open' ? c.yellow(s) : c.red(s));
  // No request yet: no rate to show (100 % of nothing says nothing).
  const rows = Object.entries(health).map(([id, h]) => [
    c.bold(id),
    paint(h.state),
    h.total_requests === 0 ? c.dim('-') : `${Math.round(h.success_rate * 100)}%`,
    String(h.consecutive_failures),
    String(h.total_requests),
    h.open_until ? `open until ${h.open_until}` : '',
    h.last_error ? `${h.last_error}${h.last_error_at ? c.dim(` (${h.last_error_at})`) : ''}` : '',
  ]);
  return renderColumns(['node', 'state', 'success', 'consecutive failures', 'requests', 'breaker', 'last error'], rows);
}

export function renderReset(r: ResetResult): string {
  if (r.node === null) return r.nodes.length > 0 ? `Reset ${r.nodes.join(', ')}: breakers closed, counts cleared.` : 'No node had recorded state; nothing to reset.';
  return r.nodes.length > 0 ? `Reset ${r.node}: breaker closed, counts cleared.` : `${r.node} had no recorded state; nothing to reset.`;
}

/** What `jarvis sim node|cluster` tells a person once it listens (programs get the JSON line). */
import type { SimReady } from '../commands/sim.js';
import { renderColumns } from './columns.js';
import { forTerminal } from './output.js';

export function renderSimReady(raw: SimReady): string {
  const ready = forTerminal(raw);
  const rows = ready.nodes.map((n) => [n.id, n.kind, n.url, n.model ?? '', n.fault]);
  const first = ready.nodes[0]?.id ?? 'NODE';
  return [
    `Simulated ${ready.nodes.length === 1 ? 'node' : `cluster of ${ready.nodes.length} nodes`} ready on loopback (pid ${ready.pid}):`,
    renderColumns(['node', 'kind', 'url', 'model', 'fault'], rows),
    '',
    ...(ready.config ? [`config   ${ready.config}   try: jarvis status --config ${ready.config}`] : ['no config written (--config-out FILE writes one for jarvis)']),
    `control  ${ready.control}   faults: jarvis sim fault ${ready.control} ${first} hang (then ${first} up)`,
    'Ctrl-C stops it. In a pipe or with --json it prints one JSON line instead.',
  ].join('\n');
}

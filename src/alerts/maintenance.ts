/** Silence windows (`maintenance` in the config): while one is open for a node, nothing is recovered or alerted for it. */
import type { Config } from '../config/schema.js';
import { parseDuration } from '../config/durations.js';

/** The window open for `node` at `now`, if any (a repeating window counts from its first start). */
export function openWindow(config: Config, node: string, now: number): Config['maintenance'][number] | undefined {
  return config.maintenance.find((w) => {
    if (w.nodes && !w.nodes.includes(node)) return false;
    const start = Date.parse(w.start);
    const length = parseDuration(w.duration) ?? 0;
    if (now < start) return false;
    const every = w.every ? parseDuration(w.every) : undefined;
    const since = every ? (now - start) % every : now - start;
    return since < length;
  });
}

/**
 * Model names as servers spell them: which served model a configured name means (Ollama's
 * `:latest`, LM Studio's `publisher/` prefix, a short name for a longer one). Used by the probe
 * (is the configured model there?), the model catalog and the routing of model groups.
 */

/**
 * Finds the served model a configured name means. Exact first; then the same name without
 * Ollama's `:latest` tag or a `publisher/` prefix (LM Studio ids); then a served model that
 * starts with the name at a word boundary (the runbook says `deepseek` for `deepseek-coder-v2`).
 */
export function matchModel(wanted: string, available: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = 0;
  for (const m of available) {
    const score = modelMatchScore(wanted, m);
    if (score > bestScore) [best, bestScore] = [m, score];
    if (score === 3) break;
  }
  return best;
}

const normalModelName = (s: string) => s.toLowerCase().replace(/:latest$/, '').replace(/^.*\//, '');

/**
 * How well `served` answers to the name `wanted`: 3 the same, 2 the same up to case, `:latest`
 * and a `publisher/`, 1 a longer name that starts with it at a word boundary, 0 not at all.
 */
export function modelMatchScore(wanted: string, served: string): 0 | 1 | 2 | 3 {
  if (wanted === served) return 3;
  const w = normalModelName(wanted);
  const n = normalModelName(served);
  if (n === w) return 2;
  return n.startsWith(w) && /[-_:.@ ]/.test(n.charAt(w.length)) ? 1 : 0;
}

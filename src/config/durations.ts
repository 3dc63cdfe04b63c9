/** Durations as people write them in configs and flags: `90s`, `30m`, `2h`, `7d`, `1w`. */

const UNIT_MS = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000, w: 604_800_000 } as const;
export const DURATION_PATTERN = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/i;

/** The duration in ms, or undefined if the text is not one. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_PATTERN.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2]!.toLowerCase() as keyof typeof UNIT_MS];
}

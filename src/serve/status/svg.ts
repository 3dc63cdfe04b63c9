/** Hand-drawn SVG for the status page and badges: a few rects and a polyline need no chart library. */
import { uptimePct, verdictOf, watchedMs, type StateTimes, type Verdict } from '../../history/timeline.js';

export const escapeXml = (s: string) => s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);

/** Segments of equal size from `start` (ms): where each one's time went (history/timeline.ts). */
export interface Segments {
  start: number;
  size: number;
  times: StateTimes[];
}

/** The page's CSS class of each verdict, and the legend's words for it. */
export const VERDICTS: Record<Verdict, { cls: string; legend: string }> = {
  up: { cls: 'g', legend: 'up 99 % or more' },
  degraded: { cls: 'y', legend: 'up 90 to 99 %' },
  down: { cls: 'r', legend: 'up under 90 %' },
  throttled: { cls: 't', legend: 'throttled (429)' },
  unwatched: { cls: 'n', legend: 'not watched' },
};

/** The colours of those classes (the page's CSS; the legend's swatches use them too). */
export const SEGMENT_CSS = '.g{fill:#2da44e;background:#2da44e}.y{fill:#d4a72c;background:#d4a72c}.r{fill:#cf222e;background:#cf222e}.t{fill:#8250df;background:#8250df}.n{fill:var(--none);background:var(--none)}';

/**
 * A segment for the page's hover script: "uptime%,watched min,throttled min" ("-" for no
 * uptime), or the uptime alone for a segment watched throughout and never throttled (most of
 * them: a page of 50 nodes carries 3,000).
 */
function segmentData(t: StateTimes, size: number): string {
  const up = uptimePct(t);
  if (up !== null && t.throttledMs === 0 && watchedMs(t) === size) return String(up);
  return `${up === null ? '-' : up},${Math.round(watchedMs(t) / 60_000)},${Math.round(t.throttledMs / 60_000)}`;
}

/**
 * One bar of segments, drawn as one path per colour (a page of 50 nodes carries 3,000 segments:
 * a rect and a tooltip each made it 400 KB). It stretches to its box. Each segment's figures
 * stay in `data-seg` (oldest first) with the first's start and their size, for the page's hover
 * text; without script the bar's title says the window's figures.
 */
export function uptimeBar(bar: Segments, title: string, summary: string): string {
  const segments = bar.times;
  const w = 4;
  const gap = 1;
  const width = segments.length * (w + gap) - gap;
  const paths = new Map<string, string>();
  segments.forEach((s, i) => {
    const cls = VERDICTS[verdictOf(s)].cls;
    paths.set(cls, `${paths.get(cls) ?? ''}M${i * (w + gap)} 0h${w}v20h-${w}z`);
  });
  const body = [...paths].map(([cls, d]) => `<path class="${cls}" d="${d}"/>`).join('');
  return `<svg class="bar" role="img" aria-label="${escapeXml(`${title}: ${summary}`)}" data-seg="${segments.map((t) => segmentData(t, bar.size)).join(' ')}" data-start="${bar.start}" data-size="${bar.size}" viewBox="0 0 ${width} 20" preserveAspectRatio="none"><title>${escapeXml(`${title}: ${summary}`)}</title>${body}</svg>`;
}

/** The last probes' latency as a line (a failure breaks it); one answer is a dot. */
export function sparkline(points: readonly (number | null)[], title: string): string {
  const width = 120;
  const height = 28;
  const max = Math.max(1, ...points.filter((p): p is number => p !== null));
  const step = points.length > 1 ? width / (points.length - 1) : width;
  const runs: string[][] = [[]];
  points.forEach((p, i) => {
    if (p === null) runs.push([]);
    else runs.at(-1)!.push(`${(i * step).toFixed(1)},${(height - 2 - (p / max) * (height - 4)).toFixed(1)}`);
  });
  const lines = runs.filter((r) => r.length > 0).map((r) => (r.length === 1 ? `<circle cx="${r[0]!.split(',')[0]}" cy="${r[0]!.split(',')[1]}" r="1.5"/>` : `<polyline points="${r.join(' ')}"/>`));
  return `<svg class="chart" role="img" aria-label="${escapeXml(title)}" viewBox="0 0 ${width} ${height}" preserveAspectRatio="none"><title>${escapeXml(title)}</title>${lines.join('')}</svg>`;
}

/** A shields-style badge: label on grey, value on colour. Widths from a 7 px average glyph. */
export function badge(label: string, value: string, color: string): string {
  const lw = label.length * 7 + 10;
  const vw = value.length * 7 + 10;
  const l = escapeXml(label);
  const v = escapeXml(value);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${lw + vw}" height="20" role="img" aria-label="${l}: ${v}"><title>${l}: ${v}</title><rect width="${lw}" height="20" fill="#555"/><rect x="${lw}" width="${vw}" height="20" fill="${color}"/><g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11"><text x="${lw / 2}" y="14">${l}</text><text x="${lw + vw / 2}" y="14">${v}</text></g></svg>`;
}

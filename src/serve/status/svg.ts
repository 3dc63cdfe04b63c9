/** Hand-drawn SVG for the status page and badges: a few rects and a polyline need no chart library. */

export const escapeXml = (s: string) => s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);

export interface Segment {
  /** What the segment covers, for its tooltip ("2026-12-02 14h UTC"). */
  label: string;
  ok: number;
  total: number;
}

/** The page's CSS class: g(reen) at 99 % or more of probes answered, y(ellow) at 90 %, r(ed) below, n(o data). */
function segmentClass(s: Segment): string {
  if (s.total === 0) return 'n';
  const r = s.ok / s.total;
  return r >= 0.99 ? 'g' : r >= 0.9 ? 'y' : 'r';
}

/** The colours of those classes (the page's CSS). */
export const SEGMENT_CSS = '.bar .g{fill:#2da44e}.bar .y{fill:#d4a72c}.bar .r{fill:#cf222e}.bar .n{fill:#d0d4d9}';

/**
 * One bar of segments, drawn as one path per colour (a page of 50 nodes carries 3,000 segments:
 * a rect and a tooltip each made it 400 KB). The counts stay in `data-seg` ("answered/probes"
 * per segment, oldest first) and the tooltip names the worst segment.
 */
export function uptimeBar(segments: readonly Segment[], title: string): string {
  const w = 4;
  const gap = 1;
  const width = segments.length * (w + gap);
  const paths = new Map<string, string>();
  segments.forEach((s, i) => {
    const cls = segmentClass(s);
    paths.set(cls, `${paths.get(cls) ?? ''}M${i * (w + gap)} 0h${w}v20h-${w}z`);
  });
  const seen = segments.filter((s) => s.total > 0);
  const ok = seen.reduce((a, s) => a + s.ok, 0);
  const total = seen.reduce((a, s) => a + s.total, 0);
  const worst = seen.reduce<Segment | undefined>((w0, s) => (!w0 || s.ok / s.total < w0.ok / w0.total ? s : w0), undefined);
  const tip = total === 0 ? `${title}: no data` : `${title}: ${ok}/${total} probes answered${worst && worst.ok < worst.total ? `; worst ${worst.label}: ${worst.ok}/${worst.total}` : ''}`;
  const body = [...paths].map(([cls, d]) => `<path class="${cls}" d="${d}"/>`).join('');
  return `<svg class="bar" role="img" aria-label="${escapeXml(title)}" data-seg="${segments.map((s) => `${s.ok}/${s.total}`).join(' ')}" viewBox="0 0 ${width} 20" width="${width}" height="20" preserveAspectRatio="none"><title>${escapeXml(tip)}</title>${body}</svg>`;
}

/** Hourly p50 latency as a line; gaps where nothing answered. */
export function latencyChart(points: readonly (number | null)[], title: string): string {
  const width = 120;
  const height = 28;
  const max = Math.max(1, ...points.filter((p): p is number => p !== null));
  const step = points.length > 1 ? width / (points.length - 1) : width;
  const runs: string[][] = [[]];
  points.forEach((p, i) => {
    if (p === null) runs.push([]);
    else runs.at(-1)!.push(`${(i * step).toFixed(1)},${(height - 2 - (p / max) * (height - 4)).toFixed(1)}`);
  });
  const lines = runs.filter((r) => r.length > 0).map((r) => (r.length === 1 ? `<circle cx="${r[0]!.split(',')[0]}" cy="${r[0]!.split(',')[1]}" r="1.5" fill="#0969da"/>` : `<polyline points="${r.join(' ')}" fill="none" stroke="#0969da" stroke-width="1.5"/>`));
  return `<svg class="chart" role="img" aria-label="${escapeXml(title)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}"><title>${escapeXml(title)}</title>${lines.join('')}</svg>`;
}

/** A shields-style badge: label on grey, value on colour. Widths from a 7 px average glyph. */
export function badge(label: string, value: string, color: string): string {
  const lw = label.length * 7 + 10;
  const vw = value.length * 7 + 10;
  const l = escapeXml(label);
  const v = escapeXml(value);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${lw + vw}" height="20" role="img" aria-label="${l}: ${v}"><title>${l}: ${v}</title><rect width="${lw}" height="20" fill="#555"/><rect x="${lw}" width="${vw}" height="20" fill="${color}"/><g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11"><text x="${lw / 2}" y="14">${l}</text><text x="${lw + vw / 2}" y="14">${v}</text></g></svg>`;
}

/** Hand-drawn SVG for the status page and badges: a few rects and a polyline need no chart library. */

export const escapeXml = (s: string) => s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);

export interface Segment {
  /** What the segment covers, for its tooltip ("2026-12-02 14h UTC"). */
  label: string;
  ok: number;
  total: number;
}

/** green at 99 % or more of probes answered, yellow at 90 %, red below; grey with no probe. */
export function segmentColor(s: Segment): string {
  if (s.total === 0) return '#d0d4d9';
  const r = s.ok / s.total;
  return r >= 0.99 ? '#2da44e' : r >= 0.9 ? '#d4a72c' : '#cf222e';
}

export function uptimeBar(segments: readonly Segment[], title: string): string {
  const w = 4;
  const gap = 1;
  const width = segments.length * (w + gap);
  const rects = segments
    .map((s, i) => {
      const pct = s.total === 0 ? 'no data' : `${((s.ok / s.total) * 100).toFixed(1)} % of ${s.total} probes answered`;
      return `<rect x="${i * (w + gap)}" y="0" width="${w}" height="20" rx="1" fill="${segmentColor(s)}" data-ok="${s.ok}" data-total="${s.total}"><title>${escapeXml(`${s.label}: ${pct}`)}</title></rect>`;
    })
    .join('');
  return `<svg class="bar" role="img" aria-label="${escapeXml(title)}" viewBox="0 0 ${width} 20" width="${width}" height="20" preserveAspectRatio="none">${rects}</svg>`;
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

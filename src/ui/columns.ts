/**
 * The one table renderer: plain aligned columns (no borders), measured without ANSI colour codes;
 * the last column may wrap to the terminal's width.
 */

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

function visibleLength(s: string): number {
  return s.replace(ANSI, '').length;
}

export interface ColumnsOptions {
  /** The width the table must fit: the last column wraps at word boundaries to what is left (at least 22 characters). */
  width?: number;
  /** How the header cells look (bold on a colour terminal). */
  head?: (cell: string) => string;
}

const GAP = 2;

export function renderColumns(head: string[], rows: string[][], options: ColumnsOptions = {}): string {
  const last = head.length - 1;
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (i === last && options.width !== undefined ? 0 : visibleLength(r[i] ?? '')))));
  if (options.width !== undefined) {
    const before = widths.slice(0, last).reduce((a, w) => a + w + GAP, 0);
    widths[last] = Math.max(22, options.width - before - 1 - GAP);
  }
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell + ' '.repeat(Math.max(0, widths[i]! - visibleLength(cell))))
      .join(' '.repeat(GAP))
      .trimEnd();
  const lines = [line(head.map((h) => options.head?.(h) ?? h))];
  for (const row of rows) {
    if (options.width === undefined) {
      lines.push(line(row));
      continue;
    }
    const [first = '', ...more] = wrap(row[last] ?? '', widths[last]!);
    lines.push(line([...row.slice(0, last), first]));
    for (const rest of more) lines.push(line([...row.slice(0, last).map(() => ''), rest]));
  }
  return lines.join('\n');
}

/** Greedy word wrap of plain text; a word longer than the width is cut. */
function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let current = '';
  for (let word of text.split(/\s+/).filter(Boolean)) {
    while (word.length > width) {
      if (current) out.push(current);
      current = '';
      out.push(word.slice(0, width));
      word = word.slice(width);
    }
    if (!current) current = word;
    else if (current.length + 1 + word.length <= width) current += ` ${word}`;
    else {
      out.push(current);
      current = word;
    }
  }
  if (current || out.length === 0) out.push(current);
  return out;
}

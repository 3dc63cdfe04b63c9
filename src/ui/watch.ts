/**
 * The live view of `jarvis watch`: the node table redrawn in place on the terminal's alternate
 * screen, keys read raw (q quits, arrows select, d diagnoses, r asks before recovering). The
 * terminal is given back as it was on every way out: q, Ctrl-C, SIGTERM, an error.
 */
import type { ChalkInstance } from 'chalk';
import { formatMs, paintStatus } from './format.js';
import type { ProbeStatus } from '../probe/classify.js';
import { forTerminal } from './output.js';
import { terminalSafe } from '../system/text.js';

export interface WatchNode {
  id: string;
  kind: string;
  status: ProbeStatus;
  throttled?: boolean;
  latencyMs: number;
  detail?: string;
  /** The last probes, oldest first. */
  spark: { ok: boolean; ms: number }[];
  breaker: 'closed' | 'open' | 'half_open';
  /** Its status differs from the last refresh's. */
  changed: boolean;
  inFlight?: number;
}

export interface WatchFrame {
  at: string;
  intervalMs: number;
  nodes: WatchNode[];
  serve?: { url: string; failoversPerMin?: number };
  incidents: { at: string; node: string; diagnosis: string; outcome: string }[];
}

const BARS = '▁▂▃▄▅▆▇█';

function sparkline(spark: WatchNode['spark'], c: ChalkInstance): string {
  const max = Math.max(1, ...spark.filter((s) => s.ok).map((s) => s.ms));
  return spark.map((s) => (s.ok ? BARS[Math.min(BARS.length - 1, Math.floor((s.ms / max) * (BARS.length - 1)))]! : c.red('×'))).join('');
}

const pad = (text: string, width: number, visible = text.length) => text + ' '.repeat(Math.max(0, width - visible));
// eslint-disable-next-line no-control-regex
const visibleLength = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length;

/** One screen: header, node table, last incidents, and the panel (a diagnosis, a question). */
function renderFrame(frame: WatchFrame, selected: number, c: ChalkInstance, panel: string[] = []): string[] {
  const lines: string[] = [];
  const serve = frame.serve ? ` · serve ${frame.serve.url}${frame.serve.failoversPerMin !== undefined ? `, ${frame.serve.failoversPerMin.toFixed(1)} failovers/min` : ''}` : '';
  lines.push(`${c.bold('jarvis watch')} · ${frame.at.slice(11, 19)} UTC · every ${formatMs(frame.intervalMs)}${serve}`);
  lines.push(c.dim('q quit · ↑↓ select · d diagnose · r recover'));
  lines.push('');
  const head = ['', 'node', 'kind', 'status', 'latency', 'last probes', 'breaker', ...(frame.serve ? ['in flight'] : [])];
  const rows = frame.nodes.map((n, i) => {
    const status = paintStatus(c, n.status, n.throttled);
    const breaker = n.breaker === 'open' ? c.red('open') : n.breaker === 'half_open' ? c.yellow('half-open') : c.dim('closed');
    return [i === selected ? '›' : ' ', n.changed ? c.inverse(n.id) : c.bold(n.id), n.kind, n.changed ? `${status} ${c.yellow('(changed)')}` : status, n.status === 'ok' ? formatMs(n.latencyMs) : c.dim(formatMs(n.latencyMs)), sparkline(n.spark, c), breaker, ...(frame.serve ? [String(n.inFlight ?? 0)] : [])];
  });
  const widths = head.map((h, col) => Math.max(h.length, ...rows.map((r) => visibleLength(r[col]!))));
  lines.push(head.map((h, col) => pad(c.bold(h), widths[col]!, h.length)).join('  '));
  for (const [i, r] of rows.entries()) {
    const line = r.map((cell, col) => pad(cell, widths[col]!, visibleLength(cell))).join('  ');
    lines.push(i === selected ? c.bold(line) : line);
  }
  const detail = frame.nodes[selected]?.detail;
  if (detail) lines.push(c.dim(`  ${frame.nodes[selected]!.id}: ${detail}`));
  lines.push('', c.bold('Last incidents'));
  if (frame.incidents.length === 0) lines.push(c.dim('  none recorded'));
  for (const i of frame.incidents) lines.push(`  ${i.at.slice(0, 16).replace('T', ' ')}  ${c.bold(i.node)}  ${i.diagnosis}  ${i.outcome === 'recovered' ? c.green(i.outcome) : c.yellow(i.outcome)}`);
  if (panel.length > 0) lines.push('', ...panel);
  return lines;
}

export interface LiveViewOptions {
  intervalMs: number;
  signal: AbortSignal;
  color: ChalkInstance;
  frame: () => Promise<WatchFrame>;
  diagnose: (id: string) => Promise<string>;
  recover: (id: string) => Promise<string>;
}

const ALT_ON = '\x1b[?1049h\x1b[?25l';
const ALT_OFF = '\x1b[?25h\x1b[?1049l';

/** Runs the view until q, Ctrl-C or the signal; the terminal is restored on every way out. */
export async function runLiveView(o: LiveViewOptions): Promise<number> {
  const out = process.stdout;
  const input = process.stdin;
  let selected = 0;
  let panel: string[] = [];
  let asking: string | undefined;
  let last: WatchFrame | undefined;
  let stopped = false;
  let wake: (() => void) | undefined;
  const draw = () => {
    if (!last || stopped) return;
    const rows = out.rows || 40;
    // What the nodes said, one line each and without controls; the frame's own escapes added after.
    const lines = renderFrame(forTerminal(last), selected, o.color, panel.flatMap((l) => l.split('\n'))).slice(0, rows - 1);
    out.write(`\x1b[H${lines.map((l) => `${terminalSafe(l)}\x1b[K`).join('\n')}\x1b[J`);
  };
  const stop = () => {
    stopped = true;
    wake?.();
  };
  /** Shows `busy` in the panel while `work` runs, then what it returned (or why it failed). */
  const inPanel = (busy: string, failed: string, work: () => Promise<string>) => {
    panel = [busy];
    void work().then(
      (text) => ((panel = text.split('\n')), draw()),
      (error: unknown) => ((panel = [o.color.red(`${failed}: ${(error as Error).message}`)]), draw()),
    );
  };
  const onKey = (data: Buffer) => {
    const key = data.toString('utf8');
    if (key === '\x03' || (key === 'q' && !asking)) return stop();
    const node = last?.nodes[selected];
    if (asking) {
      const id = asking;
      asking = undefined;
      if (key === 'y' || key === 'Y') inPanel(o.color.yellow(`recovering ${id}…`), `recover ${id}`, () => o.recover(id));
      else panel = [o.color.dim(`not recovering ${id}`)];
      return draw();
    }
    if (key === '\x1b[A' || key === 'k') selected = Math.max(0, selected - 1);
    else if (key === '\x1b[B' || key === 'j') selected = Math.min((last?.nodes.length ?? 1) - 1, selected + 1);
    else if (key === '\x1b' ) panel = [];
    else if (key === 'd' && node) inPanel(o.color.dim(`diagnosing ${node.id}…`), `diagnose ${node.id}`, () => o.diagnose(node.id));
    else if (key === 'r' && node) {
      asking = node.id;
      panel = [o.color.bold(`Recover ${node.id} now (restart per the runbook)? y/n`)];
    }
    draw();
  };
  const onSignal = () => stop();
  out.write(ALT_ON);
  input.setRawMode(true);
  input.resume();
  input.on('data', onKey);
  out.on('resize', draw);
  process.on('SIGTERM', onSignal);
  o.signal.addEventListener('abort', onSignal, { once: true });
  try {
    while (!stopped) {
      last = await o.frame();
      selected = Math.min(selected, Math.max(0, last.nodes.length - 1));
      draw();
      const pause = pauseFor(o.intervalMs);
      wake = pause.wake;
      await pause.done;
    }
  } finally {
    input.off('data', onKey);
    out.off('resize', draw);
    process.off('SIGTERM', onSignal);
    if (input.isTTY) input.setRawMode(false);
    input.pause();
    out.write(ALT_OFF);
  }
  return 0;
}

/** A wait of `ms` that a key can end early. */
function pauseFor(ms: number): { done: Promise<void>; wake: () => void } {
  let wake = () => undefined as void;
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    wake = () => {
      clearTimeout(timer);
      resolve();
    };
  });
  return { done, wake };
}

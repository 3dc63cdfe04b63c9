/**
 * The live view of `jarvis watch`: the node table redrawn in place on the terminal's alternate
 * screen on a fixed interval (counted from the start, so the interval printed is the one kept),
 * and as probes answer; keys read raw (q quits at once, arrows select, d diagnoses, r asks before
 * recovering, R asks before forcing a recovery where the runbook would hold). The terminal is
 * given back as it was on every way out: q, Ctrl-C, SIGTERM, an error.
 */
import type { ChalkInstance } from 'chalk';
import { formatMs, paintStatus } from './format.js';
import type { ProbeStatus } from '../probe/classify.js';
import { forTerminal } from './output.js';
import { terminalSafe } from '../system/text.js';

export interface WatchNode {
  id: string;
  kind: string;
  /** The last probe's; absent before its first answer. */
  status?: ProbeStatus;
  throttled?: boolean;
  latencyMs?: number;
  detail?: string;
  /** A probe under way for this long. */
  probingMs?: number;
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
  /** The data dir it reads (the same rule as every command: --data-dir, $JARVIS_DATA_DIR, ./data). */
  dataDir: string;
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
  lines.push(`${c.bold('jarvis watch')} · ${frame.at.slice(11, 19)} UTC · every ${formatMs(frame.intervalMs)} · data ${frame.dataDir}${serve}`);
  lines.push(c.dim('q quit · ↑↓ select · d diagnose · r recover · R force a recovery'));
  lines.push('');
  const head = ['', 'node', 'kind', 'status', 'latency', 'last probes', 'breaker', ...(frame.serve ? ['in flight'] : [])];
  const rows = frame.nodes.map((n, i) => {
    // A probe waiting longer than a refresh says so; before its first answer there is nothing else to say.
    const waiting = n.probingMs !== undefined && (n.status === undefined || n.probingMs >= frame.intervalMs) ? c.dim(`probing ${formatMs(n.probingMs)}`) : '';
    const status = n.status === undefined ? waiting || c.dim('probing') : `${paintStatus(c, n.status, n.throttled)}${waiting ? ` ${waiting}` : ''}`;
    const latency = n.latencyMs === undefined ? '' : n.status === 'ok' ? formatMs(n.latencyMs) : c.dim(formatMs(n.latencyMs));
    const breaker = n.breaker === 'open' ? c.red('open') : n.breaker === 'half_open' ? c.yellow('half-open') : c.dim('closed');
    return [i === selected ? '›' : ' ', n.changed ? c.inverse(n.id) : c.bold(n.id), n.kind, n.changed ? `${status} ${c.yellow('(changed)')}` : status, latency, sparkline(n.spark, c), breaker, ...(frame.serve ? [String(n.inFlight ?? 0)] : [])];
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
  /** Wall time (ms). */
  now: () => number;
  /** Starts what is due; returns at once. */
  tick: () => void;
  /** What is known now, drawn as the frame of `at`. */
  frame: (at: number) => WatchFrame;
  /** Gives the view its redraw, for the source to call when something arrives. */
  onChange: (draw: () => void) => void;
  diagnose: (id: string) => Promise<string>;
  recover: (id: string, force: boolean) => Promise<string>;
}

const ALT_ON = '\x1b[?1049h\x1b[?25l';
const ALT_OFF = '\x1b[?25h\x1b[?1049l';

/** Runs the view until q, Ctrl-C or the signal; the terminal is restored on every way out. */
export function runLiveView(o: LiveViewOptions): Promise<number> {
  return new LiveView(o).run();
}

/** The view's state between rounds and keys: what is selected, the panel, a question asked, a recovery under way. */
class LiveView {
  readonly #out = process.stdout;
  #selected = 0;
  #panel: string[] = [];
  #asking: { id: string; force: boolean } | undefined;
  #last: WatchFrame | undefined;
  #roundAt: number;
  #stopped = false;
  #wake: (() => void) | undefined;
  /** A recovery started from the view: it is not abandoned by q. */
  #recovering: Promise<unknown> | undefined;
  #queued = false;

  constructor(private readonly o: LiveViewOptions) {
    this.#roundAt = o.now();
    // Answers arrive in bursts (every node at once): one redraw for each burst.
    o.onChange(() => {
      if (this.#queued || this.#stopped) return;
      this.#queued = true;
      setImmediate(() => {
        this.#queued = false;
        this.draw();
      });
    });
  }

  readonly draw = (): void => {
    if (this.#stopped) return;
    const last = (this.#last = this.o.frame(this.#roundAt));
    this.#selected = Math.min(this.#selected, Math.max(0, last.nodes.length - 1));
    const rows = this.#out.rows || 40;
    // What the nodes said, one line each and without controls; the frame's own escapes added after.
    const lines = renderFrame(forTerminal(last), this.#selected, this.o.color, this.#panel.flatMap((l) => l.split('\n'))).slice(0, rows - 1);
    this.#out.write(`\x1b[H${lines.map((l) => `${terminalSafe(l)}\x1b[K`).join('\n')}\x1b[J`);
  };

  readonly stop = (): void => {
    this.#stopped = true;
    this.#wake?.();
  };

  /** Shows `busy` in the panel while `work` runs, then what it returned (or why it failed). */
  #inPanel(busy: string, failed: string, work: () => Promise<string>): Promise<unknown> {
    this.#panel = [busy];
    return work().then(
      (text) => ((this.#panel = text.split('\n')), this.draw()),
      (error: unknown) => ((this.#panel = [this.o.color.red(`${failed}: ${(error as Error).message}`)]), this.draw()),
    );
  }

  /** The answer to a recovery's question: y as asked, f (after r) forced where the runbook would hold, else nothing. */
  #answer(key: string, asked: { id: string; force: boolean }): void {
    const { id, force } = asked;
    const c = this.o.color;
    const go = key === 'y' || key === 'Y' ? force : key === 'f' && !force ? true : undefined;
    if (go === undefined) {
      this.#panel = [c.dim(`not recovering ${id}`)];
      return;
    }
    const run: Promise<unknown> = this.#inPanel(c.yellow(`${go ? 'force-' : ''}recovering ${id}…`), `recover ${id}`, () => this.o.recover(id, go)).finally(() => {
      if (this.#recovering === run) this.#recovering = undefined;
    });
    this.#recovering = run;
  }

  readonly onKey = (data: Buffer): void => {
    const key = data.toString('utf8');
    if (key === '\x03' || (key === 'q' && !this.#asking)) return this.stop();
    const c = this.o.color;
    const node = this.#last?.nodes[this.#selected];
    if (this.#asking) {
      const asked = this.#asking;
      this.#asking = undefined;
      this.#answer(key, asked);
    } else if (key === '\x1b[A' || key === 'k') this.#selected = Math.max(0, this.#selected - 1);
    else if (key === '\x1b[B' || key === 'j') this.#selected = Math.min((this.#last?.nodes.length ?? 1) - 1, this.#selected + 1);
    else if (key === '\x1b') this.#panel = [];
    else if (key === 'd' && node) void this.#inPanel(c.dim(`diagnosing ${node.id}…`), `diagnose ${node.id}`, () => this.o.diagnose(node.id));
    else if (key === 'r' && node) {
      this.#asking = { id: node.id, force: false };
      this.#panel = [c.bold(`Recover ${node.id} now, per the runbook? y yes · f force (restart even where the runbook would hold) · n no`)];
    } else if (key === 'R' && node) {
      this.#asking = { id: node.id, force: true };
      this.#panel = [c.bold(`Force a recovery of ${node.id} now (restart even where the runbook would hold)? y/n`)];
    }
    this.draw();
  };

  async run(): Promise<number> {
    const { o } = this;
    const input = process.stdin;
    this.#out.write(ALT_ON);
    input.setRawMode(true);
    input.resume();
    input.on('data', this.onKey);
    this.#out.on('resize', this.draw);
    process.on('SIGTERM', this.stop);
    o.signal.addEventListener('abort', this.stop, { once: true });
    const start = o.now();
    try {
      // Rounds start at start + n × interval, however long anything takes (nothing here waits on a
      // probe): the printed interval is kept, and a stalled machine skips rounds rather than bunching them.
      while (!this.#stopped) {
        this.#roundAt = o.now();
        o.tick();
        this.draw();
        const pause = pauseFor(o.intervalMs - ((o.now() - start) % o.intervalMs));
        this.#wake = pause.wake;
        await pause.done;
      }
    } finally {
      input.off('data', this.onKey);
      this.#out.off('resize', this.draw);
      process.off('SIGTERM', this.stop);
      o.signal.removeEventListener('abort', this.stop);
      if (input.isTTY) input.setRawMode(false);
      input.pause();
      this.#out.write(ALT_OFF);
    }
    // A recovery started from the view finishes: the terminal is back, and it says what it waits on.
    if (this.#recovering) {
      process.stderr.write('jarvis watch: waiting for the recovery under way to finish (Ctrl-C interrupts it, recorded as such)\n');
      await this.#recovering;
    }
    return 0;
  }
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

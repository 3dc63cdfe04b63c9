/**
 * `jarvis watch`: the cluster live in the terminal, refreshed in place. Every interval each node
 * not already being probed is probed (into the history, as `status` does) and the breakers
 * (state.json), a `jarvis serve` on the data dir (or --serve URL) and the incident log are read,
 * all in the background: the screen is redrawn on the interval whatever hangs, and a hung node
 * shows how long its probe has been waiting. The keys and the screen are ui/watch.ts's.
 */
import { phaseAt } from '../cascade/breaker.js';
import type { NodeConfig } from '../config/schema.js';
import { cascadeSection } from '../store/state-file.js';
import { UsageError } from '../errors.js';
import { probeNode, type ProbeDeps, type ProbeResult } from '../probe/probe.js';
import { probeSamples } from '../history/samples.js';
import { readServe, type ServeStatus } from './serve-status.js';
import type { Incident } from '../incidents/incident.js';
import type { WatchFrame, WatchNode } from '../ui/watch.js';
import type { CommandContext } from './context.js';
import type { Records } from '../store/records.js';
import type { BreakerState } from '../store/health-record.js';

export interface WatchOptions {
  intervalMs: number;
  serve?: string;
}

const SPARK = 20;

/** A node as watch knows it: its last probe, the one under way (since when), its recent ones. */
interface NodeView {
  last?: ProbeResult;
  probingSince?: number;
  spark: { ok: boolean; ms: number }[];
  changed: boolean;
}

/**
 * What the screen shows, kept up to date in the background: `tick` starts what is due (a probe
 * for each node not being probed, the reads of state, serve and incidents) and returns at once;
 * `frame` is what is known now. `stop` abandons whatever is under way.
 */
class WatchSource {
  readonly #views = new Map<string, NodeView>();
  readonly #abort = new AbortController();
  readonly #deps: ProbeDeps;
  #reading = false;
  #breakers: Record<string, { breaker: BreakerState }> = {};
  #serve: { url: string; status: ServeStatus } | undefined;
  #incidents: Incident[] = [];
  #lastFailovers: { at: number; total: number } | undefined;
  #failoversPerMin: number | undefined;

  constructor(
    private readonly nodes: readonly NodeConfig[],
    deps: ProbeDeps,
    private readonly records: Records,
    private readonly ctx: CommandContext,
    private readonly options: WatchOptions,
    private readonly changed: () => void,
  ) {
    this.#deps = { ...deps, signal: deps.signal ? AbortSignal.any([deps.signal, this.#abort.signal]) : this.#abort.signal };
    for (const n of nodes) this.#views.set(n.id, { spark: [], changed: false });
  }

  /** Aborted when the view stops: what the view starts (a diagnosis) goes with it. */
  get signal(): AbortSignal {
    return this.#deps.signal!;
  }

  tick(): void {
    if (this.#abort.signal.aborted) return;
    for (const node of this.nodes) {
      const view = this.#views.get(node.id)!;
      if (view.probingSince === undefined) void this.#probe(node, view);
    }
    if (!this.#reading) void this.#read();
  }

  async #probe(node: NodeConfig, view: NodeView): Promise<void> {
    const at = this.ctx.clock.now();
    view.probingSince = at;
    const p = await probeNode(node, this.#deps).catch((): undefined => undefined);
    view.probingSince = undefined;
    // Cut by q or Ctrl-C: a probe that was stopped says nothing of the node.
    if (!p || this.#abort.signal.aborted) return;
    view.changed = view.last !== undefined && view.last.status !== p.status;
    view.last = p;
    view.spark.push({ ok: p.status === 'ok', ms: p.latencyMs });
    if (view.spark.length > SPARK) view.spark.shift();
    void this.records.history.append(probeSamples([p], at)).catch(() => undefined);
    this.changed();
  }

  async #read(): Promise<void> {
    this.#reading = true;
    try {
      const [state, serve, incidents] = await Promise.all([this.records.state.read().catch(() => undefined), readServe(this.options.serve, this.records.paths.serve, this.#deps, this.ctx.env), this.records.incidents.list().catch((): Incident[] => [])]);
      const at = this.ctx.clock.now();
      this.#breakers = state ? cascadeSection(state).nodes : {};
      this.#serve = serve;
      this.#incidents = incidents;
      if (serve?.status.failovers_total !== undefined) {
        const total = serve.status.failovers_total;
        if (this.#lastFailovers && at > this.#lastFailovers.at) this.#failoversPerMin = Math.max(0, ((total - this.#lastFailovers.total) * 60_000) / (at - this.#lastFailovers.at));
        this.#lastFailovers = { at, total };
      }
    } finally {
      this.#reading = false;
    }
  }

  frame(at: number): WatchFrame {
    const serve = this.#serve;
    const nodes: WatchNode[] = this.nodes.map((n) => {
      const v = this.#views.get(n.id)!;
      const p = v.last;
      const b = this.#breakers[n.id]?.breaker;
      return {
        id: n.id,
        kind: n.kind,
        ...(p && { status: p.status, latencyMs: p.latencyMs }),
        ...(p?.throttled && { throttled: true }),
        ...(p?.detail && { detail: p.detail }),
        ...(v.probingSince !== undefined && { probingMs: Math.max(0, at - v.probingSince) }),
        spark: [...v.spark],
        breaker: b ? phaseAt(b, at) : 'closed',
        changed: v.changed,
        ...(serve?.status.nodes?.[n.id]?.in_flight !== undefined && { inFlight: serve.status.nodes[n.id]!.in_flight! }),
      };
    });
    return {
      at: new Date(at).toISOString(),
      intervalMs: this.options.intervalMs,
      dataDir: this.ctx.dataDir,
      nodes,
      ...(serve && { serve: { url: serve.url, ...(this.#failoversPerMin !== undefined && { failoversPerMin: this.#failoversPerMin }) } }),
      incidents: this.#incidents.slice(-5).reverse().map((i) => ({ at: i.at, node: i.node, diagnosis: i.diagnosis, outcome: i.outcome })),
    };
  }

  stop(): void {
    this.#abort.abort();
  }
}

export async function runWatch(options: WatchOptions, ctx: CommandContext): Promise<number> {
  // A live redraw needs a terminal that says how wide it is (a 0-column pty does not).
  if (ctx.out.columns === undefined || !process.stdin.isTTY) {
    const why = process.stdout.isTTY && process.stdin.isTTY ? `this one reports ${process.stdout.columns ?? 0} columns` : 'this is not one';
    throw new UsageError(`jarvis watch needs a terminal of a known size (${why}); for scripts use \`jarvis status --json\` (or \`jarvis status\` in a loop)`);
  }
  const [config, deps, ui, records] = await Promise.all([ctx.config(), ctx.probeDeps(), import('../ui/watch.js'), ctx.records()]);
  let redraw = () => undefined as void;
  const source = new WatchSource(config.nodes, deps, records, ctx, options, () => redraw());
  // What the keys start runs on the view's signal: q leaves nothing waiting behind it.
  const viewDeps = async () => ({ ...(await ctx.probeDeps()), signal: source.signal });
  const silently = <T>(_text: string, work: () => Promise<T>) => work();
  const quiet: CommandContext = { ...ctx, signal: source.signal, probeDeps: viewDeps, busy: silently };
  try {
    return await ui.runLiveView({
      intervalMs: options.intervalMs,
      signal: ctx.signal,
      color: ctx.out.color,
      now: () => ctx.clock.now(),
      tick: () => source.tick(),
      frame: (at) => source.frame(at),
      onChange: (draw) => (redraw = draw),
      diagnose: async (id) => {
        const { runDiagnose } = await import('./diagnose.js');
        const { renderDiagnosis } = await import('../ui/diagnose.js');
        return renderDiagnosis(await runDiagnose({ nodeId: id }, quiet), ctx.out);
      },
      recover: async (id, force) => {
        const { runRecover } = await import('./recover.js');
        // A recovery is not abandoned by q: it finishes (or Ctrl-C interrupts it, recorded as such).
        const r = await runRecover({ nodeId: id, force, wait: false, dryRun: false }, { ...ctx, busy: silently });
        const held = !force && r.outcome === 'no_action' && /--force/.test(r.plan.reason);
        return `${id}: ${r.outcome}${r.plan.action === 'none' || held ? ` (${r.plan.reason})` : ''}${held ? ` · R forces it` : ''}`;
      },
    });
  } finally {
    source.stop();
  }
}

/**
 * `jarvis watch`: the cluster live in the terminal, refreshed in place. Each round probes every
 * node (into the history, as `status` does), reads the breakers from state.json and, when a
 * `jarvis serve` runs on the data dir (or --serve URL), its in-flight requests and failovers.
 * The keys and the screen are ui/watch.ts's.
 */
import { phaseAt } from '../cascade/breaker.js';
import { cascadeSection } from '../store/state-file.js';
import { UsageError } from '../errors.js';
import { probeAll, type ProbeDeps } from '../probe/probe.js';
import { probeSamples } from '../history/samples.js';
import { readServeFile } from '../store/serve-file.js';
import type { WatchFrame, WatchNode } from '../ui/watch.js';
import type { CommandContext } from './context.js';

export interface WatchOptions {
  intervalMs: number;
  serve?: string;
}

const SPARK = 20;

interface ServeStatus {
  failovers_total?: number;
  nodes?: Record<string, { in_flight?: number }>;
}

/** What a running serve says of its load (`/api/status`), or undefined when none answers. */
async function readServe(url: string | undefined, deps: ProbeDeps, env: NodeJS.ProcessEnv): Promise<{ url: string; status: ServeStatus } | undefined> {
  if (!url) return undefined;
  try {
    const r = await deps.http(`${url.replace(/\/+$/, '')}/api/status`, { timeoutMs: 1000, ...(env.JARVIS_API_KEY && { headers: { authorization: `Bearer ${env.JARVIS_API_KEY}` } }) });
    return r.status === 200 ? { url, status: JSON.parse(r.body) as ServeStatus } : undefined;
  } catch {
    return undefined;
  }
}

export async function runWatch(options: WatchOptions, ctx: CommandContext): Promise<number> {
  // A live redraw needs a terminal that says how wide it is (a 0-column pty does not).
  if (ctx.out.columns === undefined || !process.stdin.isTTY) {
    const why = process.stdout.isTTY && process.stdin.isTTY ? `this one reports ${process.stdout.columns ?? 0} columns` : 'this is not one';
    throw new UsageError(`jarvis watch needs a terminal of a known size (${why}); for scripts use \`jarvis status --json\` (or \`jarvis status\` in a loop)`);
  }
  const [config, deps, ui, records] = await Promise.all([ctx.config(), ctx.probeDeps(), import('../ui/watch.js'), ctx.records()]);
  const quiet = { ...ctx, busy: <T>(_text: string, work: () => Promise<T>) => work() };
  const sparks = new Map<string, { ok: boolean; ms: number }[]>();
  const previous = new Map<string, string>();
  let lastFailovers: { at: number; total: number } | undefined;

  const serveStatus = async () => readServe(options.serve ?? (await readServeFile(records.paths.serve))?.url, deps, ctx.env);

  const frame = async (): Promise<WatchFrame> => {
    const at = ctx.clock.now();
    const [probes, state, serve, incidents] = await Promise.all([probeAll(config.nodes, deps), records.state.read().catch(() => undefined), serveStatus(), records.incidents.list().catch(() => [])]);
    void records.history.append(probeSamples(probes, at)).catch(() => undefined);
    const breakers = state ? cascadeSection(state).nodes : {};
    const nodes: WatchNode[] = probes.map((p) => {
      const spark = sparks.get(p.id) ?? [];
      spark.push({ ok: p.status === 'ok', ms: p.latencyMs });
      if (spark.length > SPARK) spark.shift();
      sparks.set(p.id, spark);
      const changed = previous.has(p.id) && previous.get(p.id) !== p.status;
      previous.set(p.id, p.status);
      const b = breakers[p.id]?.breaker;
      return {
        id: p.id,
        kind: p.kind,
        status: p.status,
        ...(p.throttled && { throttled: true }),
        latencyMs: p.latencyMs,
        ...(p.detail && { detail: p.detail }),
        spark: [...spark],
        breaker: b ? phaseAt(b, at) : 'closed',
        changed,
        ...(serve?.status.nodes?.[p.id]?.in_flight !== undefined && { inFlight: serve.status.nodes[p.id]!.in_flight! }),
      };
    });
    let failoversPerMin: number | undefined;
    if (serve?.status.failovers_total !== undefined) {
      const total = serve.status.failovers_total;
      if (lastFailovers && at > lastFailovers.at) failoversPerMin = Math.max(0, ((total - lastFailovers.total) * 60_000) / (at - lastFailovers.at));
      lastFailovers = { at, total };
    }
    return {
      at: new Date(at).toISOString(),
      intervalMs: options.intervalMs,
      nodes,
      ...(serve && { serve: { url: serve.url, ...(failoversPerMin !== undefined && { failoversPerMin }) } }),
      incidents: incidents.slice(-5).reverse().map((i) => ({ at: i.at, node: i.node, diagnosis: i.diagnosis, outcome: i.outcome })),
    };
  };

  return ui.runLiveView({
    intervalMs: options.intervalMs,
    signal: ctx.signal,
    color: ctx.out.color,
    frame,
    diagnose: async (id) => {
      const { runDiagnose } = await import('./diagnose.js');
      const { renderDiagnosis } = await import('../ui/diagnose.js');
      return renderDiagnosis(await runDiagnose({ nodeId: id }, quiet), ctx.out);
    },
    recover: async (id) => {
      const { runRecover } = await import('./recover.js');
      const r = await runRecover({ nodeId: id, force: false, wait: false, dryRun: false }, quiet);
      return `${id}: ${r.outcome}${r.plan.action === 'none' ? ` (${r.plan.reason})` : ''}`;
    },
  });
}

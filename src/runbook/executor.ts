/**
 * Runs a recovery plan, one step after the other, timing each. The plan is data (plan.ts); this
 * is the only place its steps touch processes and the network, through the injected deps.
 */
import type { NodeConfig } from '../config/schema.js';
import type { StepRecord, Verification } from '../incidents/incident.js';
import { isJarvisError } from '../errors.js';
import { meaningfulLines } from '../system/logs.js';
import { probeNode, type ProbeDeps, type ProbeResult } from '../probe/probe.js';
import type { PortHolder, PortStop } from '../system/ports.js';
import type { PidRecord } from './ownership.js';
import type { SpawnedProcess } from '../system/process.js';
import type { RecoveryPlan, Step } from './plan.js';
import { verifyNode } from './verify.js';

export interface ExecutorDeps extends ProbeDeps {
  spawn: (argv: readonly string[], options: { logFile: string; env?: NodeJS.ProcessEnv }) => Promise<SpawnedProcess>;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readLogTail: (file: string) => Promise<string>;
  /** Who listens on a local port (see system/ports.ts); undefined when it cannot tell. */
  portHolders: (port: number) => Promise<PortHolder[] | undefined>;
  /** Stops exactly those processes if they still listen on the port; undefined when it cannot tell. */
  stopHolders: (port: number, pids: readonly { pid: number; argv: string[] }[], graceMs: number) => Promise<PortStop | undefined>;
  /** Records what a spawn step started (`<data>/run/<node>.pid`), so that the next recovery can stop it. */
  writePidFile: (node: string, started: Omit<PidRecord, 'startedAt'>) => Promise<void>;
  env: NodeJS.ProcessEnv;
  /** The platform commands run on here (how a process is checked, how a host is pinged). */
  platform: NodeJS.Platform;
  /**
   * Whether this run may have a scheduler's short PATH (cron, a systemd unit, a daemon: no
   * terminal on stdin): then a program not found is said with that likely cause.
   */
  scheduled: boolean;
}

export type StepEvent =
  | { type: 'start'; step: Step; index: number }
  | { type: 'progress'; step: Step; text: string }
  | { type: 'end'; step: Step; record: StepRecord };

export interface ExecutionResult {
  records: StepRecord[];
  verification?: Verification;
  lastProbe?: ProbeResult;
  interrupted: boolean;
  /** Every step that ran succeeded (a failed optional step does not count). */
  ok: boolean;
}

/**
 * How long a spawned server is watched for an immediate failure (not found, bad flags) before it
 * counts as started; a later death is caught while waiting for it to become healthy.
 */
const SPAWN_GRACE_MS = 300;

/** Runs `plan` on `node`; `probe` is what the assessment saw (the served model name, for verify). */
export async function executePlan(plan: RecoveryPlan, node: NodeConfig, deps: ExecutorDeps, probe: ProbeResult, onEvent: (e: StepEvent) => void = () => undefined): Promise<ExecutionResult> {
  return new PlanRun(node, deps, probe, onEvent).run(plan);
}

/** One run of a plan: its steps in order, each a method, with what they leave for the next. */
class PlanRun {
  readonly records: StepRecord[] = [];
  #spawned: (SpawnedProcess & { logFile: string }) | undefined;
  #exitedEarly: { code: number | null } | undefined;
  #lastProbe: ProbeResult;
  #verification: Verification | undefined;

  constructor(
    private readonly node: NodeConfig,
    private readonly deps: ExecutorDeps,
    probe: ProbeResult,
    private readonly onEvent: (e: StepEvent) => void,
  ) {
    this.#lastProbe = probe;
  }

  /** The steps in order, until one that is not optional fails or the run is interrupted. */
  async run(plan: RecoveryPlan): Promise<ExecutionResult> {
    const { deps } = this;
    let interrupted = false;
    let ok = true;
    for (const [index, step] of plan.steps.entries()) {
      if (deps.signal?.aborted) {
        interrupted = true;
        break;
      }
      this.onEvent({ type: 'start', step, index });
      let record: StepRecord;
      try {
        record = await this.#step(step);
      } catch (error) {
        if (deps.signal?.aborted) {
          interrupted = true;
          record = { step: step.kind, label: step.label, ok: false, ms: 0, detail: 'interrupted' };
        } else if (isJarvisError(error)) {
          // A step that could not be taken for a stated reason (its log file cannot be opened): a failed step, recorded as such.
          record = { step: step.kind, label: step.label, ok: false, ms: 0, detail: error.message };
        } else throw error;
      }
      if (deps.signal?.aborted && !record.ok) interrupted = true;
      this.records.push(record);
      this.onEvent({ type: 'end', step, record });
      if (interrupted) break;
      if (!record.ok && !(step.kind === 'command' && step.optional)) {
        ok = false;
        break;
      }
    }
    return { records: this.records, ...(this.#verification && { verification: this.#verification }), lastProbe: this.#lastProbe, interrupted, ok: ok && !interrupted };
  }

  #step(step: Step): Promise<StepRecord> {
    const started = this.deps.now();
    const ms = () => Math.round(this.deps.now() - started);
    const done = (ok: boolean, detail?: string, extra: Partial<StepRecord> = {}): StepRecord => ({ step: step.kind, label: step.label, ok, ms: ms(), ...(detail !== undefined && { detail }), ...extra });
    switch (step.kind) {
      case 'command':
        return this.#command(step, done);
      case 'spawn':
        return this.#spawn(step, done);
      case 'stop_port':
        return this.#stopPort(step, done);
      case 'wait':
        return this.#wait(step, done);
      case 'wait_healthy':
        return this.#waitHealthy(step, ms, done);
      case 'verify':
        return this.#verify(step, done);
    }
  }

  async #command(step: Extract<Step, { kind: 'command' }>, done: Done): Promise<StepRecord> {
    const { deps } = this;
    const r = await deps.run(step.argv, { timeoutMs: step.timeoutMs, env: { ...deps.env, ...step.env }, ...(deps.signal && { signal: deps.signal }) });
    const out = meaningfulLines(`${r.stdout}\n${r.stderr}`);
    const success = r.exitCode === 0;
    const why = r.timedOut ? `timed out after ${step.timeoutMs} ms` : r.notFound || r.exitCode === 127 ? notOnPath(step.argv[0]!, deps.scheduled) : r.exitCode !== undefined ? `exit ${r.exitCode}` : (r.error ?? 'failed');
    return done(success, success ? 'exit 0' : why, out ? { output: out } : {});
  }

  async #spawn(step: Extract<Step, { kind: 'spawn' }>, done: Done): Promise<StepRecord> {
    const { deps } = this;
    const child = await deps.spawn(step.argv, { logFile: step.logFile, env: { ...deps.env, ...step.env } });
    this.#spawned = { ...child, logFile: step.logFile };
    // What it started is written down at once: it is the node's server from now on, and the
    // only process a later recovery may stop without another proof.
    const unrecorded = child.pid === undefined ? undefined : await deps.writePidFile(this.node.id, { pid: child.pid, argv: [...step.argv] }).then(
      () => undefined,
      (error: unknown) => `; its pid file could not be written (${(error as Error).message}): a later recovery will not know it as jarvis's`,
    );
    void child.exited.then((e) => (this.#exitedEarly = e));
    const exited = await Promise.race([child.exited, deps.sleep(SPAWN_GRACE_MS, deps.signal).then(() => undefined)]);
    if (exited && exited.code !== 0) {
      const tail = meaningfulLines(await deps.readLogTail(step.logFile));
      const why = exited.code === 127 ? notOnPath(step.argv[0]!, deps.scheduled) : `exited at once (code ${exited.code ?? exited.signal})`;
      return done(false, why, tail ? { output: tail } : {});
    }
    // Exit 0 is a launcher (a wrapper script, `systemctl start`, `brew services start`) that put
    // the server in the background: the wait for health that follows is the judge.
    if (exited) return done(true, 'exited 0 (a launcher): waiting for the server it started');
    return done(true, `running, pid ${child.pid}, log ${step.logFile}${unrecorded ?? ''}`, child.pid !== undefined ? { pid: child.pid } : {});
  }

  async #stopPort(step: Extract<Step, { kind: 'stop_port' }>, done: Done): Promise<StepRecord> {
    const stopped = await this.deps.stopHolders(step.port, step.pids, step.graceMs);
    if (!stopped) return done(false, 'cannot tell which process listens on the port here (no /proc, no lsof): set `stop` on the node');
    const strangers = stopped.strangers.length > 0 ? `; ${stopped.strangers.map((h) => `pid ${h.pid}`).join(', ')} also listen${stopped.strangers.length === 1 ? 's' : ''}, not named in the plan: left alone` : '';
    if (stopped.pids.length === 0) return done(stopped.strangers.length === 0, `pid ${step.pids.map((p) => p.pid).join(', ')} no longer listens${strangers}`);
    const who = `pid ${stopped.pids.join(', ')}`;
    if (stopped.stillListening) return done(false, `${who}: the port is still held (not ours to signal?)${strangers}: stop it by hand, or set \`stop\` on the node`);
    return done(true, stopped.killed.length > 0 ? `${who} stopped (SIGKILL after ${step.graceMs / 1000} s for ${stopped.killed.join(', ')})` : `${who} stopped (SIGTERM)`);
  }

  async #wait(step: Extract<Step, { kind: 'wait' }>, done: Done): Promise<StepRecord> {
    for (let left = step.seconds; left > 0; left--) {
      this.onEvent({ type: 'progress', step, text: `${left} s left` });
      await this.deps.sleep(1000, this.deps.signal);
    }
    return done(true);
  }

  /** Probes until healthy, loading the model once if the server answers without it, within the step's deadline. */
  async #waitHealthy(step: Extract<Step, { kind: 'wait_healthy' }>, ms: () => number, done: Done): Promise<StepRecord> {
    const { deps } = this;
    let delay = 250;
    let loaded = false;
    for (;;) {
      const p = await probeNode(this.node, deps);
      this.#lastProbe = p;
      if (p.status === 'ok') return done(true, `healthy after ${(ms() / 1000).toFixed(1)} s`);
      if (p.status === 'model_missing' && step.loadModel && !loaded) {
        loaded = true;
        const rec = await this.#step(step.loadModel);
        this.records.push(rec);
        this.onEvent({ type: 'end', step: step.loadModel, record: rec });
        if (!rec.ok) return done(false, 'the model could not be loaded');
        continue;
      }
      if (this.#exitedEarly && this.#exitedEarly.code !== 0 && this.#spawned) {
        const tail = meaningfulLines(await deps.readLogTail(this.#spawned.logFile));
        return done(false, `the started process exited (code ${this.#exitedEarly.code}) before the node was healthy`, tail ? { output: tail } : {});
      }
      if (ms() >= step.deadlineMs) return done(false, `not healthy after ${(step.deadlineMs / 1000).toFixed(0)} s: ${p.status}${p.detail ? ` (${p.detail})` : ''}`);
      this.onEvent({ type: 'progress', step, text: p.status === 'loading' ? 'loading the model…' : `${p.status}, retrying in ${delay} ms` });
      await deps.sleep(Math.min(delay, Math.max(0, step.deadlineMs - ms())), deps.signal);
      delay = Math.min(Math.round(delay * 1.5), 2000);
    }
  }

  async #verify(step: Extract<Step, { kind: 'verify' }>, done: Done): Promise<StepRecord> {
    const v = await verifyNode(this.node, this.#lastProbe, this.deps, step.timeoutMs);
    this.#verification = v;
    const detail = v.ok ? `answered "${v.content}" in ${v.latencyMs} ms${v.tokensPerSecond !== undefined ? ` (${v.tokensPerSecond} tokens/s)` : ''}` : (v.detail ?? 'failed');
    return done(v.ok, detail);
  }
}

/** A step's record, with its time. */
type Done = (ok: boolean, detail?: string, extra?: Partial<StepRecord>) => StepRecord;

/** A missing program; run by a scheduler, the usual cause is its short PATH. */
function notOnPath(program: string, scheduled: boolean): string {
  if (program.includes('/')) return `${program}: no such file (exit 127)`;
  return scheduled ? `${program}: not found on PATH (cron's and services' PATH is short: use an absolute path)` : `${program}: not found on PATH (exit 127)`;
}

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
  const records: StepRecord[] = [];
  const state: { spawned?: SpawnedProcess & { logFile: string }; exitedEarly?: { code: number | null }; lastProbe?: ProbeResult; verification?: Verification } = { lastProbe: probe };
  let interrupted = false;
  let ok = true;

  const runStep = async (step: Step): Promise<StepRecord> => {
    const started = deps.now();
    const ms = () => Math.round(deps.now() - started);
    const progress = (text: string) => onEvent({ type: 'progress', step, text });
    switch (step.kind) {
      case 'command': {
        const r = await deps.run(step.argv, { timeoutMs: step.timeoutMs, env: { ...deps.env, ...step.env }, ...(deps.signal && { signal: deps.signal }) });
        const out = meaningfulLines(`${r.stdout}\n${r.stderr}`);
        const success = r.exitCode === 0;
        const why = r.timedOut ? `timed out after ${step.timeoutMs} ms` : r.notFound || r.exitCode === 127 ? notOnPath(step.argv[0]!, deps.scheduled) : r.exitCode !== undefined ? `exit ${r.exitCode}` : (r.error ?? 'failed');
        return { step: step.kind, label: step.label, ok: success, ms: ms(), detail: success ? 'exit 0' : why, ...(out && { output: out }) };
      }
      case 'spawn': {
        const child = await deps.spawn(step.argv, { logFile: step.logFile, env: { ...deps.env, ...step.env } });
        state.spawned = { ...child, logFile: step.logFile };
        // What it started is written down at once: it is the node's server from now on, and the
        // only process a later recovery may stop without another proof.
        const unrecorded = child.pid === undefined ? undefined : await deps.writePidFile(node.id, { pid: child.pid, argv: [...step.argv] }).then(
          () => undefined,
          (error: unknown) => `; its pid file could not be written (${(error as Error).message}): a later recovery will not know it as jarvis's`,
        );
        void child.exited.then((e) => (state.exitedEarly = e));
        const exited = await Promise.race([child.exited, deps.sleep(SPAWN_GRACE_MS, deps.signal).then(() => undefined)]);
        if (exited && exited.code !== 0) {
          const tail = meaningfulLines(await deps.readLogTail(step.logFile));
          const why = exited.code === 127 ? notOnPath(step.argv[0]!, deps.scheduled) : `exited at once (code ${exited.code ?? exited.signal})`;
          return { step: step.kind, label: step.label, ok: false, ms: ms(), detail: why, ...(tail && { output: tail }) };
        }
        // Exit 0 is a launcher (a wrapper script, `systemctl start`, `brew services start`) that put
        // the server in the background: the wait for health that follows is the judge.
        if (exited) return { step: step.kind, label: step.label, ok: true, ms: ms(), detail: 'exited 0 (a launcher): waiting for the server it started' };
        return { step: step.kind, label: step.label, ok: true, ms: ms(), detail: `running, pid ${child.pid}, log ${step.logFile}${unrecorded ?? ''}`, ...(child.pid !== undefined && { pid: child.pid }) };
      }
      case 'stop_port': {
        const stopped = await deps.stopHolders(step.port, step.pids, step.graceMs);
        if (!stopped) return { step: step.kind, label: step.label, ok: false, ms: ms(), detail: 'cannot tell which process listens on the port here (no /proc, no lsof): set `stop` on the node' };
        const strangers = stopped.strangers.length > 0 ? `; ${stopped.strangers.map((h) => `pid ${h.pid}`).join(', ')} also listen${stopped.strangers.length === 1 ? 's' : ''}, not named in the plan: left alone` : '';
        if (stopped.pids.length === 0) return { step: step.kind, label: step.label, ok: stopped.strangers.length === 0, ms: ms(), detail: `pid ${step.pids.map((p) => p.pid).join(', ')} no longer listens${strangers}` };
        const who = `pid ${stopped.pids.join(', ')}`;
        if (stopped.stillListening) return { step: step.kind, label: step.label, ok: false, ms: ms(), detail: `${who}: the port is still held (not ours to signal?)${strangers}: stop it by hand, or set \`stop\` on the node` };
        return { step: step.kind, label: step.label, ok: true, ms: ms(), detail: stopped.killed.length > 0 ? `${who} stopped (SIGKILL after ${step.graceMs / 1000} s for ${stopped.killed.join(', ')})` : `${who} stopped (SIGTERM)` };
      }
      case 'wait': {
        for (let left = step.seconds; left > 0; left--) {
          progress(`${left} s left`);
          await deps.sleep(1000, deps.signal);
        }
        return { step: step.kind, label: step.label, ok: true, ms: ms() };
      }
      case 'wait_healthy': {
        let delay = 250;
        let loaded = false;
        for (;;) {
          const p = await probeNode(node, deps);
          state.lastProbe = p;
          if (p.status === 'ok') return { step: step.kind, label: step.label, ok: true, ms: ms(), detail: `healthy after ${(ms() / 1000).toFixed(1)} s` };
          if (p.status === 'model_missing' && step.loadModel && !loaded) {
            loaded = true;
            const rec = await runStep(step.loadModel);
            records.push(rec);
            onEvent({ type: 'end', step: step.loadModel, record: rec });
            if (!rec.ok) return { step: step.kind, label: step.label, ok: false, ms: ms(), detail: 'the model could not be loaded' };
            continue;
          }
          if (state.exitedEarly && state.exitedEarly.code !== 0 && state.spawned) {
            const tail = meaningfulLines(await deps.readLogTail(state.spawned.logFile));
            return { step: step.kind, label: step.label, ok: false, ms: ms(), detail: `the started process exited (code ${state.exitedEarly.code}) before the node was healthy`, ...(tail && { output: tail }) };
          }
          if (ms() >= step.deadlineMs) {
            return { step: step.kind, label: step.label, ok: false, ms: ms(), detail: `not healthy after ${(step.deadlineMs / 1000).toFixed(0)} s: ${p.status}${p.detail ? ` (${p.detail})` : ''}` };
          }
          progress(p.status === 'loading' ? 'loading the model…' : `${p.status}, retrying in ${delay} ms`);
          await deps.sleep(Math.min(delay, Math.max(0, step.deadlineMs - ms())), deps.signal);
          delay = Math.min(Math.round(delay * 1.5), 2000);
        }
      }
      case 'verify': {
        const v = await verifyNode(node, state.lastProbe, deps, step.timeoutMs);
        state.verification = v;
        const detail = v.ok ? `answered "${v.content}" in ${v.latencyMs} ms${v.tokensPerSecond !== undefined ? ` (${v.tokensPerSecond} tokens/s)` : ''}` : (v.detail ?? 'failed');
        return { step: step.kind, label: step.label, ok: v.ok, ms: ms(), detail };
      }
    }
  };

  for (const [index, step] of plan.steps.entries()) {
    if (deps.signal?.aborted) {
      interrupted = true;
      break;
    }
    onEvent({ type: 'start', step, index });
    let record: StepRecord;
    try {
      record = await runStep(step);
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
    records.push(record);
    onEvent({ type: 'end', step, record });
    if (interrupted) break;
    if (!record.ok && !(step.kind === 'command' && step.optional)) {
      ok = false;
      break;
    }
  }
  return { records, ...(state.verification && { verification: state.verification }), ...(state.lastProbe && { lastProbe: state.lastProbe }), interrupted, ok: ok && !interrupted };
}

/** A missing program; run by a scheduler, the usual cause is its short PATH. */
function notOnPath(program: string, scheduled: boolean): string {
  if (program.includes('/')) return `${program}: no such file (exit 127)`;
  return scheduled ? `${program}: not found on PATH (cron's and services' PATH is short: use an absolute path)` : `${program}: not found on PATH (exit 127)`;
}

/**
 * Runbook steps 3 and 4 as a plan: from the diagnosis, what to do on this node, as a list of
 * steps (data). One executor runs them; `--dry-run` prints them. Pure: no I/O here.
 */
import type { Config, NodeConfig } from '../config/schema.js';
import type { ProbeResult } from '../probe/probe.js';
import type { Diagnosis } from './diagnosis.js';
import type { KindFacts, Runbook } from './runbook.js';
import { displayArgv } from '../system/process.js';
import type { PortHolder } from '../system/ports.js';
import { describeHolder, otherLocalPorts, ownership, portOf, type PidRecord } from './ownership.js';
import { commandOn, targetFor } from './target.js';
import { fillArgv, loadModelArgv, startArgvOf, startStep } from './commands.js';

export type Step =
  /** Run a command to its end; ok on exit 0. */
  | { kind: 'command'; label: string; argv: string[]; timeoutMs: number; env?: Record<string, string>; optional?: boolean }
  /** Start a long-running server detached, output to a log file; ok if it is still running (or exited 0). */
  | { kind: 'spawn'; label: string; argv: string[]; env?: Record<string, string>; logFile: string }
  /** Sleep, then re-probe (a quota that resets). */
  | { kind: 'wait'; label: string; seconds: number }
  /** Poll the probe with backoff until the node is healthy (loading counts as progress). */
  | { kind: 'wait_healthy'; label: string; deadlineMs: number; loadModel?: Step }
  /** The runbook's verification: a tiny chat completion. */
  | { kind: 'verify'; label: string; timeoutMs: number }
  /**
   * Stop the processes named (shown to be the node's own server) that still listen on this
   * machine's `port` with the same command line: SIGTERM, then SIGKILL after `graceMs`.
   */
  | { kind: 'stop_port'; label: string; port: number; pids: { pid: number; argv: string[] }[]; graceMs: number };

/** `refused`: a restart is called for, but jarvis cannot do it without harm (the reason says why): not recovered. */
type PlanAction = 'verify' | 'restart' | 'wait' | 'load_model' | 'none' | 'refused';

export interface RecoveryPlan {
  node: string;
  action: PlanAction;
  /** Why this action (and not another), in words. */
  reason: string;
  steps: Step[];
}

export interface PlanInput {
  config: Config;
  runbook: Runbook;
  node: NodeConfig;
  probe: ProbeResult;
  diagnosis: Diagnosis;
  /** Is the service's process alive? null: could not tell. */
  processAlive: boolean | null;
  /**
   * Who listens on the node's port on this machine (local nodes whose port is taken), or
   * undefined when that cannot be told here.
   */
  holders: PortHolder[] | undefined;
  /** What jarvis wrote when it last started this node's server. */
  pidFile?: PidRecord;
  force: boolean;
  /** Wait out a quota (false with --no-wait). */
  wait: boolean;
  logDir: string;
}

/** Builds the recovery plan for one node. */
export function planRecovery(input: PlanInput): RecoveryPlan {
  const { node, probe, diagnosis: d, config, force } = input;
  const plan = (action: PlanAction, reason: string, steps: Step[] = []): RecoveryPlan => ({ node: node.id, action, reason, steps });
  const verify: Step = { kind: 'verify', label: 'verify with a ping completion', timeoutMs: config.recover.verifyTimeoutMs };
  const waitHealthy = (loadModel?: Step, deadlineMs = config.recover.healthTimeoutMs): Step => ({
    kind: 'wait_healthy',
    label: 'wait until healthy',
    deadlineMs,
    ...(loadModel && { loadModel }),
  });

  if (d.severity === 'ok') return plan('verify', 'the node answers: verify only', [verify]);
  if (node.impact === 'low' && !force) {
    return plan('none', 'low-impact node: the runbook asks for no urgent action (--force restarts it)');
  }

  const restart = () => {
    const steps = restartSteps(input);
    if (typeof steps === 'string') return plan('none', steps);
    if ('refused' in steps) return plan('refused', steps.refused);
    return plan('restart', `${d.cause}: restart the service, wait until healthy, verify`, [...steps, waitHealthy(loadModelStep(input)), verify]);
  };

  switch (d.recovery) {
    case 'restart':
      return restart();
    case 'load_model': {
      const load = loadModelStep(input);
      if (!load) return plan('none', `${d.cause}: no way to load ${node.model ?? 'the model'} from here (${node.kind})`);
      return plan('load_model', `${d.cause}: load ${node.model}, wait until healthy, verify`, [load, waitHealthy(), verify]);
    }
    case 'wait': {
      if (probe.status === 'loading') return plan('wait', 'the model is loading: wait until healthy, verify', [waitHealthy(), verify]);
      if (!input.wait) return plan('none', `${d.cause}: not waiting (--no-wait); check again later`);
      const seconds = Math.min(probe.retryAfterS ?? 60, config.recover.quotaWaitMaxS);
      return plan('wait', `${d.cause}: wait ${seconds} s for the quota, then check again`, [
        { kind: 'wait', label: `wait ${seconds} s for the quota to reset`, seconds },
        waitHealthy(undefined, Math.min(config.recover.healthTimeoutMs, node.timeoutMs * 2 + 1000)),
        verify,
      ]);
    }
    case 'hold':
      // Working, only slow or overloaded: a restart would drop what it is doing.
      if (!force) return plan('none', `${d.cause}: ${d.evidence ?? d.meaning}; not restarting (--force restarts it)`);
      return restart();
    case 'restart_hung':
      if (force || config.recover.restartHung) return restart();
      return plan('none', `${d.cause}: a restart would help, but jarvis restarts a hung node only with --force or with recover.restartHung: true in the config`);
    case 'investigate': {
      if (probe.status === 'timeout') {
        if (input.processAlive === false) return restart();
        if (!force) {
          return plan(
            'none',
            input.processAlive
              ? 'overloaded: the process is alive but does not answer in time; not killing it (--force restarts it)'
              : 'timeout, and whether the process is alive cannot be told from here; not restarting (--force restarts it)',
          );
        }
        return restart();
      }
      if (!force) return plan('none', `${d.cause}: needs a look before anything is restarted (--force restarts it)`);
      return restart();
    }
    default:
      return plan('none', noRestartReason(d));
  }
}

function noRestartReason(d: Diagnosis): string {
  if (d.status === 'unreachable' || d.rule === 'timeout-host-down') return `${d.cause}: network or hardware; nothing to restart from here`;
  if (d.status === 'dns') return `${d.cause}: fix the name or the DNS; nothing to restart`;
  return `${d.cause}: nothing to restart`;
}

/** The stop + start steps for a node, why there are none, or why jarvis refuses to take them. */
function restartSteps(input: PlanInput): Step[] | string | { refused: string } {
  const { node, runbook, probe, logDir } = input;
  const facts: KindFacts = runbook.kinds[node.kind] ?? {};
  const target = targetFor(node);
  if (!target) return `${node.id} is on ${node.host ?? 'another machine'}: set \`ssh\` in its config to restart it from here`;
  const start = startStep(node, runbook, logDir);
  if (typeof start === 'string') return start;
  if (node.systemdUnit) return [start];
  // Something still holds the port (it answered, or hung): it must go before the new one starts.
  const occupied = probe.status !== 'refused' && input.processAlive !== false;
  // The node's own stop command is the person's word for what stops its server: used as it is.
  if (node.stop) return occupied ? [{ kind: 'command', label: `stop: ${displayArgv(node.stop)}`, argv: commandOn(target, node.stop), timeoutMs: 30_000 }, start] : [start];

  if (target.kind === 'ssh') {
    // There, with the kind's stop command (the remote's processes cannot be checked from here).
    const stop = node.restart ? undefined : (facts.stopRemote ?? facts.stop);
    if (!occupied || !stop) return [start];
    return [{ kind: 'command', label: 'stop the service', argv: commandOn(target, fillArgv(stop, node)), timeoutMs: 20_000, optional: true }, start];
  }

  // Here, on this machine: whatever holds the port is stopped only if it is the node's own server.
  const port = portOf(node);
  if (port === undefined) return [start];
  if (!input.holders) return { refused: `cannot tell which process holds port ${port} here (no /proc, no lsof): not stopping anything; set \`stop\` on the node to say how to stop its server` };
  if (input.holders.length === 0) return [start];
  const startArgv = start.kind === 'spawn' ? start.argv : startArgvOf(node, facts);
  const judge = { node, facts, startArgv, otherPorts: otherLocalPorts(input.config, node), pidFile: input.pidFile };
  const judged = input.holders.map((h) => ({ h, o: ownership(h, judge) }));
  const foreign = judged.find((j) => !j.o.own);
  if (foreign) return { refused: `port ${port} is held by ${describeHolder(foreign.h)}, which is not this node's server (${foreign.o.because}): not stopping it` };
  const who = judged.map((j) => `${describeHolder(j.h)}, ${j.o.because}`).join('; ');
  // The kind's own stop command ends its server only (`lms server stop`); else the pids, exactly.
  if (facts.stop && !node.restart) return [{ kind: 'command', label: `stop the service (${who}): ${displayArgv(fillArgv(facts.stop, node))}`, argv: fillArgv(facts.stop, node), timeoutMs: 20_000, optional: true }, start];
  return [{ kind: 'stop_port', label: `stop ${who}, on port ${port}`, port, pids: judged.map((j) => ({ pid: j.h.pid, argv: j.h.argv })), graceMs: 5000 }, start];
}

function loadModelStep(input: PlanInput): Step | undefined {
  const { node, runbook } = input;
  const argv = loadModelArgv(node, runbook);
  if (!argv) return undefined;
  if (node.kind === 'lmstudio') return { kind: 'command', label: `load ${node.model}: ${displayArgv(argv)}`, argv, timeoutMs: 300_000 };
  // A pull downloads gigabytes: only when the config allows it, with room for a large model.
  if (node.kind === 'ollama' && input.config.recover.pullMissing) return { kind: 'command', label: `pull ${node.model}: ${displayArgv(argv)}`, argv, timeoutMs: 3_600_000 };
  return undefined;
}

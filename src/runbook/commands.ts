/**
 * The commands a recovery runs and a diagnosis shows, built in one place below both: placeholders
 * filled, the service's start (systemd, the node's own, its kind's), loading a model, and the
 * process checks with what their output means (docs/protocols.md).
 */
import type { NodeConfig } from '../config/schema.js';
import type { Step } from './plan.js';
import type { KindFacts, Runbook } from './runbook.js';
import { displayArgv } from '../system/process.js';
import { portOf } from './ownership.js';
import { commandOn, targetFor, type Target } from './target.js';

/** Fills a runbook argv's placeholders for a node: {port}, {model}, {unit}. */
export function fillArgv(argv: readonly string[], node: NodeConfig): string[] {
  const port = String(portOf(node) ?? '');
  return argv.map((a) => a.replace('{port}', port).replace('{model}', node.model ?? '').replace('{unit}', node.systemdUnit ?? ''));
}

/**
 * The argv that (re)starts a node's service on its machine, before it is put on a target: the
 * systemd unit's restart, else the node's own `restart`, else its kind's; undefined when none is
 * known.
 */
export function serviceArgv(node: NodeConfig, facts: KindFacts): string[] | undefined {
  if (node.systemdUnit) return fillArgv(facts.systemd ?? ['systemctl', 'restart', '{unit}'], node);
  return startArgvOf(node, facts);
}

/** The argv that starts the server itself (not through systemd): the node's `restart`, else its kind's. */
export function startArgvOf(node: NodeConfig, facts: KindFacts): string[] | undefined {
  return node.restart ?? (facts.restart ? fillArgv(facts.restart, node) : undefined);
}

/**
 * The step that (re)starts a node's service, exactly as a recovery runs it (and as `diagnose`
 * shows it), or why there is none.
 */
export function startStep(node: NodeConfig, runbook: Runbook, logDir: string): Extract<Step, { kind: 'command' | 'spawn' }> | string {
  const facts: KindFacts = runbook.kinds[node.kind] ?? {};
  const target = targetFor(node);
  if (!target) return `${node.id} is on ${node.host ?? 'another machine'}: set \`ssh\` in its config to restart it from here`;
  if (node.systemdUnit) return { kind: 'command', label: `restart ${node.systemdUnit} (systemd)`, argv: commandOn(target, serviceArgv(node, facts)!), timeoutMs: 60_000 };
  const startArgv = startArgvOf(node, facts);
  if (!startArgv) return `no restart command known for ${node.id} (${node.kind}): set \`restart\` (an argv) in its config`;
  // Ollama listens where OLLAMA_HOST says: make it the node's configured address.
  const env = node.kind === 'ollama' && node.url && !node.restart ? { OLLAMA_HOST: new URL(node.url).host } : undefined;
  const mode = node.restart ? 'spawn' : (facts.restartMode ?? 'spawn');
  const label = `start: ${displayArgv(startArgv)}`;
  if (mode === 'run') return { kind: 'command', label, argv: commandOn(target, startArgv, env ? { env } : {}), timeoutMs: 60_000 };
  if (target.kind === 'local') return { kind: 'spawn', label, argv: startArgv, ...(env && { env }), logFile: `${logDir}/${node.id}.log` };
  // Over ssh a server is put in the background on the remote side; its log stays there.
  const remoteLog = `/tmp/jarvis-${node.id}.log`;
  return { kind: 'command', label: `${label} (on ${target.target}, log ${remoteLog})`, argv: commandOn(target, startArgv, { ...(env && { env }), background: { logFile: remoteLog } }), timeoutMs: 30_000 };
}

/** The argv that loads (LM Studio) or pulls (Ollama) the node's model on its machine, as it would run. */
export function loadModelArgv(node: NodeConfig, runbook: Runbook): string[] | undefined {
  const target = targetFor(node);
  if (!node.model || !target) return undefined;
  const facts = runbook.kinds[node.kind];
  const argv = node.kind === 'lmstudio' ? (facts?.loadModel ?? ['lms', 'load', '{model}', '-y']) : node.kind === 'ollama' ? (facts?.loadModel ?? ['ollama', 'pull', '{model}']) : facts?.loadModel;
  return argv ? commandOn(target, fillArgv(argv, node)) : undefined;
}

/** How to tell whether the service's process is alive, or undefined when we cannot. */
export function processCheck(node: NodeConfig, runbook: Runbook, platform: NodeJS.Platform): { argv: string[]; read: 'exit' | 'tasklist' | 'lms-status'; name?: string } | undefined {
  const target = targetFor(node);
  if (!target || node.process === false) return undefined;
  const facts = runbook.kinds[node.kind] ?? {};
  if (node.kind === 'lmstudio' && !node.process && facts.status) return { argv: commandOn(target, facts.status), read: 'lms-status' };
  // A custom restart command runs some other program: only an explicit process name helps then.
  const name = node.process ?? (node.restart ? undefined : platform === 'win32' && target.kind === 'local' ? facts.processWindows : facts.process);
  if (!name) return undefined;
  return { ...aliveCheck(target, name, platform), name };
}

/** The command that tells whether a process of this name runs on the target. */
export function aliveCheck(target: Target, name: string, platform: NodeJS.Platform): { argv: string[]; read: 'exit' | 'tasklist' } {
  if (platform === 'win32' && target.kind === 'local') return { argv: ['tasklist', '/FI', `IMAGENAME eq ${name}`, '/FO', 'CSV', '/NH'], read: 'tasklist' };
  return { argv: commandOn(target, ['pgrep', '-x', name]), read: 'exit' };
}

/** Reads `tasklist /FO CSV /NH` output: exit code is 0 either way (docs/protocols.md). */
export function tasklistHas(stdout: string, image: string): boolean {
  return stdout
    .split(/\r?\n/)
    .some((line) => line.toLowerCase().startsWith(`"${image.toLowerCase()}"`));
}

/** Reads `lms server status --json`: {"running":true,"port":1234}. */
export function lmsRunning(stdout: string): boolean | null {
  try {
    const json = JSON.parse(stdout.trim().split('\n').pop() ?? '') as { running?: unknown };
    return typeof json.running === 'boolean' ? json.running : null;
  } catch {
    return null;
  }
}


/**
 * Is the process that holds a node's port this node's own server? The one rule that decides
 * whether a recovery may stop a process (jarvis never stops what it cannot show is the node's):
 *
 * - a process that also listens on another configured node's port serves more than this node
 *   (one simulator for six nodes, a Docker proxy, a supervisor): never;
 * - a process whose command line cannot be read cannot be told: never;
 * - the process jarvis started for this node (its pid file, same command line): yes;
 * - a program named as the node's `process`, or one of its kind's servers (ollama, LM Studio,
 *   llama-server): yes;
 * - a process running the node's own start command (its argv, extra trailing arguments allowed): yes.
 *
 * Pure: the holders and the pid file are read by the caller (system/ports.ts, runbook/pid-file.ts).
 */
import path from 'node:path';
import type { Config, NodeConfig } from '../config/schema.js';
import type { PortHolder } from '../system/ports.js';
import { programOf, sameProcess } from '../system/ports.js';
import { displayArgv } from '../system/process.js';
import type { KindFacts } from './runbook.js';
import { targetFor } from './target.js';

import type { PidRecord } from '../store/pid-files.js';

export type { PidRecord };

export type Ownership = { own: true; because: string } | { own: false; because: string };

/** The TCP port of a node's URL (the scheme's default when none is written). */
export function portOf(node: Pick<NodeConfig, 'url'>): number | undefined {
  if (!node.url) return undefined;
  const u = new URL(node.url);
  return Number(u.port || (u.protocol === 'https:' ? 443 : 80));
}

/** The ports of the other nodes served from this machine, and whose they are. */
export function otherLocalPorts(config: Config, node: NodeConfig): Map<number, string> {
  const own = portOf(node);
  const ports = new Map<number, string>();
  for (const n of config.nodes) {
    if (n.id === node.id || targetFor(n)?.kind !== 'local' || n.ssh) continue;
    const p = portOf(n);
    if (p !== undefined && p !== own && !ports.has(p)) ports.set(p, n.id);
  }
  return ports;
}

/** How a holder is named in a plan and a refusal: pid and command line. */
export function describeHolder(holder: Pick<PortHolder, 'pid' | 'argv' | 'exe'>): string {
  const command = holder.argv.length > 0 ? displayArgv(holder.argv) : holder.exe ? displayArgv([holder.exe]) : 'command line unreadable';
  return `pid ${holder.pid} (\`${command.length > 160 ? `${command.slice(0, 157)}...` : command}\`)`;
}

const base = (file: string) => path.basename(file).toLowerCase();

/** Does the process run `argv` (the program by name, then the same arguments, more allowed after)? */
function runs(holder: PortHolder, argv: readonly string[]): boolean {
  const [program, ...args] = argv;
  if (!program || holder.argv.length === 0) return false;
  if (base(holder.argv[0]!) !== base(program) && programOf(holder).toLowerCase() !== base(program)) return false;
  return args.every((a, i) => holder.argv[i + 1] === a);
}

export interface OwnershipInput {
  node: NodeConfig;
  facts: KindFacts;
  /** The node's start command as a recovery would run it (locally), if any. */
  startArgv: readonly string[] | undefined;
  otherPorts: Map<number, string>;
  pidFile: PidRecord | undefined;
}

/** Decides whether `holder` is the node's own server, and says why in words. */
export function ownership(holder: PortHolder, input: OwnershipInput): Ownership {
  const shared = holder.ports.filter((p) => input.otherPorts.has(p));
  if (shared.length > 0) {
    const list = shared.slice(0, 3).map((p) => `${p} (${input.otherPorts.get(p)})`).join(', ');
    return { own: false, because: `it also serves port${shared.length > 1 ? 's' : ''} ${list}${shared.length > 3 ? ` and ${shared.length - 3} more` : ''} of other nodes` };
  }
  if (holder.argv.length === 0 && !holder.exe) return { own: false, because: 'its command line cannot be read' };
  if (input.pidFile && sameProcess(holder, input.pidFile)) return { own: true, because: `jarvis started it for ${input.node.id} (pid file)` };
  const program = programOf(holder).toLowerCase();
  const argv0 = holder.argv[0] ? base(holder.argv[0]) : '';
  const named = (name: string) => program === name.toLowerCase() || argv0 === name.toLowerCase();
  if (typeof input.node.process === 'string' && named(input.node.process)) return { own: true, because: `it is \`${input.node.process}\`, the node's process` };
  const server = (input.facts.servers ?? []).find(named);
  if (server) return { own: true, because: `it is \`${server}\`, the server of a ${input.node.kind} node` };
  if (input.startArgv && runs(holder, input.startArgv)) return { own: true, because: "it runs the node's own start command" };
  return { own: false, because: `it is neither a ${input.node.kind} server nor the node's start command, and jarvis did not start it` };
}

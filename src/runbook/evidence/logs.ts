/**
 * Log evidence: the last lines of the service's log, with the lines that look like errors picked
 * out (out of memory, CUDA / Metal / ROCm errors, a port in use, panics, tracebacks) and how long
 * ago it was last written. Where the log is, first found wins: the node's `logCommand` or
 * `logFile`, the journal of its `systemdUnit` (systemd restarts it then, never jarvis), else the
 * log jarvis wrote when it started the service (`<data>/logs/<id>.log`, or
 * `/tmp/jarvis-<id>.log` on the remote side), then Ollama's
 * usual places (its systemd unit on Linux, ~/.ollama/logs/server.log on macOS,
 * %LOCALAPPDATA%\Ollama\server.log on Windows).
 */
import { open } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import type { NodeConfig } from '../../config/schema.js';
import type { CommandResult, CommandRunner } from '../../system/process.js';
import { commandOn, type Target } from '../target.js';
import { commandUnknown, unknown, type Finding, type Unknown } from './finding.js';
import { oneLine } from '../../system/text.js';

export const LOG_KINDS = ['oom', 'gpu', 'port', 'panic', 'error'] as const;
export type LogKind = (typeof LOG_KINDS)[number];

export interface LogLine {
  kind: LogKind;
  text: string;
}

export type LogsFinding = Finding<{
  /** The file or command read. */
  file: string;
  /** Lines read (the tail). */
  lines: number;
  /** The last error-looking lines, oldest first (at most 3). */
  errors: LogLine[];
  /** The very last lines, for context. */
  last: string[];
  /** Seconds since the log was last written, when that can be told. */
  ageS?: number;
}>;

const TAIL_LINES = 200;

const PATTERNS: [LogKind, RegExp][] = [
  ['oom', /out of memory|\bOOM\b|cudaMalloc failed|failed to allocate|insufficient memory|not enough memory|ErrorOutOfDeviceMemory|hipErrorOutOfMemory|unable to allocate/i],
  ['gpu', /CUDA error|cuda[A-Za-z]*Error|ggml_metal.*(fail|error)|Metal.*error|ROCm error|hipError|HIP error|GPU has fallen off the bus|\bXid\b|NVRM:/i],
  ['port', /address already in use|EADDRINUSE|bind\(\) failed|only one usage of each socket address/i],
  ['panic', /^panic:|\bpanic:|goroutine \d+ \[|Traceback \(most recent call last\)|Segmentation fault|SIGSEGV|SIGABRT|core dumped|fatal error:/i],
  ['error', /\b(error|fatal|failed|failure|exception)\b|timed out waiting for llama runner/i],
];

/** The kind of trouble a log line reports, if any. */
export function classifyLine(line: string): LogKind | undefined {
  // An access-log line that merely mentions a path or a 200 is not trouble.
  if (/\|\s*2\d\d\s*\|/.test(line)) return undefined;
  for (const [kind, re] of PATTERNS) if (re.test(line)) return kind;
  return undefined;
}

/** Reads a log's tail: its error lines (the last three) and its last lines. */
export function readLog(text: string): { lines: number; errors: LogLine[]; last: string[] } {
  const lines = text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim())
    .slice(-TAIL_LINES)
    // A log line as a line of jarvis's output: no secret, no control character a terminal obeys.
    .map(oneLine);
  const errors: LogLine[] = [];
  for (const l of lines) {
    const kind = classifyLine(l);
    if (kind) errors.push({ kind, text: l.length > 240 ? `${l.slice(0, 239)}…` : l });
  }
  // The worst kinds first when there are more than three: an OOM line beats a generic error.
  const rank = (k: LogKind) => LOG_KINDS.indexOf(k);
  const picked = errors.length <= 3 ? errors : [...errors].map((e, i) => ({ e, i })).sort((a, b) => rank(a.e.kind) - rank(b.e.kind) || b.i - a.i).slice(0, 3).sort((a, b) => a.i - b.i).map((x) => x.e);
  return { lines: lines.length, errors: picked, last: lines.slice(-3) };
}

/** journalctl -o short-iso: the last entry's time (`2026-12-02T17:03:08+0000 host ollama[12]: ...`). */
function journalAge(text: string, nowMs: number): number | undefined {
  const lines = text.trim().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[+-]\d{2}:?\d{2}|Z)?)/.exec(lines[i]!);
    if (m) {
      const t = Date.parse(m[1]!.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
      if (Number.isFinite(t)) return Math.max(0, Math.round((nowMs - t) / 1000));
    }
  }
  return undefined;
}

export interface LogsContext {
  run: CommandRunner;
  target: Target | undefined;
  where: string;
  platform: NodeJS.Platform;
  logDir: string;
  timeoutMs: number;
  /** Wall-clock ms, for the age of the log. */
  now: () => number;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

type Source = { label: string; read: () => Promise<{ text: string; ageS?: number } | Unknown> };

async function readLocalTail(file: string, nowMs: number): Promise<{ text: string; ageS: number } | Unknown> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return unknown(code === 'EACCES' || code === 'EPERM' ? 'permission' : 'missing', `${file}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  try {
    const { size, mtimeMs } = await handle.stat();
    const length = Math.min(size, 65536);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return { text: buffer.toString('utf8'), ageS: Math.max(0, Math.round((nowMs - mtimeMs) / 1000)) };
  } finally {
    await handle.close();
  }
}

/** The remote file's age (by the remote clock) and tail, in one ssh round: `date`, `stat`, `tail`. */
const REMOTE_TAIL = ['sh', '-c', 'date +%s && stat -c %Y "$1" && tail -n 200 "$1"', 'sh'];

function remoteTail(r: CommandResult): { text: string; ageS?: number } | undefined {
  if (r.exitCode !== 0) return undefined;
  const [now, mtime, ...rest] = r.stdout.split('\n');
  const age = Number(now) - Number(mtime);
  return { text: rest.join('\n'), ...(Number.isFinite(age) && { ageS: Math.max(0, age) }) };
}

function sources(node: NodeConfig, ctx: LogsContext): Source[] {
  const list: Source[] = [];
  const run = (argv: readonly string[]) => ctx.run(commandOn(ctx.target!, argv), { timeoutMs: ctx.timeoutMs, ...(ctx.signal && { signal: ctx.signal }) });
  const commandSource = (label: string, argv: readonly string[], tool: string, age?: (text: string) => number | undefined): Source => ({
    label,
    read: async () => {
      const r = await run(argv);
      if (r.exitCode !== 0) return commandUnknown(r, tool, ctx.where);
      if (!r.stdout.trim() || /^-- No entries --$/m.test(r.stdout)) return unknown('missing', `${label}: no entries`);
      const ageS = age?.(r.stdout);
      return { text: r.stdout, ...(ageS !== undefined && { ageS }) };
    },
  });
  const fileSource = (file: string): Source => ({
    label: ctx.target?.kind === 'ssh' ? `${file} on ${ctx.where}` : file,
    read: async () => {
      if (ctx.target?.kind !== 'ssh') return readLocalTail(file, ctx.now());
      const r = await run([...REMOTE_TAIL, file]);
      return remoteTail(r) ?? (r.exitCode === 1 ? unknown('missing', `${file} on ${ctx.where}: no such file`) : commandUnknown(r, 'tail', ctx.where));
    },
  });
  const journal = (unit: string): Source => commandSource(`journalctl -u ${unit}`, ['journalctl', '-u', unit, '-n', String(TAIL_LINES), '--no-pager', '-o', 'short-iso'], 'journalctl', (t) => journalAge(t, ctx.now()));

  if (node.logCommand && ctx.target) list.push(commandSource(node.logCommand.join(' '), node.logCommand, node.logCommand[0]!));
  if (node.logFile) list.push(fileSource(node.logFile));
  // A unit's service is restarted by systemd, never by jarvis: its journal is the live log.
  if (ctx.target && node.systemdUnit) list.push(journal(node.systemdUnit));
  else if (ctx.target) list.push(fileSource(ctx.target.kind === 'ssh' ? `/tmp/jarvis-${node.id}.log` : path.join(ctx.logDir, `${node.id}.log`)));
  if (ctx.target && node.kind === 'ollama') {
    const local = ctx.target.kind === 'local';
    if (local && ctx.platform === 'darwin') list.push(fileSource(path.join(homedir(), '.ollama', 'logs', 'server.log')));
    else if (local && ctx.platform === 'win32') list.push(fileSource(path.join(ctx.env?.LOCALAPPDATA ?? path.join(homedir(), 'AppData', 'Local'), 'Ollama', 'server.log')));
    else if (!node.systemdUnit) list.push(journal('ollama'));
  }
  return list;
}

/** The service's log, read from the first place that has one, or why none could be read. */
export async function collectLogs(node: NodeConfig, ctx: LogsContext): Promise<LogsFinding> {
  const list = sources(node, ctx);
  if (list.length === 0) return unknown('unsupported', `no log to read for ${node.id} from here: set \`logFile\` or \`logCommand\` (and \`ssh\` for another machine) on the node`);
  const tried: Unknown[] = [];
  for (const s of list) {
    if (ctx.signal?.aborted) break;
    const got = await s.read();
    if ('ok' in got) {
      tried.push(got);
      continue;
    }
    const read = readLog(got.text);
    if (read.lines === 0) {
      tried.push(unknown('missing', `${s.label}: empty`));
      continue;
    }
    return { ok: true, source: s.label, file: s.label, ...read, ...(got.ageS !== undefined && { ageS: got.ageS }) };
  }
  // The most telling reason: a permission or a timeout says more than a missing default place.
  const worst = tried.find((t) => t.reason === 'permission' || t.reason === 'timeout') ?? tried[0];
  return unknown(worst?.reason ?? 'missing', tried.map((t) => t.detail).join('; ') || 'no log found');
}

/**
 * What both probe-history stores share (the data dir's files, history.ts; Redis,
 * redis-history.ts): the day file's shape, reading raw samples, folding them into a day, and
 * assembling a window's history from days and samples not folded yet.
 */
import { addToBucket, emptyBucket, FRESH_STATE, mergeBucket, step, type HourBucket, type Hysteresis, type NodeState, type Sample, type Transition } from '../history/buckets.js';

export interface DayFile {
  v: 1;
  /** UTC day, YYYY-MM-DD. */
  day: string;
  nodes: Record<string, { hours: Record<string, HourBucket>; transitions: Transition[] }>;
  /** Each node's state machine after the day's last folded sample. */
  end: Record<string, NodeState>;
  /** The raw files folded in (see compact). */
  folded?: string[];
}

export interface NodeHistory {
  /** Hour start (ms) -> bucket. */
  hours: Map<number, HourBucket>;
  transitions: Transition[];
  /** The state at the window's start. */
  startState: NodeState['state'];
  /** The last probe known (ms): the state it left holds `coverMs` after it, no longer. */
  last?: number;
}

export interface HistoryOptions {
  retentionDays: number;
  rule: Hysteresis;
  /** Wall-clock ms. */
  now: () => number;
  warn?: (message: string) => void;
}

const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
export const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
export const hourName = (ms: number) => new Date(ms).toISOString().slice(0, 13);
const dayStart = (day: string) => Date.parse(`${day}T00:00:00Z`);

export function validateDay(data: unknown): DayFile {
  const d = data as DayFile | null;
  if (!d || d.v !== 1 || typeof d.day !== 'string' || typeof d.nodes !== 'object' || d.nodes === null || typeof d.end !== 'object' || d.end === null) throw new Error('expected {v: 1, day, nodes, end}');
  return d;
}

/** Parses raw lines; a line that is not a sample (a torn write, an edit) is skipped and counted. */
export function parseSamples(text: string): { samples: Sample[]; bad: number } {
  const samples: Sample[] = [];
  let bad = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const s = JSON.parse(line) as Sample;
      if (typeof s.t === 'number' && typeof s.n === 'string' && (s.k === 'p' ? typeof s.s === 'string' && typeof s.l === 'number' : s.k === 'r' && typeof s.ok === 'number' && Array.isArray(s.h))) samples.push(s);
      else bad++;
    } catch {
      bad++;
    }
  }
  return { samples, bad };
}

/** Folds samples (any order: sorted here) into a day: buckets, then the state machines in time order. */
export function foldInto(day: DayFile, samples: Sample[], rule: Hysteresis): void {
  const sorted = [...samples].sort((a, b) => a.t - b.t);
  for (const s of sorted) {
    const node = (day.nodes[s.n] ??= { hours: {}, transitions: [] });
    const hour = String(new Date(s.t).getUTCHours());
    addToBucket((node.hours[hour] ??= emptyBucket()), s);
    if (s.k !== 'p') continue;
    const next = step(day.end[s.n] ?? FRESH_STATE, s, rule);
    day.end[s.n] = next.state;
    node.transitions.push(...next.transitions);
  }
}

/** What records and reads the probe history: the data dir's files (HistoryStore) or Redis (redis-history.ts). */
export interface History {
  append(samples: Sample[]): Promise<void>;
  compact(): Promise<void>;
  read(fromMs: number, toMs: number): Promise<Map<string, NodeHistory>>;
}

/**
 * A window's history from what a store holds: the state machines at the end of the last day
 * before it, the day files in it (in order), and the samples not folded yet.
 */
export function assemble(fromMs: number, toMs: number, startEnd: Record<string, NodeState>, days: DayFile[], samples: Sample[], rule: Hysteresis): Map<string, NodeHistory> {
  const out = new Map<string, NodeHistory>();
  const of = (id: string) => {
    let h = out.get(id);
    if (!h) out.set(id, (h = { hours: new Map(), transitions: [], startState: 'unknown' }));
    return h;
  };
  const lastOf = (id: string, st: NodeState) => {
    const h = of(id);
    if (st.last !== undefined && st.last <= toMs && (h.last === undefined || st.last > h.last)) h.last = st.last;
  };
  for (const [id, st] of Object.entries(startEnd)) {
    of(id).startState = st.state;
    lastOf(id, st);
  }
  let lastEnd: Record<string, NodeState> = startEnd;
  const addDay = (d: DayFile) => {
    const base = dayStart(d.day);
    for (const [id, node] of Object.entries(d.nodes)) {
      const h = of(id);
      for (const [hour, bucket] of Object.entries(node.hours)) {
        const at = base + Number(hour) * HOUR;
        if (at + HOUR > fromMs && at <= toMs) {
          // Freshly parsed, so the reader's own: merged into only when an hour comes twice.
          const had = h.hours.get(at);
          if (had) mergeBucket(had, bucket);
          else h.hours.set(at, bucket);
        }
      }
      for (const t of node.transitions) {
        if (t.at < fromMs) h.startState = t.to;
        else if (t.at <= toMs) h.transitions.push(t);
      }
    }
    for (const [id, st] of Object.entries(d.end)) lastOf(id, st);
    lastEnd = d.end;
  };
  for (const d of days) addDay(d);
  const inWindow = samples.filter((s) => dayOf(s.t) >= dayOf(fromMs) && dayOf(s.t) <= dayOf(toMs));
  if (inWindow.length > 0) {
    const byDay = new Map<string, Sample[]>();
    for (const s of inWindow) byDay.set(dayOf(s.t), [...(byDay.get(dayOf(s.t)) ?? []), s]);
    for (const [day, list] of [...byDay].sort(([a], [b]) => a.localeCompare(b))) {
      const d: DayFile = { v: 1, day, nodes: {}, end: structuredClone(lastEnd) };
      foldInto(d, list, rule);
      addDay(d);
    }
  }
  for (const h of out.values()) h.transitions.sort((a, b) => a.at - b.at);
  return out;
}

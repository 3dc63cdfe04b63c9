/**
 * The demo's affinity tour: one conversation over two llama.cpp-style nodes that charge for
 * prefill (the sim's slots keep what they processed), round-robin, through `jarvis serve` with
 * KV-cache affinity and then without: where each turn went, what the node had cached, how long.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startReady, stopChild } from '../../system/children.js';
import { expectations, heading, serveChild, startSim, type TourOptions } from './parts.js';

/** ms per 1,000 prompt tokens not cached: a mid-range GPU's prompt rate on an 8B model. */
const PREFILL_MS = 400;

/** An agent's long instructions, then short questions. */
const OPENING = `You are a coding agent working in a repository. ${'Read the files you change, keep the style, run the tests, explain each step. '.repeat(60)}`;
const QUESTIONS = ['What does src/cli do?', 'And where are the tests?', 'Add a test for the parser.', 'Run it.'];

interface Turn {
  node: string;
  affinity: string;
  ms: number;
  cached: number;
  prompt: number;
}

export async function affinityTour(o: TourOptions & { dir: string }): Promise<number> {
  const { print } = o;
  const { expect, failures } = expectations(print);
  const spec = path.join(o.dir, 'affinity.json');
  const config = path.join(o.dir, 'affinity.yaml');
  await writeFile(spec, JSON.stringify({ nodes: [{ id: 'gpu1', kind: 'openai', models: ['qwen3-coder'] }, { id: 'gpu2', kind: 'openai', models: ['qwen3-coder'] }] }));
  const sim = await startSim(['--spec', spec, '--config-out', config, '--prefill', String(PREFILL_MS)], o.signal);
  try {
    print(heading('$ jarvis serve   (a conversation over two llama.cpp-style nodes, round-robin)'));
    print(`Each node processes ${PREFILL_MS} ms per 1,000 prompt tokens its cache does not hold.\n`);
    const on = await conversation(o, config, path.join(o.dir, 'affinity-on.yaml'), true);
    expect(on.slice(1).every((t) => t.affinity === 'hit' && t.node === on[0]!.node), 'every turn after the first to be a hit on one node');
    print('\nThe same conversation with `routing: { affinity: false }`:');
    const off = await conversation(o, config, path.join(o.dir, 'affinity-off.yaml'), false);
    expect(off[1]?.node !== off[0]?.node, 'round-robin to send the second turn to the other node');
    const sum = (ts: Turn[]) => ts.slice(1).reduce((s, t) => s + t.ms, 0);
    print(`\nTurns 2-${QUESTIONS.length}: ${sum(on)} ms with affinity, ${sum(off)} ms without (${Math.round((sum(on) / sum(off)) * 100)} %).`);
  } finally {
    await stopChild(sim.child);
  }
  return failures();
}

/** The conversation through a serve of `cluster` (affinity on or off), each turn printed. */
async function conversation(o: TourOptions & { dir: string }, cluster: string, file: string, affinity: boolean): Promise<Turn[]> {
  await writeFile(file, `${await readFile(cluster, 'utf8')}routing:\n  strategy: round-robin\n  affinity: ${affinity}\n`);
  const { child } = serveChild(['--health-interval', '600000', '--config', file, '--data-dir', path.join(o.dir, `data-${path.basename(file, '.yaml')}`)], o);
  const turns: Turn[] = [];
  try {
    const base = String((await startReady(child, { what: 'jarvis serve', event: 'listening', signal: o.signal })).url);
    // A new opening each time: the nodes' caches still hold the last conversation.
    const messages: { role: string; content: string }[] = [{ role: 'system', content: `[${affinity ? 'on' : 'off'}] ${OPENING}` }];
    for (const [i, q] of QUESTIONS.entries()) {
      messages.push({ role: 'user', content: q });
      const t0 = performance.now();
      const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'qwen3-coder', messages }), signal: o.signal });
      const body = (await res.json()) as { choices?: { message?: { content?: string } }[]; usage?: { prompt_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } } };
      const turn = { node: res.headers.get('x-jarvis-node') ?? '?', affinity: res.headers.get('x-jarvis-affinity') ?? '?', ms: Math.round(performance.now() - t0), cached: body.usage?.prompt_tokens_details?.cached_tokens ?? 0, prompt: body.usage?.prompt_tokens ?? 0 };
      turns.push(turn);
      messages.push({ role: 'assistant', content: body.choices?.[0]?.message?.content ?? '' });
      o.print(`turn ${i + 1}: ${turn.node}  x-jarvis-affinity: ${turn.affinity.padEnd(4)}  ${String(turn.ms).padStart(4)} ms  (${turn.cached.toLocaleString('en-US')} of ${turn.prompt.toLocaleString('en-US')} prompt tokens cached)`);
    }
  } finally {
    await stopChild(child, 15_000);
  }
  return turns;
}

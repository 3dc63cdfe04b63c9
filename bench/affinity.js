// KV-cache affinity (issue 37). Three measures:
// 1. Time to first token per turn of a 6-turn, ~16 KB conversation over two sim nodes that model
//    prompt processing (each node's slots keep what they processed; the tokens not held cost
//    PREFILL ms per 1,000), round-robin, through one serve with affinity and one without.
//    Target: turns 2-6 at most half the TTFT of round-robin.
// 2. The lookup's own cost, in process: a 60 KB conversation's key and the table's answer.
//    Target: under 20 us p50.
// 3. Throughput of one-line requests through serve, affinity on and off, in turns.
//    Target: within 3 %.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { Pool } from 'undici';
import { BIN, inTurns, median, percentile, printTable, startCluster, startReady, stopChild, tempDir } from './lib.js';

const { printRequest, AnswerPrint } = await import('../dist/affinity/fingerprint.js');
const { PinTable } = await import('../dist/affinity/pins.js');

/** ms to process 1,000 prompt tokens not cached: about a 2,500 tokens/s prompt rate (a mid-range GPU on an 8B model). */
const PREFILL = 400;
const REPS = 3;
/** Turns of the throughput comparison, each mode once a turn. */
const PAIRS = 12;
const met = (ok) => (ok ? 'met' : 'MISSED');

/** A conversation of 6 turns growing to about 16 KB: an agent's instructions, then a tool result and a question each turn. */
function conversationTurns(tag) {
  const system = `[${tag}] You are a coding agent working in a repository. ${'Read the files you change, keep the style, explain each step. '.repeat(70)}`;
  return Array.from({ length: 6 }, (_, i) => `[${tag}] turn ${i + 1}: the tool printed ${'src/module.ts: 42 lines changed, tests pass; '.repeat(36)} What next?`).map((user) => ({ system, user }));
}

/** Streams each turn through `origin`, returning the ms to the first content chunk per turn. */
async function converse(origin, tag) {
  const pool = new Pool(origin, { connections: 1 });
  const turns = conversationTurns(tag);
  const messages = [{ role: 'system', content: turns[0].system }];
  const ttft = [];
  const outcomes = [];
  try {
    for (const t of turns) {
      messages.push({ role: 'user', content: t.user });
      const t0 = performance.now();
      const r = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', stream: true, messages }) });
      let first;
      let text = '';
      let pending = '';
      const decoder = new StringDecoder('utf8');
      for await (const chunk of r.body) {
        const lines = (pending + decoder.write(chunk)).split('\n');
        pending = lines.pop();
        for (const line of lines) {
          if (!line.startsWith('data: {')) continue;
          const delta = JSON.parse(line.slice(6)).choices?.[0]?.delta?.content;
          if (delta) {
            first ??= performance.now() - t0;
            text += delta;
          }
        }
      }
      ttft.push(first);
      outcomes.push(`${r.headers['x-jarvis-node']}:${r.headers['x-jarvis-affinity']}`);
      messages.push({ role: 'assistant', content: text });
    }
  } finally {
    await pool.close();
  }
  return { ttft, outcomes, bytes: JSON.stringify(messages).length };
}

async function startServe(dir, name, yaml) {
  const cfg = path.join(dir, `${name}.yaml`);
  writeFileSync(cfg, yaml);
  const child = spawn(process.execPath, [BIN, 'serve', '--json', '--port', '0', '--health-interval', '600000', '--config', cfg, '--data-dir', path.join(dir, `data-${name}`)], { stdio: ['ignore', 'pipe', 'ignore'] });
  return { child, url: (await startReady(child, { what: `jarvis serve (${name})`, event: 'listening' })).url };
}

function lookupCost() {
  // 60 KB as sent: an agent's conversation (tool results, answers with tool calls).
  const messages = [{ role: 'system', content: 'You are a coding agent. '.repeat(200) }];
  for (let i = 0; JSON.stringify(messages).length < 60_000; i++) {
    messages.push({ role: 'assistant', content: `Step ${i}: reading the file.`, tool_calls: [{ id: `c${i}`, type: 'function', function: { name: 'read_file', arguments: `{"path": "src/file${i}.ts"}` } }] });
    messages.push({ role: 'tool', tool_call_id: `c${i}`, content: `export function f${i}() {\n  return ${i};\n}\n`.repeat(40) });
  }
  messages.push({ role: 'user', content: 'Now fix the failing test.' });
  const size = JSON.stringify(messages).length;
  const table = new PinTable(600_000, 10_000);
  const key = printRequest('m', messages).lookup;
  table.set(key, 'a', 0);
  for (let i = 0; i < 9_999; i++) table.set(i, 'b', 0);
  const never = () => undefined;
  const lookups = [];
  const whole = [];
  for (let i = 0; i < 3000; i++) {
    const t0 = performance.now();
    const print = printRequest('m', messages);
    table.get(print.lookup, 1, never);
    const t1 = performance.now();
    const answer = new AnswerPrint(print);
    answer.text('Fixed: the test expected 41.');
    table.set(answer.key(undefined), 'a', 1);
    const t2 = performance.now();
    if (i >= 500) {
      lookups.push((t1 - t0) * 1000);
      whole.push((t2 - t0) * 1000);
    }
  }
  return { size, messages: messages.length, lookup: lookups.sort((a, b) => a - b), whole: whole.sort((a, b) => a - b) };
}

export async function benchAffinity({ seconds = 6 } = {}) {
  const cost = lookupCost();
  const { dir, cleanup } = tempDir();
  const children = [];
  const cluster = await startCluster(dir, [{ id: 'a', kind: 'openai', models: ['m'], prefillMsPer1k: PREFILL }, { id: 'b', kind: 'openai', models: ['m'], prefillMsPer1k: PREFILL }], 30_000);
  try {
    const nodes = cluster.ready.nodes.map((n) => `  - { id: ${n.id}, kind: openai, url: "${n.url}", model: m, timeoutMs: 30000 }`).join('\n');
    const on = await startServe(dir, 'on', `nodes:\n${nodes}\nrouting: { strategy: round-robin }\n`);
    const off = await startServe(dir, 'off', `nodes:\n${nodes}\nrouting: { strategy: round-robin, affinity: false }\n`);
    children.push(on.child, off.child);

    // 1. Time to first token per turn; fresh conversations each time (the nodes' caches hold the old ones).
    const per = { on: [], off: [] };
    let bytes = 0;
    const seen = { on: [], off: [] };
    for (let rep = 0; rep < REPS; rep++) {
      for (const mode of rep % 2 ? ['off', 'on'] : ['on', 'off']) {
        const r = await converse(mode === 'on' ? on.url : off.url, `${mode}-${rep}-${Math.random().toString(36).slice(2, 8)}`);
        per[mode].push(r.ttft);
        seen[mode].push(r.outcomes.join(' '));
        bytes = r.bytes;
      }
    }
    const turnMedian = (mode, i) => median(per[mode].map((t) => t[i]));
    const rows = [];
    for (let i = 0; i < 6; i++) {
      const a = turnMedian('on', i);
      const b = turnMedian('off', i);
      rows.push([String(i + 1), `${a.toFixed(0)} ms`, `${b.toFixed(0)} ms`, `${((a / b) * 100).toFixed(0)} %`]);
    }
    const sum = (mode) => [1, 2, 3, 4, 5].reduce((s, i) => s + turnMedian(mode, i), 0);
    const ratio = sum('on') / sum('off');
    const worstTurn = Math.max(...[1, 2, 3, 4, 5].map((i) => turnMedian('on', i) / turnMedian('off', i)));
    printTable(`time to first token per turn, a 6-turn conversation of ${(bytes / 1024).toFixed(1)} KB, two sim nodes (${PREFILL} ms per 1,000 uncached prompt tokens), round-robin; median of ${REPS}`, ['turn', 'affinity on', 'affinity off', 'on / off'], rows);
    console.log(`  affinity on, node:outcome per turn:  ${seen.on[0]}\n  affinity off:                        ${seen.off[0]}\n`);

    // 2. The lookup, in process (measured before the cluster and the serves started).
    printTable(`the lookup, in process: a ${(cost.size / 1024).toFixed(0)} KB conversation of ${cost.messages} messages, a table of 10,000 pins`, ['measure', 'p50', 'p99'], [
      ['key of the history + the table\'s answer', `${percentile(cost.lookup, 50).toFixed(1)} us`, `${percentile(cost.lookup, 99).toFixed(1)} us`],
      ['the same + the answer\'s key + its pin', `${percentile(cost.whole, 50).toFixed(1)} us`, `${percentile(cost.whole, 99).toFixed(1)} us`],
    ]);

    // 3. One-line requests, on and off in short turns (a busy 2-core machine drifts by more than
    // the difference over a minute): the median of each pair's ratio.
    const oneLine = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'ping' }] });
    const tput = [];
    let tputRatio = 1;
    for (const concurrency of [1, 16]) {
      const targets = [{ name: 'on', origin: on.url }, { name: 'off', origin: off.url }].map((t) => ({ ...t, path: '/v1/chat/completions', body: oneLine }));
      const acc = await inTurns(targets, concurrency, seconds * 2, PAIRS, 0.5);
      const ratio = median(acc.on.rps.map((x, i) => x / acc.off.rps[i]));
      if (concurrency === 16) tputRatio = ratio;
      for (const mode of ['on', 'off']) tput.push([`affinity ${mode}`, String(concurrency), `${percentile(acc[mode].lat.sort((x, y) => x - y), 50).toFixed(3)} ms`, String(Math.round(median(acc[mode].rps))), mode === 'on' ? `${(ratio * 100).toFixed(1)} %` : '']);
    }
    printTable(`one-line requests through serve (closed loop; ${PAIRS} pairs of turns, on and off)`, ['serve', 'concurrency', 'p50', 'req/s (median turn)', 'on / off (median pair)'], tput);
    printTable('targets (from this run)', ['measure', 'value', 'target'], [
      ['TTFT of turns 2-6, affinity on / round-robin (sum of medians)', `${(ratio * 100).toFixed(0)} %`, `at most 50 %: ${met(ratio <= 0.5)}`],
      ['the worst of turns 2-6, on / off', `${(worstTurn * 100).toFixed(0)} %`, `(each turn) at most 50 %: ${met(worstTurn <= 0.5)}`],
      ['lookup p50, 60 KB conversation', `${percentile(cost.lookup, 50).toFixed(1)} us`, `under 20 us: ${met(percentile(cost.lookup, 50) < 20)}`],
      ['one-line throughput at 16, affinity on / off', `${(tputRatio * 100).toFixed(1)} %`, `within 3 %: ${met(Math.abs(1 - tputRatio) <= 0.03)}`],
    ]);
  } finally {
    for (const c of children) await stopChild(c);
    await cluster.stop();
    cleanup();
  }
}

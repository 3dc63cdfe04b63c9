/**
 * `jarvis demo`: the main job on a simulated copy of the runbook's cluster. Starts the sim as its
 * own process on free loopback ports with a temp config and data dir, breaks some nodes the way
 * the runbook describes, runs the real CLI on them as a user would, checks that jarvis saw what
 * was broken, and cleans every process up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { JARVIS_BIN as BIN } from '../system/paths.js';
import { startReady, stopChild } from '../system/children.js';

export interface DemoOptions {
  keep: boolean;
  color: boolean;
  print: (text: string) => void;
  signal: AbortSignal;
}

/** What the demo breaks, and what jarvis must report for each. */
const BROKEN: { id: string; fault: string; expect: string; story: string }[] = [
  { id: 'ol1', fault: 'down', expect: 'refused', story: 'OL1 (Ollama) stopped' },
  { id: 'm2', fault: 'hang', expect: 'timeout', story: 'M2 (LM Studio) hanging' },
  { id: 'gemini', fault: '429:60', expect: 'http_error', story: 'GEMINI over quota' },
];

/** Demo timeouts are shorter than the runbook's 3 s so the tour does not drag. */
const DEMO_TIMEOUT_MS = 1500;

export async function runDemo(options: DemoOptions): Promise<number> {
  const { print } = options;
  const dir = await mkdtemp(path.join(tmpdir(), 'jarvis-demo-'));
  const configPath = path.join(dir, 'jarvis.config.yaml');
  const dataDir = path.join(dir, 'data');
  const env = { ...process.env, ...(options.color ? { FORCE_COLOR: '1' } : { NO_COLOR: '1' }) };
  let sim: ChildProcess | undefined;
  /** PIDs of restarted sim nodes the demo has stopped itself. */
  const stopped = new Set<number>();
  let failures = 0;
  try {
    print(heading('jarvis demo: the runbook cluster, simulated on 127.0.0.1'));
    print(`Breaking: ${BROKEN.map((b) => b.story).join(', ')}.`);
    const started = await startSim(['--preset', 'runbook', '--config-out', configPath, ...BROKEN.flatMap((b) => ['--fault', `${b.id}=${b.fault}`])], options.signal);
    sim = started.child;
    print(`Six simulated nodes are up (sim pid ${started.child.pid}); config: ${configPath}\n`);

    const run = (args: string[]) => runCli([...args, '--config', configPath, '--data-dir', dataDir], env, options.signal);

    print(heading('$ jarvis status'));
    const status = await run(['status']);
    print(status.stdout.trimEnd());
    print(`(exit ${status.code}: ${status.code === 1 ? 'some nodes are not ok' : 'unexpected'})\n`);
    if (status.code !== 1) failures++;

    // Check, through --json, that jarvis saw exactly what was broken.
    const json = await run(['status', '--json']);
    const nodes = (JSON.parse(json.stdout) as { nodes: { id: string; status: string }[] }).nodes;
    for (const b of BROKEN) {
      const seen = nodes.find((n) => n.id === b.id)?.status;
      if (seen !== b.expect) {
        failures++;
        print(`demo: expected ${b.id} to be ${b.expect}, jarvis saw ${seen}`);
      }
    }
    const healthy = nodes.filter((n) => !BROKEN.some((b) => b.id === n.id));
    for (const n of healthy.filter((h) => h.status !== 'ok')) {
      failures++;
      print(`demo: expected ${n.id} to be ok, jarvis saw ${n.status}`);
    }

    for (const b of BROKEN) {
      print(heading(`$ jarvis diagnose ${b.id}`));
      const d = await run(['diagnose', b.id]);
      print(d.stdout.trimEnd());
      if (d.stderr.trim()) print(d.stderr.trimEnd());
      print('');
      if (d.code !== 1) failures++;
    }

    print(heading('$ jarvis diagnose m3   (a healthy node)'));
    const ok = await run(['diagnose', 'm3']);
    print(ok.stdout.trimEnd());
    if (ok.code !== 0) failures++;

    // What cron sees: `jarvis check` reports transitions once, and exits like a Nagios plugin.
    print(heading('$ jarvis check   (what cron runs; quiet unless something changed)'));
    const check1 = await run(['check']);
    print(check1.stdout.trimEnd());
    print(`(exit ${check1.code}: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)\n`);
    if (check1.code !== 1 && check1.code !== 2) failures++;

    // Runbook steps 3 to 5: bring OL1 back (its restart argv starts the sim again), prove it
    // answers, record the incident. M2 hangs: its process cannot be checked here, so it is not
    // killed, and its work goes to the fallbacks.
    for (const id of ['ol1', 'm2']) {
      print(heading(`$ jarvis recover ${id}`));
      const r = await run(['recover', id]);
      print(r.stdout.trimEnd());
      if (r.stderr.trim()) print(r.stderr.trimEnd());
      print(`(exit ${r.code})\n`);
      if (r.code !== (id === 'ol1' ? 0 : 1)) {
        failures++;
        print(`demo: expected recover ${id} to exit ${id === 'ol1' ? 0 : 1}, got ${r.code}`);
      }
    }

    // One process serves all six simulated nodes, as a Docker proxy or a supervisor may serve
    // several ports on a real machine: restarting M3 would mean stopping it, and with it the other
    // five. jarvis shows the process is not M3's own server and refuses, even with --force.
    print(heading('$ jarvis recover m3 --force   (M3 answers 500; its port is held by the simulator serving every node)'));
    await runCli(['sim', 'fault', started.control, 'm3', '500'], env, options.signal);
    const refused = await run(['recover', 'm3', '--force']);
    print(refused.stdout.trimEnd());
    print(`(exit ${refused.code})\n`);
    const after = JSON.parse((await run(['status', '--json'])).stdout) as { nodes: { id: string; status: string }[] };
    const harmed = after.nodes.filter((n) => n.id !== 'm3' && n.status !== nodes.find((b) => b.id === n.id)?.status && n.id !== 'ol1');
    print(`The simulator (pid ${started.child.pid}) is still running; the other nodes are as they were: ${after.nodes.filter((n) => n.id !== 'm3').map((n) => `${n.id} ${n.status}`).join(', ')}.\n`);
    if (refused.code !== 1 || !/which is not this node's server/.test(refused.stdout) || harmed.length > 0) {
      failures++;
      print(`demo: expected recover m3 to refuse to stop the simulator and leave the other nodes alone (exit ${refused.code}${harmed.length > 0 ? `; changed: ${harmed.map((n) => n.id).join(', ')}` : ''})`);
    }
    await runCli(['sim', 'fault', started.control, 'm3', 'up'], env, options.signal);

    print(heading('$ jarvis check   (after the recovery)'));
    const check2 = await run(['check']);
    print(check2.stdout.trimEnd());
    if (!/ol1 RESOLVED/.test(check2.stdout)) {
      failures++;
      print('demo: expected check to report ol1 resolved');
    }
    print('');

    // Requests keep flowing while M2 hangs: the cascade retries it, opens its breaker, fails over.
    const askEnv = { ...env, JARVIS_REQUEST_TIMEOUT_MS: '800', JARVIS_INITIAL_BACKOFF_MS: '200' };
    for (const [i, prompt] of ['write a binary search in Rust', 'and now in Go'].entries()) {
      print(heading(`$ jarvis ask --task code "${prompt}"${i === 0 ? '   (M2 hangs)' : '   (M2 breaker open)'}`));
      const a = await runCli(['ask', '--task', 'code', prompt, '--config', configPath, '--data-dir', dataDir], askEnv, options.signal);
      if (a.stderr.trim()) print(a.stderr.trimEnd());
      print(a.stdout.trimEnd());
      if (a.code !== 0 || !/\[m3\]/.test(a.stdout)) {
        failures++;
        print(`demo: expected the answer from m3 (exit ${a.code})`);
      }
      print('');
    }
    print(heading('$ jarvis health'));
    print((await run(['health'])).stdout.trimEnd());
    print('');

    failures += await serveTour({ configPath, dataDir, env, print, signal: options.signal, stopped });
    print('');
    failures += await claudeCodeTour({ configPath, dataDir, env, print, signal: options.signal, stopped, dir });
    print('');

    // Every probe of the tour went into the history: the report of this last hour.
    print(heading('$ jarvis report --since 1h   (from the probe history the tour wrote)'));
    const report = await run(['report', '--since', '1h']);
    print(report.stdout.trimEnd());
    if (report.code !== 0 || !/ol1/.test(report.stdout)) {
      failures++;
      print(`demo: expected a report with ol1 (exit ${report.code})`);
    }
    print('');

    print(heading('$ jarvis incidents'));
    const incidents = await run(['incidents']);
    print(incidents.stdout.trimEnd());
    if (incidents.code !== 0) failures++;
    print('');
    print(failures === 0 ? 'Demo done: jarvis saw every fault the demo made.' : `Demo finished with ${failures} unexpected result(s).`);
    return failures === 0 ? 0 : 1;
  } finally {
    // Every sim process a recovery started (jarvis recover, serve's healer), once each.
    for (const pid of await restartedPids(dataDir)) {
      if (stopped.has(pid)) continue;
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    if (sim) await stopChild(sim);
    if (options.keep) print(`Kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

interface TourOptions {
  configPath: string;
  dataDir: string;
  env: NodeJS.ProcessEnv;
  print: (text: string) => void;
  signal: AbortSignal;
  /** Restarted sim PIDs the tour stops itself (so the demo's cleanup does not signal them twice). */
  stopped: Set<number>;
}

/**
 * `jarvis serve` in front of the same cluster, used as an OpenAI client would: the cascade behind
 * one endpoint, the trace in the headers, an error in OpenAI's shape, then OL1 stopping again and
 * the server's own health check restarting it while requests fail over. Returns the number of
 * unexpected results.
 */
async function serveTour(o: TourOptions): Promise<number> {
  const { print } = o;
  const { expect, failures } = expectations(print);
  print(heading('$ jarvis serve --auto-recover   (an OpenAI- and Anthropic-compatible endpoint)'));
  const { child, showLog, waitLog } = serveChild(['--auto-recover', '--health-interval', '500', '--config', o.configPath, '--data-dir', o.dataDir], o);
  try {
    const base = String((await startReady(child, { what: 'jarvis serve', event: 'listening', signal: o.signal })).url);
    print(`listening on ${base} (pid ${child.pid}); OPENAI_BASE_URL=${base}/v1\n`);

    const chat = async (body: Record<string, unknown>) => {
      const res = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'ping' }], ...body }),
        signal: o.signal,
      });
      const text = await res.text();
      return { status: res.status, node: res.headers.get('x-jarvis-node'), attempts: res.headers.get('x-jarvis-attempts'), text };
    };
    const show = (body: Record<string, unknown>, r: Awaited<ReturnType<typeof chat>>, what: string) =>
      print(`POST /v1/chat/completions ${JSON.stringify(body)}\n  -> ${r.status}${r.node ? ` from ${r.node}` : ''}${r.attempts ? `, x-jarvis-attempts: ${r.attempts}` : ''}${what ? `: ${what}` : ''}`);

    // M2's breaker is still open from the asks above: the code alias skips it without waiting.
    const code = { model: 'jarvis/code' };
    const r1 = await chat(code);
    show(code, r1, JSON.stringify((JSON.parse(r1.text) as { choices?: { message?: { content?: string } }[] }).choices?.[0]?.message?.content ?? ''));
    expect(r1.status === 200 && r1.node === 'm3' && r1.attempts === 'm2=circuit_open,m3=ok', 'jarvis/code answered by m3 with m2 skipped');

    const streamed = { model: 'qwen3:8b', stream: true };
    const r2 = await chat(streamed);
    const chunks = r2.text.split('\n').filter((l) => l.startsWith('data: '));
    show(streamed, r2, `${chunks.length} SSE chunks, the last ${chunks.at(-1)}`);
    expect(r2.status === 200 && r2.node === 'ol1' && chunks.at(-1) === 'data: [DONE]', 'a stream from ol1 ending in [DONE]');

    // Claude Code's API on the same endpoint: a Messages request, translated for the cluster.
    const messages = await fetch(`${base}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'ping' }] }),
      signal: o.signal,
    });
    const message = (await messages.json()) as { type?: string; content?: { text?: string }[] };
    print(`POST /v1/messages {"model":"claude-sonnet-4-5"}   (ANTHROPIC_BASE_URL=${base} claude)\n  -> ${messages.status} from ${messages.headers.get('x-jarvis-node')}, x-jarvis-attempts: ${messages.headers.get('x-jarvis-attempts')}: a ${message.type} saying ${JSON.stringify(message.content?.[0]?.text ?? '')}`);
    expect(messages.status === 200 && message.type === 'message' && typeof message.content?.[0]?.text === 'string', "a Message for Claude Code's model name");

    const unknown = { model: 'gpt-9' };
    const r3 = await chat(unknown);
    show(unknown, r3, (JSON.parse(r3.text) as { error?: { message?: string } }).error?.message ?? r3.text);
    expect(r3.status === 404, 'a 404 in OpenAI\'s error shape for an unknown model');
    showLog();

    // OL1 stops again: its requests fail over to M3 at once; three refusals open its breaker, and
    // the server's health check restarts it in the background.
    const ol1 = (await restartedPids(o.dataDir)).at(-1);
    if (ol1 === undefined) expect(false, 'the pid of the ol1 that jarvis recover started');
    else {
      process.kill(ol1, 'SIGTERM');
      o.stopped.add(ol1);
      await new Promise((r) => setTimeout(r, 300));
      print(`\nOL1 stops again (the demo stops pid ${ol1}).`);
      const quick = { model: 'qwen3:8b' };
      for (let i = 0; i < 3; i++) {
        const r = await chat(quick);
        show(quick, r, '');
        expect(r.status === 200 && r.node === 'm3', 'm3 to answer for ol1');
      }
      const healed = await waitLog(/heal: ol1 recovered, back in service/, 30_000);
      showLog();
      expect(healed, 'the background check to recover ol1');
      const r = await chat(quick);
      show(quick, r, 'OL1 is back');
      expect(r.status === 200 && r.node === 'ol1', 'ol1 to answer again after its recovery');
    }
  } finally {
    await stopChild(child, 15_000);
    await waitLog(/jarvis serve: stopped/, 1000);
    showLog();
  }
  expect(child.exitCode === 0, `jarvis serve to exit 0 on SIGTERM (got ${child.exitCode ?? child.signalCode})`);
  return failures();
}

/** What a tour expects: each miss is printed and counted. */
function expectations(print: (text: string) => void): { expect: (ok: boolean, what: string) => void; failures: () => number } {
  let count = 0;
  return {
    expect: (ok, what) => {
      if (ok) return;
      count++;
      print(`demo: expected ${what}`);
    },
    failures: () => count,
  };
}

/** A `jarvis serve` child with its log: shown indented as it comes (`showLog`), or waited for. */
function serveChild(args: string[], o: Pick<TourOptions, 'env' | 'print' | 'signal'>) {
  const child = spawn(process.execPath, [BIN, 'serve', '--json', '--port', '0', ...args], { env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  let shown = 0;
  createInterface({ input: child.stderr }).on('line', (line) => log.push(line.replace(/^\S+Z /, '')));
  /** The server's log lines since the last call, indented. */
  const showLog = () => {
    for (; shown < log.length; shown++) o.print(`  serve log │ ${log[shown]}`);
  };
  const waitLog = async (re: RegExp, ms: number) => {
    const end = Date.now() + ms;
    while (!log.some((l) => re.test(l)) && Date.now() < end && !o.signal.aborted) await new Promise((r) => setTimeout(r, 50));
    return log.some((l) => re.test(l));
  };
  return { child, showLog, waitLog };
}

/** Claude Code's API in front of a sim Anthropic and a local llama.cpp server. */
const OUTAGE_SPEC = {
  nodes: [
    { id: 'anthropic', kind: 'anthropic', models: ['claude-sonnet-4-5'], priority: 1 },
    { id: 'local', kind: 'openai', models: ['qwen2.5-coder-7b'], priority: 2 },
  ],
};

/**
 * Seed 002's story: Claude Code (an Anthropic client) on `jarvis serve` with Anthropic first and a
 * local server behind it. Anthropic turns overloaded (529): requests fail over to the local node,
 * translated; its breaker opens. Anthropic recovers: the health check half-opens the breaker and
 * requests go back to it by themselves. Returns the number of unexpected results.
 */
async function claudeCodeTour(o: TourOptions & { dir: string }): Promise<number> {
  const { print } = o;
  const { expect, failures } = expectations(print);
  const spec = path.join(o.dir, 'outage.json');
  const config = path.join(o.dir, 'outage.yaml');
  await writeFile(spec, JSON.stringify(OUTAGE_SPEC));
  const sim = await startSim(['--spec', spec, '--config-out', config], o.signal);
  print(heading('$ jarvis serve   (Claude Code on Anthropic, a local node behind it)'));
  const { child, showLog, waitLog } = serveChild(['--health-interval', '300', '--config', config, '--data-dir', path.join(o.dir, 'outage-data')], o);
  try {
    const base = String((await startReady(child, { what: 'jarvis serve', event: 'listening', signal: o.signal })).url);
    print(`ANTHROPIC_BASE_URL=${base} claude   (a sim Anthropic first, a local llama.cpp-style node behind it)\n`);
    const fault = (f: string) => runCli(['sim', 'fault', sim.control, 'anthropic', f], o.env, o.signal);
    const ask = async (text: string) => {
      const res = await fetch(`${base}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'sk-ant-demo' },
        body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 50, messages: [{ role: 'user', content: text }] }),
        signal: o.signal,
      });
      const body = (await res.json()) as { type?: string; content?: { text?: string }[]; error?: { message?: string } };
      const r = { status: res.status, node: res.headers.get('x-jarvis-node'), attempts: res.headers.get('x-jarvis-attempts') };
      print(`POST /v1/messages "${text}"\n  -> ${r.status} from ${r.node}, x-jarvis-attempts: ${r.attempts}: ${JSON.stringify(body.content?.[0]?.text ?? body.error?.message ?? '')}`);
      return r;
    };
    expect((await ask('hello')).node === 'anthropic', 'Anthropic to answer while it is up');
    print('\nAnthropic turns overloaded (529).');
    await fault('529');
    for (const text of ['fix the test', 'and the lint']) {
      const r = await ask(text);
      expect(r.status === 200 && r.node === 'local', 'the local node to answer while Anthropic is overloaded');
    }
    print('\nAnthropic recovers.');
    await fault('up');
    const back = await waitLog(/health: anthropic answers its probe again/, 10_000);
    showLog();
    expect(back, "the health check to see Anthropic again and half-open its breaker");
    expect((await ask('thanks')).node === 'anthropic', 'requests to go back to Anthropic by themselves');
  } finally {
    await stopChild(child, 15_000);
    await stopChild(sim.child);
    showLog();
  }
  return failures();
}

/** PIDs of the sim processes `jarvis recover` started (from the incident log's step details). */
async function restartedPids(dataDir: string): Promise<number[]> {
  try {
    const { incidents } = JSON.parse(await readFile(path.join(dataDir, 'incidents.json'), 'utf8')) as { incidents: { steps?: { pid?: number }[] }[] };
    return incidents.flatMap((i) => (i.steps ?? []).flatMap((s) => (s.pid ? [s.pid] : [])));
  } catch {
    return [];
  }
}

function heading(text: string): string {
  return `── ${text} ${'─'.repeat(Math.max(3, 70 - text.length))}`;
}

/** `jarvis sim cluster ARGS` as a child; resolves when it is ready, with its control URL. */
async function startSim(args: string[], signal: AbortSignal): Promise<{ child: ChildProcess; control: string }> {
  const child = spawn(process.execPath, [BIN, 'sim', 'cluster', ...args, '--timeout', String(DEMO_TIMEOUT_MS), '--exit-with-parent'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = await startReady(child, { what: 'the simulated cluster', event: 'ready', signal });
  return { child, control: String(ready.control) };
}

function runCli(args: string[], env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], signal });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

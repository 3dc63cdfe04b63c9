/**
 * The demo's proxy tours: `jarvis serve` used as an OpenAI client and Claude Code would, OL1
 * stopping and the server's own health check restarting it, and Anthropic overloaded with a local
 * node behind it.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startReady, stopChild } from '../../system/children.js';
import { expectations, heading, restartedPids, runCli, serveChild, startSim, type TourOptions } from './parts.js';

/**
 * `jarvis serve` in front of the same cluster, used as an OpenAI client would: the cascade behind
 * one endpoint, the trace in the headers, an error in OpenAI's shape, then OL1 stopping again and
 * the server's own health check restarting it while requests fail over. Returns the number of
 * unexpected results.
 */
/** A chat completion's status, trace headers and body. */
type ChatReply = { status: number; node: string | null; attempts: string | null; text: string };
type Chat = (body: Record<string, unknown>) => Promise<ChatReply>;
type Show = (body: Record<string, unknown>, r: ChatReply, what: string) => void;

export async function serveTour(o: TourOptions): Promise<number> {
  const { print } = o;
  const { expect, failures } = expectations(print);
  print(heading('$ jarvis serve --auto-recover   (an OpenAI- and Anthropic-compatible endpoint)'));
  const { child, showLog, waitLog } = serveChild(['--auto-recover', '--health-interval', '500', '--config', o.configPath, '--data-dir', o.dataDir], o);
  try {
    const base = String((await startReady(child, { what: 'jarvis serve', event: 'listening', signal: o.signal })).url);
    print(`listening on ${base} (pid ${child.pid}); OPENAI_BASE_URL=${base}/v1\n`);

    const chat: Chat = async (body) => {
      const res = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'ping' }], ...body }),
        signal: o.signal,
      });
      const text = await res.text();
      return { status: res.status, node: res.headers.get('x-jarvis-node'), attempts: res.headers.get('x-jarvis-attempts'), text };
    };
    const show: Show = (body, r, what) =>
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
    await ol1StopsAgain(o, chat, show, expect, { showLog, waitLog });
  } finally {
    await stopChild(child, 15_000);
    await waitLog(/jarvis serve: stopped/, 1000);
    showLog();
  }
  expect(child.exitCode === 0, `jarvis serve to exit 0 on SIGTERM (got ${child.exitCode ?? child.signalCode})`);
  return failures();
}

/** OL1 stopped under the running serve: requests fail over to M3 until the health check has it back. */
async function ol1StopsAgain(o: TourOptions, chat: Chat, show: Show, expect: (ok: boolean, what: string) => void, log: Pick<ReturnType<typeof serveChild>, 'showLog' | 'waitLog'>): Promise<void> {
  const ol1 = (await restartedPids(o.dataDir)).at(-1);
  if (ol1 === undefined) return expect(false, 'the pid of the ol1 that jarvis recover started');
  process.kill(ol1, 'SIGTERM');
  o.stopped.add(ol1);
  await new Promise((r) => setTimeout(r, 300));
  o.print(`\nOL1 stops again (the demo stops pid ${ol1}).`);
  const quick = { model: 'qwen3:8b' };
  for (let i = 0; i < 3; i++) {
    const r = await chat(quick);
    show(quick, r, '');
    expect(r.status === 200 && r.node === 'm3', 'm3 to answer for ol1');
  }
  const healed = await log.waitLog(/heal: ol1 recovered, back in service/, 30_000);
  log.showLog();
  expect(healed, 'the background check to recover ol1');
  const r = await chat(quick);
  show(quick, r, 'OL1 is back');
  expect(r.status === 200 && r.node === 'ol1', 'ol1 to answer again after its recovery');
}

/** Claude Code's API in front of a sim Anthropic and a local llama.cpp server. */
const OUTAGE_SPEC = {
  nodes: [
    { id: 'anthropic', kind: 'anthropic', models: ['claude-sonnet-4-5'], priority: 1 },
    { id: 'local', kind: 'openai', models: ['qwen2.5-coder-7b'], priority: 2 },
  ],
};

/**
 * Claude Code (an Anthropic client) on `jarvis serve` with Anthropic first and a
 * local server behind it. Anthropic turns overloaded (529): requests fail over to the local node,
 * translated; its breaker opens. Anthropic recovers: the health check half-opens the breaker and
 * requests go back to it by themselves. Returns the number of unexpected results.
 */
export async function claudeCodeTour(o: TourOptions & { dir: string }): Promise<number> {
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


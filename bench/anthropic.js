// The Anthropic front: an Anthropic client direct to an Anthropic-speaking sim node, through
// `jarvis serve` passing it through, and through `jarvis serve` translating to an OpenAI-style
// sim node, and through claude-code-router (the most used Claude Code proxy, a devDependency)
// doing the same translation to the same node; the paths take turns in rounds. Then the
// translation of a Claude Code-sized request (about 75 KB, 24 tools) as pure code.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { BIN, firstByte, inTurns, percentile, printTable, startCluster, startReady, stopChild, tempDir } from './lib.js';

const ROUNDS = 3;

/** A request shaped like Claude Code's (PROTOCOLS.md): 3 system blocks, 24 tools with schemas, a long history. */
function claudeCodeRequest() {
  const schema = { type: 'object', properties: { command: { type: 'string', description: 'The command to run. '.repeat(20) }, timeout: { type: 'number' } }, required: ['command'] };
  return {
    model: 'claude-opus-4-8',
    max_tokens: 64000,
    stream: true,
    thinking: { type: 'adaptive' },
    metadata: { user_id: 'user_abc' },
    system: [{ type: 'text', text: 'You are Claude Code. '.repeat(200) }, { type: 'text', text: 'Rules. '.repeat(2300), cache_control: { type: 'ephemeral' } }, { type: 'text', text: 'Env. '.repeat(100), cache_control: { type: 'ephemeral' } }],
    tools: Array.from({ length: 24 }, (_, i) => ({ name: `Tool${i}`, description: 'Does a thing. '.repeat(110), input_schema: schema })),
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'Fix the failing test. '.repeat(40) }] },
      { role: 'assistant', content: [{ type: 'text', text: 'Looking.' }, { type: 'tool_use', id: 'toolu_01', name: 'Tool0', input: { command: 'npm test' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: 'FAIL test/x.test.ts '.repeat(150), cache_control: { type: 'ephemeral' } }] },
      { role: 'system', content: 'Reminder: stay in the repo.' },
      { role: 'user', content: 'go on' },
    ],
  };
}

/** p50 of translating `request` (a fresh copy each time, as a parsed body is) and serialising the result. */
function timeTranslation(toChatRequest, request) {
  for (let i = 0; i < 50; i++) toChatRequest(JSON.parse(JSON.stringify(request)));
  const ms = [];
  for (let i = 0; i < 200; i++) {
    const copy = JSON.parse(JSON.stringify(request));
    const t = performance.now();
    const r = toChatRequest(copy);
    JSON.stringify(r.value);
    ms.push(performance.now() - t);
  }
  return percentile(ms.sort((x, y) => x - y), 50);
}

/** A port free on loopback now (claude-code-router takes its port from its config, not 0). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Polls `url` until it answers (any status): claude-code-router prints no ready line. */
async function untilAnswers(url, what, child, timeoutMs = 20000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}) before it answered`);
    try {
      await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(500) });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${what} did not answer on ${url} within ${timeoutMs} ms`);
}

/**
 * claude-code-router in the foreground (`ccr start`), its home in `dir` so that nothing of the
 * user's is read or written, routing every request to the OpenAI-style sim node.
 */
async function startClaudeCodeRouter(dir, nodeUrl, model) {
  const cli = createRequire(import.meta.url).resolve('@musistudio/claude-code-router/dist/cli.js');
  const home = path.join(dir, 'ccr-home');
  mkdirSync(path.join(home, '.claude-code-router'), { recursive: true });
  const port = await freePort();
  const config = {
    PORT: port,
    HOST: '127.0.0.1',
    LOG: false,
    Providers: [{ name: 'sim', api_base_url: `${nodeUrl}/v1/chat/completions`, api_key: 'unused', models: [model] }],
    Router: { default: `sim,${model}` },
  };
  writeFileSync(path.join(home, '.claude-code-router', 'config.json'), JSON.stringify(config));
  const child = spawn(process.execPath, [cli, 'start'], { env: { ...process.env, HOME: home, USERPROFILE: home }, stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  await untilAnswers(url, 'claude-code-router', child);
  return { child, url };
}

export async function benchAnthropic({ seconds = 2 } = {}) {
  const { dir, cleanup } = tempDir();
  const children = [];
  const cluster = await startCluster(dir, [{ id: 'claude', kind: 'anthropic', models: ['claude-sonnet-4-5'], priority: 1 }, { id: 'local', kind: 'openai', models: ['qwen'], priority: 2 }], 3000);
  try {
    const [claudeUrl, localUrl] = cluster.ready.nodes.map((n) => n.url);
    const serve = async (name, nodes) => {
      const cfg = path.join(dir, `${name}.yaml`);
      writeFileSync(cfg, `nodes:\n${nodes.map((n, i) => `  - { id: ${n.id}, kind: ${n.kind}, url: "${n.url}", priority: ${i + 1} }`).join('\n')}\n`);
      const child = spawn(process.execPath, [BIN, 'serve', '--json', '--port', '0', '--health-interval', '600000', '--config', cfg, '--data-dir', path.join(dir, `data-${name}`)], { stdio: ['ignore', 'pipe', 'ignore'] });
      children.push(child);
      return (await startReady(child, { what: `jarvis serve (${name})`, event: 'listening' })).url;
    };
    const pass = await serve('pass', [{ id: 'claude', kind: 'anthropic', url: claudeUrl }]);
    const translate = await serve('translate', [{ id: 'local', kind: 'openai', url: localUrl }]);
    const ccr = await startClaudeCodeRouter(dir, localUrl, 'qwen');
    children.push(ccr.child);
    const headers = { 'x-api-key': 'unused', 'anthropic-version': '2023-06-01' };
    const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'ping' }] });
    const targets = [
      ['direct (sim Anthropic)', claudeUrl],
      ['jarvis serve, pass-through', pass],
      ['jarvis serve, translated to chat', translate],
      ['claude-code-router, translated to chat', ccr.url],
    ];
    const rows = [];
    const stats = {};
    for (const concurrency of [1, 16]) {
      const acc = await inTurns(targets.map(([name, origin]) => ({ name, origin, path: '/v1/messages', headers, body })), concurrency, seconds, ROUNDS);
      for (const [name] of targets) {
        const a = acc[name];
        const sorted = a.lat.sort((x, y) => x - y);
        const rps = a.n / seconds;
        stats[`${name}@${concurrency}`] = { p50: percentile(sorted, 50), rps };
        rows.push([name, String(concurrency), `${percentile(sorted, 50).toFixed(2)} ms`, `${percentile(sorted, 99).toFixed(2)} ms`, String(Math.round(rps)), String(a.errors)]);
      }
    }
    printTable('Messages API, same sim upstreams on loopback (closed loop, paths in turns)', ['path', 'concurrency', 'p50', 'p99', 'req/s', 'errors'], rows);

    const streamBody = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 20, stream: true, messages: [{ role: 'user', content: 'a b c d' }] });
    const fb = {};
    for (const [name, origin] of targets) fb[name] = percentile((await firstByte(origin, '/v1/messages', headers, 100, streamBody)).sort((x, y) => x - y), 50);

    // The translation itself, in this process: what a Claude Code request costs before it is sent.
    const { toChatRequest } = await import('../dist/protocols/anthropic/request.js');
    const big = claudeCodeRequest();
    const bigSize = JSON.stringify(big).length;
    const translateMs = timeTranslation(toChatRequest, big);
    const over = (name, c) => stats[`${name}@${c}`].p50 - stats[`direct (sim Anthropic)@${c}`].p50;
    const met = (ok) => (ok ? 'met' : 'MISSED');
    const ccrRatio = stats['jarvis serve, translated to chat@16'].rps / stats['claude-code-router, translated to chat@16'].rps;
    printTable('targets (ratios from this run)', ['measure', 'value', 'target'], [
      ['pass-through p50 added over direct, concurrency 1', `${over('jarvis serve, pass-through', 1).toFixed(2)} ms`, `< 0.5 ms: ${met(over('jarvis serve, pass-through', 1) < 0.5)}`],
      ['translation p50 added over direct, one-line request', `${over('jarvis serve, translated to chat', 1).toFixed(2)} ms`, `< 0.5 ms: ${met(over('jarvis serve, translated to chat', 1) < 0.5)}`],
      [`translating a Claude Code request (${Math.round(bigSize / 1024)} KB, 24 tools), p50`, `${translateMs.toFixed(2)} ms`, `< 2 ms: ${met(translateMs < 2)}`],
      ['throughput at 16, pass-through / direct', `${((stats['jarvis serve, pass-through@16'].rps / stats['direct (sim Anthropic)@16'].rps) * 100).toFixed(1)} %`, ''],
      ['stream first byte p50: direct / pass-through / translated / claude-code-router', targets.map(([name]) => fb[name].toFixed(2)).join(' / ') + ' ms', ''],
      ['throughput at 16, jarvis translating / claude-code-router', `${ccrRatio.toFixed(1)}x`, `>= 5x: ${met(ccrRatio >= 5)}`],
      ['p50 added at concurrency 1: jarvis / claude-code-router (both translating)', `${over('jarvis serve, translated to chat', 1).toFixed(2)} / ${over('claude-code-router, translated to chat', 1).toFixed(2)} ms`, ''],
    ]);
  } finally {
    for (const c of children) await stopChild(c);
    await cluster.stop();
    cleanup();
  }
}

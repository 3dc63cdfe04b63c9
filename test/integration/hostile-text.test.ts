/**
 * No secret shown or stored, no control character obeyed: a node whose errors echo the request's
 * credentials with terminal escapes and a forged line, and a node serving a model id with an ESC
 * sequence and a newline, run through every command, the proxy's endpoints and logs, the data
 * dir's files and an alert webhook. None of the configured secrets (a node key from the
 * environment, a header value, a client key, a webhook's path) appears anywhere, and no output
 * carries a raw ESC, BEL or CR, or a line the node forged.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { cleanEnv, jarvis, startServe, startSim, tempDir, type RunningSim } from '../helpers/cli.js';

const NODE_KEY = 'sk-live-SECRETKEY-123456';
const HEADER_VALUE = 'org-SECRET-HEADER-987';
const CLIENT_KEY = 'client-SECRET-key-0001';
const HOOK_PATH = 'hooks/T000/SECRET0HOOK0PATH0123';
const SECRETS = [NODE_KEY, HEADER_VALUE, CLIENT_KEY, 'SECRET0HOOK0PATH0123'];
const WEIRD_MODEL = 'qwen\u001b]0;title\u0007\u001b[2J\nFORGED-model';

let tmp: ReturnType<typeof tempDir>;
let sim: RunningSim;
let hook: http.Server;
const hookBodies: string[] = [];
let cfg: string;
let dataDir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  tmp = tempDir();
  dataDir = path.join(tmp.dir, 'data');
  env = cleanEnv(tmp.dir, { ECHO_KEY: NODE_KEY });
  hook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      hookBodies.push(body);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const spec = path.join(tmp.dir, 'spec.json');
  writeFileSync(spec, JSON.stringify({ nodes: [{ id: 'echo', kind: 'openai', models: ['m.gguf'], fault: 'hostile' }, { id: 'weird', kind: 'openai', models: [WEIRD_MODEL] }] }));
  sim = await startSim(['cluster', '--spec', spec]);
  const [echo, weird] = sim.ready.nodes;
  cfg = path.join(tmp.dir, 'jarvis.config.yaml');
  writeFileSync(
    cfg,
    [
      'nodes:',
      `  - { id: echo, kind: openai, url: "${echo!.url}", priority: 1, timeoutMs: 3000, apiKeyEnv: ECHO_KEY, headers: { x-org-token: "${HEADER_VALUE}" }, restart: [node, -e, "0"], process: false }`,
      `  - { id: weird, kind: openai, url: "${weird!.url}", priority: 2, timeoutMs: 3000 }`,
      `serve: { apiKeys: ["${CLIENT_KEY}"] }`,
      `alerts: { webhooks: [{ url: "http://127.0.0.1:${(hook.address() as AddressInfo).port}/${HOOK_PATH}", retries: 0 }] }`,
      'cascade: { initialBackoffMs: 10 }',
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  await sim?.stop();
  await new Promise((r) => hook?.close(r));
  tmp?.cleanup();
});

/** Everything a run printed, for the checks below. */
const seen: { what: string; text: string }[] = [];

async function run(args: string[]): Promise<string> {
  const r = await jarvis([...args, '--config', cfg, '--data-dir', dataDir], { env });
  seen.push({ what: `jarvis ${args.join(' ')}`, text: `${r.stdout}\n${r.stderr}` });
  // Each ran (a config error or a crash would leave nothing to check).
  expect([0, 1, 2, 4, 5], `jarvis ${args.join(' ')} exited ${r.code}:\n${r.stderr}`).toContain(r.code);
  return r.stdout;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe('secrets and control characters from a hostile node', () => {
  it('every command, the proxy and the files show neither', async () => {
    await run(['status']);
    await run(['status', '-v']);
    await run(['status', '--json']);
    await run(['diagnose', 'echo']);
    await run(['diagnose', 'echo', '--json']);
    await run(['diagnose', 'weird']);
    await run(['ask', '--node', 'echo', 'hi']);
    await run(['ask', '--node', 'echo', '--stream', 'hi']);
    await run(['ask', '--node', 'weird', 'hi', '--json']);
    await run(['health']);
    await run(['health', '--json']);
    await run(['check', '--verbose']);
    await run(['check', '--json']);
    await run(['recover', 'echo', '--force']);
    await run(['recover', 'echo', '--dry-run']);
    await run(['incidents']);
    await run(['incidents', '--json']);
    await run(['report']);
    // The proxy: requests that meet the node, its endpoints, its log.
    const serve = await startServe({ config: cfg, dataDir, env, args: ['--health-interval', '200', '--access-log'] });
    try {
      for (const stream of [false, true]) {
        const r = await fetch(`${serve.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` }, body: JSON.stringify({ model: 'auto', stream, messages: [{ role: 'user', content: 'hi' }] }) });
        seen.push({ what: `POST /v1/chat/completions stream=${stream}`, text: JSON.stringify(Object.fromEntries(r.headers)) + (await r.text()) });
      }
      // A background probe has seen the node (its detail is in /api/status).
      await waitFor(async () => ((await (await fetch(`${serve.url}/api/status`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } })).json()) as { nodes: { echo: { probe: string | null } } }).nodes.echo.probe !== null, { what: 'a probe of echo' });
      for (const route of ['/api/status', '/api/diagnostics', '/health', '/metrics', '/v1/models']) {
        const r = await fetch(`${serve.url}${route}`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } });
        seen.push({ what: `GET ${route}`, text: await r.text() });
      }
    } finally {
      await serve.stop();
      seen.push({ what: 'serve log', text: serve.log() });
    }
    for (const file of filesUnder(dataDir)) seen.push({ what: file, text: readFileSync(file, 'utf8') });
    seen.push(...hookBodies.map((text) => ({ what: 'webhook', text })));

    // The node did echo its key (the check would be empty otherwise), and the hook was called.
    const direct = await fetch(`${sim.ready.nodes[0]!.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${NODE_KEY}` }, body: '{}' });
    expect(await direct.text()).toContain(NODE_KEY);
    expect(hookBodies.length).toBeGreaterThan(0);
    expect(seen.some((s) => s.what.startsWith('jarvis status') && s.text.includes('***'))).toBe(true);

    for (const s of seen) {
      for (const secret of SECRETS) expect(s.text.includes(secret), `${secret} in ${s.what}:\n${s.text}`).toBe(false);
      expect(/[\u001b\u0007\r]/.test(s.text), `a raw control character in ${s.what}:\n${JSON.stringify(s.text)}`).toBe(false);
      expect(/^\s*FORGED/m.test(s.text), `a forged line in ${s.what}:\n${s.text}`).toBe(false);
    }
  });
});

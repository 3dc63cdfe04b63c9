/**
 * Client keys stay with jarvis: a key jarvis's own auth takes is never sent upstream, and a
 * client's own credentials reach an `anthropic` node only where it says `forwardClientAuth: true`.
 * A capture node records every header it gets.
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanEnv, startServe, tempDir, type RunningServe } from '../helpers/cli.js';

let tmp: ReturnType<typeof tempDir>;
let capture: http.Server;
let seen: http.IncomingHttpHeaders[];
let serve: RunningServe | undefined;
const JARVIS_KEY = 'jk-0123456789abcdef';

beforeEach(async () => {
  tmp = tempDir();
  seen = [];
  // Answers as Anthropic's Messages API does, and writes down what it was sent.
  capture = http.createServer((req, res) => {
    if (req.method === 'POST') seen.push(req.headers);
    req.resume().on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x', content: [{ type: 'text', text: 'pong' }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 1, output_tokens: 1 } }));
    });
  });
  await new Promise<void>((r) => capture.listen(0, '127.0.0.1', r));
});

afterEach(async () => {
  await serve?.stop();
  serve = undefined;
  await new Promise((r) => capture.close(r));
  tmp.cleanup();
});

async function through(node: string, headers: Record<string, string>): Promise<http.IncomingHttpHeaders> {
  const config = path.join(tmp.dir, 'jarvis.config.yaml');
  writeFileSync(config, `nodes:\n  - { id: claude, kind: anthropic, url: "http://127.0.0.1:${(capture.address() as AddressInfo).port}"${node} }\nserve: { apiKeys: ["${JARVIS_KEY}"], protect: all }\n`);
  serve = await startServe({ config, dataDir: path.join(tmp.dir, 'data'), env: cleanEnv(tmp.dir), args: ['--health-interval', '3600000'] });
  const r = await fetch(`${serve.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers }, body: JSON.stringify({ model: 'claude-x', max_tokens: 10, messages: [{ role: 'user', content: 'ping' }] }) });
  expect(r.status).toBe(200);
  await serve.stop();
  serve = undefined;
  return seen.at(-1)!;
}

describe('client keys', () => {
  it('the key jarvis took (x-api-key or Bearer) is never forwarded, even to a node that forwards client auth', async () => {
    for (const node of ['', ', forwardClientAuth: true']) {
      expect(await through(node, { 'x-api-key': JARVIS_KEY })).not.toHaveProperty('x-api-key');
      const bearer = await through(node, { authorization: `Bearer ${JARVIS_KEY}` });
      expect(bearer).not.toHaveProperty('authorization');
      expect(bearer).not.toHaveProperty('x-api-key');
    }
  });

  it('the client\'s own credential reaches an anthropic node only with forwardClientAuth: true', async () => {
    const plain = await through('', { authorization: `Bearer ${JARVIS_KEY}`, 'x-api-key': 'sk-ant-users-own' });
    expect(plain).not.toHaveProperty('x-api-key');
    expect(plain['anthropic-version']).toBe('2023-06-01');
    const forwarding = await through(', forwardClientAuth: true', { authorization: `Bearer ${JARVIS_KEY}`, 'x-api-key': 'sk-ant-users-own' });
    expect(forwarding['x-api-key']).toBe('sk-ant-users-own');
    expect(forwarding).not.toHaveProperty('authorization');
  });
});

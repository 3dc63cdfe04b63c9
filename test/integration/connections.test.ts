/**
 * Resources bounded: under `ulimit -n 1024`, 1,100 slow connections (a head trickled a line at a
 * time) cannot starve the proxy. Beyond the cap (480 there) new connections are closed at once;
 * slow senders are answered 408 after serve.headersTimeoutMs; a client already connected and the
 * health probes go on working throughout. Node's parser rejections are answered in the API's own
 * shape, and a client that goes away mid-body is one line in the log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, startCluster, startServe, stopChild, tempDir, type RunningServe, type RunningSim } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

let tmp: ReturnType<typeof tempDir>;
let sim: RunningSim;
let serve: RunningServe;
let port: number;

beforeAll(async () => {
  tmp = tempDir();
  const cluster = await startCluster(tmp.dir, [{ id: 'a', kind: 'ollama', models: ['qwen3:8b'] }, { id: 'b', kind: 'ollama', models: ['qwen3:8b'] }], { timeoutMs: 3000, extra: 'serve: { headersTimeoutMs: 1500 }\n' });
  sim = cluster.sim;
  serve = await startServe({ config: cluster.cfg, dataDir: path.join(tmp.dir, 'data'), env: cleanEnv(tmp.dir), args: ['--health-interval', '300'], wrapper: ['bash', '-c', 'ulimit -n 1024 && exec "$0" "$@"'] });
  port = Number(new URL(serve.url).port);
});

afterAll(async () => {
  await serve?.stop();
  await sim?.stop();
  tmp?.cleanup();
});

/** Sends `text` on a fresh connection and reads what comes back until the server closes it. */
function raw(text: string | Buffer, options: { destroyAfterWrite?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.write(text);
      if (options.destroyAfterWrite) {
        socket.destroy();
        resolve('');
      }
    });
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString()));
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
  });
}

const bodyOf = (reply: string) => JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)) as unknown;

describe("Node's parser rejections, in the API's shape", () => {
  it('431 for a head too large, 400 for a bad Content-Length; Anthropic-shaped for /v1/messages', async () => {
    const big = `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`;
    const r1 = await raw(big);
    expect(r1).toMatch(/^HTTP\/1\.1 431 /);
    expect(bodyOf(r1)).toMatchObject({ error: { type: 'invalid_request_error', message: 'request head too large' } });
    const r2 = await raw(`POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(bodyOf(r2)).toEqual({ type: 'error', error: { type: 'request_too_large', message: 'request head too large' } });
    const r3 = await raw('POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n{}');
    expect(r3).toMatch(/^HTTP\/1\.1 400 /);
    expect(bodyOf(r3)).toMatchObject({ error: { message: 'bad Content-Length' } });
  });

  it('a client that goes away mid-body is one line in the log, no stack trace', async () => {
    await raw('POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model":"qw', { destroyAfterWrite: true });
    await serve.waitForLog(/client gone: POST \/v1\/chat\/completions/);
    expect(serve.log()).not.toMatch(/^\s+at /m);
    expect(serve.log()).not.toMatch(/error: POST/);
  });
});

describe('1,100 slow connections under ulimit -n 1024', () => {
  it('the cap closes the surplus at once, slow senders get 408, a connected client and the probes keep working', async () => {
    // A client connected before the flood (one kept-alive connection), as an editor would be.
    const client = new Pool(serve.url, { connections: 1 });
    const chat = async () => {
      const r = await client.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'qwen3:8b', messages: [{ role: 'user', content: 'hi' }] }) });
      return { status: r.statusCode, text: await r.body.text() };
    };
    expect((await chat()).status).toBe(200);
    // The flood, from a process of its own (its own descriptors): each connection trickles a head line every 300 ms.
    const script = `
      const net = require('node:net');
      let opened = 0, closed = 0, answered408 = 0;
      const report = () => console.log(JSON.stringify({ opened, closed, answered408 }));
      for (let i = 0; i < 1100; i++) {
        const s = net.connect({ host: '127.0.0.1', port: ${port} }, () => {
          opened++;
          s.write('POST /v1/chat/completions HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n');
          const t = setInterval(() => s.writable && s.write('x-slow: 1\\r\\n'), 300);
          s.on('close', () => clearInterval(t));
        });
        s.on('data', (d) => { if (/^HTTP\\/1\\.1 408/.test(String(d))) answered408++; });
        s.on('error', () => undefined);
        s.on('close', () => closed++);
      }
      setInterval(report, 100);
    `;
    const flood: ChildProcess = spawn('bash', ['-c', 'ulimit -n 4096 && exec "$0" "$@"', process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let last = { opened: 0, closed: 0, answered408: 0 };
    createInterface({ input: flood.stdout! }).on('line', (l) => (last = JSON.parse(l) as typeof last));
    try {
      // The surplus over the cap (480) is closed as it comes.
      await waitFor(() => last.closed >= 1100 - 480, { what: 'the connections over the cap to be closed', timeoutMs: 20_000 });
      await serve.waitForLog(/connections: at the cap of 480 client connections/);
      // Meanwhile the connected client is served and the probes see healthy nodes.
      expect((await chat()).status).toBe(200);
      const health = await client.request({ path: '/health', method: 'GET' });
      expect(JSON.parse(await health.body.text())).toMatchObject({ status: 'ok' });
      // The slow ones are answered 408 once their head is overdue, and closed.
      await waitFor(() => last.closed === 1100, { what: 'every slow connection to be closed', timeoutMs: 30_000 });
      expect(last.answered408).toBeGreaterThan(0);
    } finally {
      await stopChild(flood);
    }
    // A new client connects and is answered; no probe ever read this machine's limits as a node fault.
    const fresh = await fetch(`${serve.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'qwen3:8b', messages: [{ role: 'user', content: 'hi' }] }) });
    expect(fresh.status).toBe(200);
    expect(serve.log()).not.toMatch(/EMFILE|bad_response|could not probe/);
    await client.close();
  });
});

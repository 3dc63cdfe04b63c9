/**
 * The sender on both of its clients (node:http for one-shot commands, undici's pool driven by our
 * own handler for `jarvis serve`) against a server on 127.0.0.1 in this process, whose behaviour
 * each test picks: whole replies, SSE streams, a stream cut short, a hang, a caller that cancels.
 * Every test checks that an exchange we gave up on is closed on the server's side too.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeConfig } from '../../src/config/schema.js';
import { Cancel } from '../../src/system/cancel.js';
import { createSender, type SendChat } from '../../src/transport/sender.js';
import { nodeHttpRequester, undiciRequester } from '../../src/transport/requesters.js';

type Behaviour = (req: http.IncomingMessage, res: http.ServerResponse) => void;
let behaviour: Behaviour = (_req, res) => res.end();
/** Resolves when the server sees the current request's connection or response close. */
let closed: Promise<void> = Promise.resolve();
let server: http.Server;
let node: NodeConfig;

const chunk = (content: string, finish: string | null = null) => `data: ${JSON.stringify({ model: 'm', choices: [{ delta: { content }, finish_reason: finish }] })}\n\n`;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    closed = new Promise((resolve) => res.on('close', () => resolve()));
    req.resume();
    req.on('end', () => behaviour(req, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  node = { id: 'n', kind: 'openai', url: `http://127.0.0.1:${port}`, priority: 1, fallbacks: [] } as unknown as NodeConfig;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const clients: [string, () => Promise<SendChat>][] = [
  ['node:http', () => Promise.resolve(createSender(nodeHttpRequester))],
  ['undici', async () => createSender(await undiciRequester())],
];

describe.each(clients)('sender over %s', (_name, make) => {
  let send: SendChat;
  beforeAll(async () => {
    send = await make();
  });
  const ask = (stream: boolean, timeoutMs = 2000, signal?: Cancel) => send(node, { messages: [{ role: 'user', content: 'ping' }], stream, model: 'm' }, { timeoutMs, ...(signal && { signal }) });

  it('a whole reply: the content and the raw body', async () => {
    const body = JSON.stringify({ model: 'm', choices: [{ message: { role: 'assistant', content: 'pong' } }] });
    behaviour = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    const out = await ask(false);
    expect(out).toEqual({ ok: true, value: { content: 'pong', model: 'm', raw: body } });
  });

  it('a reply in many small chunks, multi-byte characters split between them', async () => {
    const body = Buffer.from(JSON.stringify({ choices: [{ message: { content: 'héllo wörld ✓' } }] }));
    behaviour = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      let i = 0;
      const step = () => (i < body.length ? (res.write(body.subarray(i, (i += 3))), setImmediate(step)) : res.end());
      step();
    };
    const out = await ask(false);
    expect(out.ok && out.value.content).toBe('héllo wörld ✓');
  });

  it('an SSE stream: every line forwarded, tokens counted', async () => {
    behaviour = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk('a'));
      setTimeout(() => res.end(chunk('b', 'stop') + 'data: [DONE]\n\n'), 20);
    };
    const lines: string[] = [];
    const out = await send(node, { messages: [], stream: true }, { timeoutMs: 2000, onData: (l) => lines.push(l) });
    expect(out).toMatchObject({ ok: true, value: { content: 'ab', tokens: 2 } });
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('data: [DONE]');
  });

  it('a long stream in bursts (the reader behind, caught up, behind again): every token, in order', async () => {
    const words = Array.from({ length: 300 }, (_, i) => `w${i} `);
    behaviour = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let i = 0;
      const burst = () => {
        if (i >= words.length) return void res.end(chunk('', 'stop') + 'data: [DONE]\n\n');
        // 1 to 7 chunks at once, some split in the middle of a line.
        const n = 1 + (i % 7);
        const text = words.slice(i, (i += n)).map((w) => chunk(w)).join('');
        res.write(text.slice(0, 10));
        res.write(text.slice(10));
        setImmediate(burst);
      };
      burst();
    };
    const tokens: string[] = [];
    const out = await send(node, { messages: [], stream: true }, { timeoutMs: 5000, onToken: (t) => tokens.push(t) });
    expect(out).toMatchObject({ ok: true, value: { content: words.join(''), tokens: 300 } });
    expect(tokens).toEqual(words);
  });

  it('a stream cut after the first token: stream_broken, not a failover', async () => {
    behaviour = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk('a'));
      setTimeout(() => res.socket?.destroy(), 20);
    };
    const out = await ask(true);
    expect(out).toMatchObject({ ok: false, failure: { class: 'stream_broken', tokens: 1 } });
  });

  it('an HTTP error is classified from its body', async () => {
    behaviour = (_req, res) => res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'Loading model' }));
    expect(await ask(false)).toMatchObject({ ok: false, failure: { class: 'loading', httpStatus: 503 } });
  });

  it("an error's headers are read (a 429's Retry-After, however spelled); an answer's content type, however spelled, among repeated headers", async () => {
    behaviour = (_req, res) => {
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.writeHead(429, { 'RETRY-AFTER': '7', 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'slow down' } }));
    };
    expect(await ask(false)).toMatchObject({ ok: false, failure: { class: 'throttled', httpStatus: 429, retryAfterS: 7 } });
    behaviour = (_req, res) => {
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.writeHead(200, { 'X-Other': 'x', 'Content-TYPE': 'text/event-stream; charset=utf-8' });
      res.end(chunk('a', 'stop') + 'data: [DONE]\n\n');
    };
    const lines: string[] = [];
    const out = await send(node, { messages: [], stream: true }, { timeoutMs: 2000, onData: (l) => lines.push(l) });
    // Read as a stream (not as a whole reply, which these lines are not).
    expect(out).toMatchObject({ ok: true, value: { content: 'a', tokens: 1 } });
    expect(lines).toHaveLength(2);
  });

  it('a stream longer than the timeout that keeps sending is read to its end: once begun, the timeout bounds the silence, not the length', async () => {
    const words = Array.from({ length: 12 }, (_, i) => `w${i} `);
    behaviour = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let i = 0;
      const next = () => {
        if (res.destroyed) return;
        if (i < words.length) {
          res.write(chunk(words[i++]!));
          setTimeout(next, 200);
        } else res.end(`${chunk('', 'stop')}data: [DONE]\n\n`);
      };
      next();
    };
    // 12 words 200 ms apart: about 2.4 s, against a timeout of 1.2 s (a gap has a second to spare
    // on a machine busy enough to stall this process).
    const out = await send(node, { messages: [], stream: true }, { timeoutMs: 1200 });
    expect(out).toMatchObject({ ok: true, value: { content: words.join(''), tokens: 12 } });
  });

  it('a stream that goes silent after its first token: broken once the node sent nothing for the timeout, and the upstream request is closed', async () => {
    behaviour = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk('a'));
    };
    const started = performance.now();
    const out = await send(node, { messages: [], stream: true }, { timeoutMs: 300 });
    expect(out).toMatchObject({ ok: false, failure: { class: 'stream_broken', tokens: 1, message: expect.stringContaining('sent nothing for 300 ms') } });
    expect(performance.now() - started).toBeLessThan(3000);
    await closed;
  });

  it('a hung server: timeout within the bound, and the exchange is closed on the server too', async () => {
    behaviour = () => undefined; // never answers
    const started = performance.now();
    const out = await ask(false, 300);
    expect(out).toMatchObject({ ok: false, failure: { class: 'timeout' } });
    expect(performance.now() - started).toBeLessThan(2000);
    await closed;
  });

  it('a caller that cancels mid-stream: aborted, and the upstream request is closed', async () => {
    behaviour = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk('a'));
    };
    const cancel = new Cancel();
    const pending = send(node, { messages: [], stream: true }, { timeoutMs: 5000, signal: cancel, onToken: () => cancel.abort() });
    // The caller's own doing, not the node's: not a broken stream (which would be the node's last error).
    expect(await pending).toMatchObject({ ok: false, failure: { class: 'aborted', tokens: 1 } });
    await closed;
  });

  it('a chunk that does not parse mid-stream: a broken stream after the token it forwarded, and the upstream request is closed', async () => {
    behaviour = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk('a'));
      setTimeout(() => res.write('data: {"choices": [\n\n'), 20);
    };
    const lines: string[] = [];
    const out = await send(node, { messages: [], stream: true }, { timeoutMs: 5000, onData: (l) => lines.push(l) });
    expect(out).toMatchObject({ ok: false, failure: { class: 'stream_broken', tokens: 1 } });
    expect(lines).toHaveLength(1);
    await closed;
  });

  it('a listener that throws mid-stream (a client gone while it was written to): the attempt ends, and the upstream request is closed', async () => {
    behaviour = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk('a'));
      setTimeout(() => res.write(chunk('b')), 20);
    };
    let calls = 0;
    const onData = () => {
      if (++calls === 2) throw new Error('write after end');
    };
    const out = await send(node, { messages: [], stream: true }, { timeoutMs: 5000, onData });
    expect(out).toMatchObject({ ok: false, failure: { class: 'stream_broken', message: expect.stringContaining('write after end') } });
    expect(calls).toBe(2);
    await closed;
  });

  it('cancelled before it is sent: aborted at once', async () => {
    const cancel = new Cancel();
    cancel.abort();
    expect(await ask(false, 2000, cancel)).toMatchObject({ ok: false, failure: { class: 'aborted' } });
  });

  it('nothing listening: refused', async () => {
    const gone = http.createServer();
    await new Promise<void>((r) => gone.listen(0, '127.0.0.1', () => r()));
    const { port } = gone.address() as AddressInfo;
    await new Promise((r) => gone.close(r));
    const out = await send({ ...node, url: `http://127.0.0.1:${port}` }, { messages: [], stream: false }, { timeoutMs: 2000 });
    expect(out).toMatchObject({ ok: false, failure: { class: 'refused' } });
  });
});

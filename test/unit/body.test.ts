import { Readable } from 'node:stream';
import type http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { readJsonObject } from '../../src/serve/body.js';

// A full collection on demand, to see what is still reachable.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const request = (text: string, headers: http.IncomingHttpHeaders = {}) => Object.assign(Readable.from([Buffer.from(text)], { objectMode: false }), { headers }) as unknown as http.IncomingMessage;

describe('reading a client body', () => {
  it('parses an object, refuses what is not one, too deep or too large', async () => {
    expect(await readJsonObject(request('{"model":"m","messages":[]}'), 1000)).toMatchObject({ ok: true, value: { model: 'm', messages: [] } });
    expect(await readJsonObject(request('[1]'), 1000)).toMatchObject({ ok: false, error: { status: 400, code: 'invalid_json' } });
    expect(await readJsonObject(request(`${'['.repeat(100)}${']'.repeat(100)}`), 1000)).toMatchObject({ ok: false, error: { status: 400, message: expect.stringMatching(/deeper than 64/) } });
    expect(await readJsonObject(request('{"a":"0123456789"}'), 10)).toMatchObject({ ok: false, error: { status: 413 } });
    expect(await readJsonObject(request('{}', { 'content-length': '5000' }), 1000)).toMatchObject({ ok: false, error: { status: 413, message: expect.stringMatching(/5000 bytes/) } });
  });

  it('once read, the request keeps nothing of it: only its error listener stays while the answer streams, not the readers, the parsed body or its text', async () => {
    const req = request(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'a long conversation '.repeat(1000) }] }));
    let read: WeakRef<object> | undefined;
    await (async () => {
      const result = await readJsonObject(req, 1 << 20);
      expect(result.ok).toBe(true);
      read = new WeakRef(result);
    })();
    // A WeakRef holds its target until the job that made it ends.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(req.listenerCount('error')).toBe(1);
    expect(req.listenerCount('data') + req.listenerCount('end')).toBe(0);
    expect(read!.deref()).toBeUndefined();
  });
});

/**
 * A web page cannot drive jarvis serve: a cross-origin `POST /api/heal` with Content-Type
 * text/plain (what any page can send without a preflight), a `Host: evil.example` (DNS rebinding)
 * and a form's body are refused with 403, and the node's restart argv does not run. The API
 * answers browsers only from the origins serve.cors lists. A policy that needs a key with none in
 * force does not start.
 */
import { existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanEnv, freePort, jarvis, startServe, tempDir, type RunningServe } from '../helpers/cli.js';

let tmp: ReturnType<typeof tempDir>;
let env: NodeJS.ProcessEnv;
let serve: RunningServe | undefined;

beforeEach(() => {
  tmp = tempDir();
  env = cleanEnv(tmp.dir);
});

afterEach(async () => {
  await serve?.stop();
  serve = undefined;
  tmp.cleanup();
});

/** One raw request, headers exactly as given (a browser's, or an attacker's). */
function raw(url: string, method: string, p: string, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path: p, headers: { ...headers, ...(body !== undefined && { 'content-length': String(Buffer.byteLength(body)) }) }, setHost: !('host' in headers) }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function setup(extra = ''): Promise<{ marker: string; url: string }> {
  const port = await freePort();
  const marker = path.join(tmp.dir, 'restart-ran');
  const config = path.join(tmp.dir, 'jarvis.config.yaml');
  writeFileSync(config, `nodes:\n  - { id: x, kind: ollama, url: "http://127.0.0.1:${port}", model: "qwen3:8b", timeoutMs: 500, restart: [${JSON.stringify(process.execPath)}, -e, "require('fs').writeFileSync(${JSON.stringify(marker).replace(/"/g, '\\"')}, 'ran')"], process: false }\nrecover: { healthTimeoutMs: 500 }\n${extra}`);
  serve = await startServe({ config, dataDir: path.join(tmp.dir, 'data'), env, args: ['--health-interval', '3600000'] });
  return { marker, url: serve.url };
}

describe('management routes and web pages', () => {
  it('a cross-origin text/plain POST /api/heal, a rebinding Host, a form body: 403, nothing restarted; a same-origin JSON request works', async () => {
    const { marker, url } = await setup();
    const body = JSON.stringify({ node: 'x' });
    const refused: Record<string, string>[] = [
      // What a page at evil.example sends with fetch(url, {method: 'POST', mode: 'no-cors', body}).
      { origin: 'http://evil.example', 'content-type': 'text/plain;charset=UTF-8' },
      { origin: 'http://evil.example', 'content-type': 'application/json' },
      { origin: 'null', 'content-type': 'application/json' },
      // DNS rebinding: evil.example resolves to 127.0.0.1; the browser sends its own name as Host and Origin.
      { host: 'evil.example:80', origin: 'http://evil.example:80', 'content-type': 'application/json' },
      { host: 'evil.example', 'content-type': 'application/json' },
      // An HTML form, same origin or not, cannot send JSON.
      { 'content-type': 'application/x-www-form-urlencoded' },
      { 'content-type': 'text/plain' },
    ];
    for (const headers of refused) {
      const r = await raw(url, 'POST', '/api/heal', headers, body);
      expect(r.status, JSON.stringify(headers)).toBe(403);
      expect((JSON.parse(r.body) as { error: { type: string } }).error.type).toBe('permission_error');
    }
    for (const p of ['/api/status', '/api/diagnostics', '/metrics', '/status.json']) {
      expect((await raw(url, 'GET', p, { host: 'rebind.evil.example:4000' })).status, p).toBe(403);
      expect((await raw(url, 'GET', p, { origin: 'http://evil.example' })).status, p).toBe(403);
    }
    expect(existsSync(marker)).toBe(false);
    // The same origin, JSON, a name of this machine: as before.
    expect((await raw(url, 'GET', '/api/status', { host: `localhost:${new URL(url).port}` })).status).toBe(200);
    const ok = await raw(url, 'POST', '/api/heal', { 'content-type': 'application/json', origin: url }, body);
    expect(ok.status).not.toBe(403);
    await new Promise((r) => setTimeout(r, 0));
    expect(existsSync(marker)).toBe(true);
  });

  it('the API from a browser only for the origins serve.cors lists: preflight and request', async () => {
    const { url } = await setup('serve: { cors: ["http://app.example"] }\n');
    expect((await raw(url, 'GET', '/v1/models', { origin: 'http://evil.example' })).status).toBe(403);
    expect((await raw(url, 'OPTIONS', '/v1/chat/completions', { origin: 'http://evil.example', 'access-control-request-method': 'POST' })).status).toBe(403);
    const pre = await raw(url, 'OPTIONS', '/v1/chat/completions', { origin: 'http://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' });
    expect(pre.status).toBe(204);
    expect(pre.headers).toMatchObject({ 'access-control-allow-origin': 'http://app.example', 'access-control-allow-headers': 'authorization, content-type' });
    const models = await raw(url, 'GET', '/v1/models', { origin: 'http://app.example' });
    expect(models.status).toBe(200);
    expect(models.headers['access-control-allow-origin']).toBe('http://app.example');
    // Clients that are not browsers send no Origin: unaffected.
    expect((await raw(url, 'GET', '/v1/models', {})).status).toBe(200);
    // The allowed app is still no manager.
    expect((await raw(url, 'POST', '/api/heal', { origin: 'http://app.example', 'content-type': 'application/json' }, '{"node":"x"}')).status).toBe(403);
  });
});

describe('fail closed', () => {
  it('protect: all with its key variable unset does not start: one line naming the setting, exit 3', async () => {
    const config = path.join(tmp.dir, 'jarvis.config.yaml');
    writeFileSync(config, `nodes:\n  - { id: x, kind: ollama, url: "http://127.0.0.1:${await freePort()}" }\nserve: { protect: all, apiKeysEnv: JARVIS_TEST_KEYS }\n`);
    const r = await jarvis(['serve', '--port', '0', '--host', '0.0.0.0', '--config', config, '--data-dir', path.join(tmp.dir, 'data')], { env });
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toBe('jarvis: serve.protect is all, but no client key is in force ($JARVIS_TEST_KEYS, named by serve.apiKeysEnv, is unset or empty): set serve.apiKeys, serve.apiKeysEnv, --api-key or $JARVIS_API_KEY, or protect: management');
    // With the key set, it starts, and /v1 asks for it.
    serve = await startServe({ config, dataDir: path.join(tmp.dir, 'data'), env: { ...env, JARVIS_TEST_KEYS: 'k-0123456789' } });
    expect((await fetch(`${serve.url}/v1/models`)).status).toBe(401);
    expect((await fetch(`${serve.url}/v1/models`, { headers: { authorization: 'Bearer k-0123456789' } })).status).toBe(200);
  });
});

// The bare Node proxy the serve benchmark measures jarvis against (issue 17): node:http in, an
// undici Pool out, the body passed through, nothing else: no routing, no breakers, no metrics.
// Usage: node bench/bare-proxy.js UPSTREAM_ORIGIN [CONNECTIONS (128)]; prints {"event":"listening","url":...}.
import { Buffer } from 'node:buffer';
import http from 'node:http';
import { Pool } from 'undici';

const upstream = process.argv[2];
if (!upstream) {
  console.error('usage: node bench/bare-proxy.js UPSTREAM_ORIGIN [CONNECTIONS]');
  process.exit(2);
}
const pool = new Pool(upstream, { connections: Number(process.argv[3] ?? 128), keepAliveTimeout: 30_000 });

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    pool.request({ path: req.url, method: req.method, headers: { 'content-type': req.headers['content-type'] ?? 'application/json' }, body: Buffer.concat(chunks) }).then(
      async (r) => {
        res.writeHead(r.statusCode, { 'content-type': r.headers['content-type'] ?? 'application/json' });
        for await (const c of r.body) res.write(c);
        res.end();
      },
      (error) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(String(error.message));
      },
    );
  });
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ event: 'listening', url: `http://127.0.0.1:${server.address().port}` }));
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void pool.close().then(() => process.exit(0));
});

// The bare Node proxy the serve benchmark measures jarvis against (issue 17): node:http in, an
// undici Pool out, the body passed through, nothing else: no routing, no breakers, no metrics.
// Usage: node bench/bare-proxy.js UPSTREAM_ORIGIN; prints {"event":"listening","url":...}.
import { Buffer } from 'node:buffer';
import http from 'node:http';
import { Pool } from 'undici';

const upstream = process.argv[2];
if (!upstream) {
  console.error('usage: node bench/bare-proxy.js UPSTREAM_ORIGIN');
  process.exit(2);
}
const pool = new Pool(upstream, { connections: 128, keepAliveTimeout: 30_000 });

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
import v8 from "node:v8";
setInterval(() => { const m = process.memoryUsage(); const sp = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name.replace("_space",""), Math.round(s.space_size / 1048576)])); console.error(`rss ${Math.round(m.rss/1048576)} heapTotal ${Math.round(m.heapTotal/1048576)} used ${Math.round(m.heapUsed/1048576)} ext ${Math.round(m.external/1048576)} ab ${Math.round(m.arrayBuffers/1048576)} conns ${server._connections}`, JSON.stringify(sp)); }, 1000).unref();
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ event: 'listening', url: `http://127.0.0.1:${server.address().port}` }));
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void pool.close().then(() => process.exit(0));
});

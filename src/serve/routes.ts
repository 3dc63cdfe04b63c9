/**
 * What `jarvis serve` answers: the route table (exact paths, then the badges' prefix, then a
 * browser at `/`), and the dispatch of one request through the web guard, CORS and auth to its
 * handler. The server (server.ts) owns the listening socket and counts what is in flight.
 */
import type http from 'node:http';
import type { ClientAuth } from './auth.js';
import type { Route, ServeContext, ServeResponse } from './context.js';
import * as anthropic from './anthropic/messages.js';
import * as management from './management.js';
import * as ollama from './ollama/api.js';
import * as statusPage from './status/routes.js';
import { chatCompletions, embeddings } from './openai/chat.js';
import { sendError } from './openai/errors.js';
import { modelList } from './openai/models.js';
import { sendJson } from './reply.js';
import { printableOrigin, type WebGuard } from './web-guard.js';

const ROUTES: Route[] = [
  { method: 'HEAD', path: '/', auth: 'public', handle: management.root },
  { method: 'GET', path: '/', auth: 'public', handle: management.root },
  { method: 'GET', path: '/status', auth: 'status', handle: statusPage.page },
  { method: 'GET', path: '/status.json', auth: 'status', handle: statusPage.live },
  { method: 'GET', path: '/health', auth: 'public', handle: management.health },
  { method: 'GET', path: '/health/live', auth: 'public', handle: management.live },
  { method: 'GET', path: '/v1/models', auth: 'api', handle: (_req, res, ctx) => sendJson(res, 200, modelList(ctx.config, ctx.catalog)) },
  { method: 'POST', path: '/v1/chat/completions', auth: 'api', handle: chatCompletions },
  { method: 'POST', path: '/v1/embeddings', auth: 'api', handle: embeddings },
  { method: 'POST', path: '/v1/messages', auth: 'api', handle: anthropic.messages },
  { method: 'POST', path: '/v1/messages/count_tokens', auth: 'api', handle: anthropic.countTokens },
  // Ollama's own API: the same engine, auth and headers as /v1.
  { method: 'POST', path: '/api/chat', auth: 'api', handle: ollama.chat },
  { method: 'POST', path: '/api/generate', auth: 'api', handle: ollama.generate },
  { method: 'POST', path: '/api/embed', auth: 'api', handle: ollama.embed },
  { method: 'POST', path: '/api/embeddings', auth: 'api', handle: ollama.embeddings },
  { method: 'GET', path: '/api/tags', auth: 'api', handle: ollama.tags },
  { method: 'GET', path: '/api/version', auth: 'api', handle: ollama.version },
  { method: 'GET', path: '/api/ps', auth: 'api', handle: ollama.ps },
  { method: 'POST', path: '/api/show', auth: 'api', handle: ollama.show },
  ...['/api/pull', '/api/push', '/api/create', '/api/copy'].map((path): Route => ({ method: 'POST', path, auth: 'api', handle: ollama.manage })),
  { method: 'DELETE', path: '/api/delete', auth: 'api', handle: ollama.manage },
  { method: 'GET', path: '/metrics', auth: 'manage', handle: management.metrics },
  { method: 'GET', path: '/api/status', auth: 'manage', handle: management.status },
  { method: 'GET', path: '/api/diagnostics', auth: 'manage', handle: management.diagnostics },
  { method: 'POST', path: '/api/heal', auth: 'manage', handle: management.heal },
  { method: 'POST', path: '/mcp', auth: 'manage', handle: management.mcp },
  { method: 'GET', path: '/mcp', auth: 'manage', handle: management.mcp },
  { method: 'DELETE', path: '/mcp', auth: 'manage', handle: management.mcp },
];
/** Routes by path, then method: no key string put together per request. */
const ROUTE_TABLE = new Map<string, Map<string, Route>>();
for (const r of ROUTES) {
  let byMethod = ROUTE_TABLE.get(r.path);
  if (!byMethod) ROUTE_TABLE.set(r.path, (byMethod = new Map<string, Route>()));
  byMethod.set(r.method, r);
}
/** Routes by prefix (the badges), after the exact ones. */
const BADGES: Route = { method: 'GET', path: '/badge/', auth: 'status', handle: statusPage.badgeRoute };
/** A browser at / gets the status page when it may see it. */
const PAGE_AT_ROOT: Route = { method: 'GET', path: '/', auth: 'status', handle: statusPage.page };

/** Answers one request: its route, the guard's and the auth's word, then its handler. */
export function dispatch(req: http.IncomingMessage, res: ServeResponse, ctx: ServeContext, auth: ClientAuth, guard: WebGuard): void {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  let route = ROUTE_TABLE.get(path)?.get(req.method ?? '');
  if (!route && req.method === 'GET' && path.startsWith('/badge/')) route = BADGES;
  else if (path === '/' && req.method === 'GET' && /text\/html/.test(req.headers.accept ?? '') && auth.allows(req, PAGE_AT_ROOT)) route = PAGE_AT_ROOT;
  if (!route && req.method === 'OPTIONS') return preflight(req, res, path, guard);
  if (!route) return sendError(res, { status: 404, message: `no route ${req.method} ${path}`, type: 'invalid_request_error', code: 'not_found' });
  const refused = guard.refusal(req, route);
  if (refused) return sendError(res, { status: 403, message: refused, type: 'permission_error', code: 'forbidden' });
  const origin = req.headers.origin;
  if (origin !== undefined && route.auth === 'api') for (const [k, v] of Object.entries(guard.corsHeaders(origin))) res.setHeader(k, v);
  if (!auth.allows(req, route)) return sendError(res, { status: 401, message: auth.refusal(), type: 'authentication_error', code: 'invalid_api_key' });
  Promise.resolve(route.handle(req, res, ctx)).catch((error: unknown) => {
    // A client that went away mid-request (its body cut short) is news of one line, not a bug.
    if (req.destroyed || res.destroyed || (error as NodeJS.ErrnoException).code === 'ECONNRESET') {
      return ctx.log(`client gone: ${req.method} ${path}: ${(error as Error).message} (after ${req.socket.bytesRead} bytes)`);
    }
    ctx.log(`error: ${req.method} ${path}: ${(error as Error).stack ?? String(error)}`);
    sendError(res, { status: 500, message: 'internal error', type: 'server_error' });
  });
}

/** A browser's preflight for an API route: answered for the origins serve.cors lists. */
function preflight(req: http.IncomingMessage, res: http.ServerResponse, path: string, guard: WebGuard): void {
  const routes = [...(ROUTE_TABLE.get(path)?.values() ?? [])];
  const origin = req.headers.origin;
  if (!routes.some((r) => r.auth === 'api') || origin === undefined || !guard.corsAllows(origin)) {
    return sendError(res, { status: 403, message: `no cross-origin access to ${path}${origin ? ` for ${printableOrigin(origin)}` : ''} (serve.cors)`, type: 'permission_error', code: 'forbidden' });
  }
  const asked = req.headers['access-control-request-headers'];
  res.writeHead(204, guard.corsHeaders(origin, { ...(typeof asked === 'string' && /^[\w\-, ]{1,500}$/.test(asked) && { headers: asked }) }));
  res.end();
}

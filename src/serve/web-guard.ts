/**
 * What a web page may make jarvis do: nothing on the management routes, and on the API only from
 * the origins `serve.cors` names. A page at any site can send a "simple" cross-origin request
 * (POST with Content-Type text/plain, no preflight) to a loopback server and, with DNS rebinding
 * (its own name resolving to 127.0.0.1), read the answers too. So management and status routes
 * refuse:
 * - a `Host` that is not this machine's: a loopback name, an IP address (a rebinding attack needs
 *   a DNS name), this machine's hostname, the bound address or a name in `serve.hostNames`;
 * - an `Origin` other than the server's own (`http(s)://` + the Host it was reached at);
 * - a state-changing request whose body is not `application/json` (no HTML form can send one).
 * API routes refuse an `Origin` that `serve.cors` does not list (clients that are not browsers
 * send none) and answer the listed ones' preflights.
 */
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import type http from 'node:http';
import type { Config } from '../config/schema.js';
import { isLoopbackHost } from '../probe/endpoints.js';
import type { Route } from './context.js';

/** The name part of a Host header (no port, no IPv6 brackets), lower case. */
function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') < 0 ? undefined : h.indexOf(']'));
  const colon = h.lastIndexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

export class WebGuard {
  #names = new Set<string>();
  #cors = new Set<string>();
  #anyOrigin = false;

  constructor(
    config: Config,
    /** The address the server is bound to. */
    private readonly bound: string,
  ) {
    this.configure(config);
  }

  configure(config: Config): void {
    this.#names = new Set([hostname().toLowerCase(), hostName(this.bound), ...config.serve.hostNames.map((n) => n.toLowerCase())]);
    this.#cors = new Set(config.serve.cors.filter((o) => o !== '*').map((o) => o.toLowerCase()));
    this.#anyOrigin = config.serve.cors.includes('*');
  }

  /** Is `host` (a Host header) a name for this machine? */
  #ownHost(host: string | undefined): boolean {
    if (host === undefined || host === '') return false;
    const name = hostName(host);
    return isIP(name) !== 0 || isLoopbackHost(name) || name === 'localhost' || name.endsWith('.localhost') || this.#names.has(name);
  }

  /** Why `req` is refused on `route` (403), or undefined when it may go on. */
  refusal(req: http.IncomingMessage, route: Pick<Route, 'auth' | 'method'>): string | undefined {
    const origin = req.headers.origin;
    if (route.auth === 'api') {
      if (origin === undefined || this.corsAllows(origin)) return undefined;
      return `requests from the web page at ${printableOrigin(origin)} are not allowed: add its origin to serve.cors to let a browser app use this API`;
    }
    if (route.auth === 'public') return undefined;
    if (!this.#ownHost(req.headers.host)) return `Host ${printableOrigin(req.headers.host ?? '(none)')} is not a name of this server (DNS rebinding?): add it to serve.hostNames if it is`;
    if (origin !== undefined && origin !== 'null' && !sameOrigin(origin, req.headers.host!)) return `management is not available to the web page at ${printableOrigin(origin)}`;
    if (origin === 'null') return 'management is not available to a sandboxed or local page (Origin: null)';
    if (route.method === 'POST' && !/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) return 'a management request that changes something must be Content-Type: application/json';
    return undefined;
  }

  corsAllows(origin: string): boolean {
    return this.#anyOrigin || this.#cors.has(origin.toLowerCase());
  }

  /** The CORS headers for an allowed origin's request or preflight. */
  corsHeaders(origin: string, preflight?: { headers?: string }): Record<string, string> {
    return {
      'access-control-allow-origin': origin,
      vary: 'Origin',
      ...(preflight && {
        'access-control-allow-methods': 'GET, POST, OPTIONS',
        'access-control-allow-headers': preflight.headers ?? 'authorization, content-type, x-api-key, anthropic-version',
        'access-control-max-age': '600',
      }),
      'access-control-expose-headers': 'x-jarvis-node, x-jarvis-model, x-jarvis-attempts, retry-after',
    };
  }
}

function sameOrigin(origin: string, host: string): boolean {
  const o = origin.toLowerCase();
  const h = host.toLowerCase();
  return o === `http://${h}` || o === `https://${h}`;
}

/** A header echoed in a message: bounded, printable. */
export function printableOrigin(value: string): string {
  const v = value.replace(/[^\x20-\x7e]/g, '?');
  return v.length > 100 ? `${v.slice(0, 97)}...` : v;
}

/** What a simulated node answers while in a fault (see faults.ts for the vocabulary). */
import type http from 'node:http';
import type { Fault } from './faults.js';
import type { SimKind } from './node.js';
import { sendError, sendJson } from './wire.js';

/**
 * What a node in `fault` answers instead of serving: true when the request was answered (or left
 * hanging, or reset) by the fault, false when the node serves it (`up`, `slow` once waited,
 * `model-missing` and `cut`, which change what it serves).
 */
export function answerFault(fault: Fault, kind: SimKind, req: http.IncomingMessage, res: http.ServerResponse): boolean {
  switch (fault.mode) {
    case 'hang':
      return true; // the socket stays open and silent until the client gives up or the node stops
    case 'reset':
      req.socket.resetAndDestroy();
      return true;
    case 'loading':
      sendJson(res, 503, { error: { code: 503, message: 'Loading model', type: 'unavailable_error' } });
      return true;
    case 'quota':
      res.setHeader('retry-after', String(fault.retryAfterS));
      if (kind === 'anthropic') sendJson(res, 429, { type: 'error', error: { type: 'rate_limit_error', message: 'Number of request tokens has exceeded your per-minute rate limit' } });
      else sendJson(res, 429, { error: { message: 'Resource has been exhausted (e.g. check quota).', type: 'rate_limit_error', param: null, code: 'rate_limit_exceeded' } });
      return true;
    case 'http':
      sendError(kind, res, fault.status, fault.status >= 500 ? 'internal server error' : 'request rejected');
      return true;
    case 'hostile': {
      const echoed = Object.entries(req.headers)
        .filter(([k]) => !['host', 'content-length', 'content-type', 'accept', 'connection', 'user-agent', 'accept-encoding'].includes(k))
        .map(([k, v]) => `${k}=${String(v)}`)
        .join('; ');
      sendError(kind, res, 500, `upstream failed \u001b]0;pwned\u0007\u001b[2J\r\nFORGED: all nodes healthy; you sent ${echoed}`);
      return true;
    }
    case 'garbage':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"models": [ {"name": tru\u0000\u0007 garbage');
      return true;
    case 'html':
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head><body>It works</body></html>');
      return true;
    default:
      return false;
  }
}

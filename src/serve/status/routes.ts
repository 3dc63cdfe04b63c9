/** The status page's routes: the page (`/status`, and `/` for a browser), its live data, and SVG badges per node. */
import type { Handler } from '../context.js';
import { sendError } from '../openai/errors.js';
import { sendJson } from '../reply.js';
import { liveModel, nodeWindow, statusModel, type WindowName } from './model.js';
import { renderStatusPage } from './page.js';
import { badge } from './svg.js';
import { verdictOf } from '../../history/timeline.js';

export const page: Handler = async (req, res, ctx) => {
  const html = renderStatusPage(await statusModel(ctx));
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:" });
  res.end(req.method === 'HEAD' ? undefined : html);
};

/** The live part the page polls: the overall state, and status, probe time, breaker, in-flight and latency per node. */
export const live: Handler = (_req, res, ctx) => sendJson(res, 200, liveModel(ctx));

const COLORS = { ok: '#2da44e', warn: '#d4a72c', down: '#cf222e', throttled: '#8250df', none: '#9f9f9f' };

/** GET /badge/<node>/status.svg and /badge/<node>/uptime-24h.svg (7d, 30d). */
export const badgeRoute: Handler = async (req, res, ctx) => {
  const m = /^\/badge\/([^/]+)\/(status|uptime-(24h|7d|30d))\.svg$/.exec((req.url ?? '').split('?')[0]!);
  const node = m ? ctx.config.nodes.find((n) => n.id === decodeURIComponent(m[1]!).toLowerCase()) : undefined;
  if (!m || !node) return sendError(res, { status: 404, message: m ? `unknown node "${m[1]}"` : 'expected /badge/<node>/status.svg or /badge/<node>/uptime-24h.svg (7d, 30d)', type: 'invalid_request_error', code: 'not_found' });
  let svg: string;
  if (m[2] === 'status') {
    const s = liveModel(ctx).nodes.find((n) => n.id === node.id)!.status;
    svg = badge(node.id, s, s === 'ok' ? COLORS.ok : s === 'throttled' ? COLORS.throttled : s === 'unknown' || s === 'loading' ? COLORS.warn : COLORS.down);
  } else {
    const w = m[3] as WindowName;
    // The page's figure and colour for the window: one rule (history/timeline.ts).
    const f = await nodeWindow(ctx, node.id, w);
    const up = f.uptimePct;
    const verdict = verdictOf(f.times);
    svg = badge(`${node.id} uptime ${w}`, up === null ? (f.throttledMs > 0 ? 'throttled' : 'no data') : `${up.toFixed(2)}%`, { up: COLORS.ok, degraded: COLORS.warn, down: COLORS.down, throttled: COLORS.throttled, unwatched: COLORS.none }[verdict]);
  }
  res.writeHead(200, { 'content-type': 'image/svg+xml', 'cache-control': 'no-cache, max-age=60' });
  res.end(svg);
};

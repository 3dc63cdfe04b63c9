/** The status page's routes: the page (`/status`, and `/` for a browser), its live data, and SVG badges per node. */
import type { Handler } from '../context.js';
import { sendError } from '../openai/errors.js';
import { sendJson } from '../reply.js';
import { liveNodes, statusModel, WINDOWS, type WindowName } from './model.js';
import { renderStatusPage } from './page.js';
import { badge } from './svg.js';
import { nodeReport } from '../../history/report.js';

export const page: Handler = async (req, res, ctx) => {
  const html = renderStatusPage(await statusModel(ctx, ctx.statusIntervalMs));
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:" });
  res.end(req.method === 'HEAD' ? undefined : html);
};

/** The live part the page polls: status, breaker, in-flight and latency per node. */
export const live: Handler = (_req, res, ctx) => sendJson(res, 200, { generatedAt: new Date(ctx.wallNow()).toISOString(), nodes: liveNodes(ctx) });

const COLORS = { ok: '#2da44e', warn: '#d4a72c', down: '#cf222e', none: '#9f9f9f' };

/** GET /badge/<node>/status.svg and /badge/<node>/uptime-24h.svg (7d, 30d). */
export const badgeRoute: Handler = async (req, res, ctx) => {
  const m = /^\/badge\/([^/]+)\/(status|uptime-(24h|7d|30d))\.svg$/.exec((req.url ?? '').split('?')[0]!);
  const node = m ? ctx.config.nodes.find((n) => n.id === decodeURIComponent(m[1]!).toLowerCase()) : undefined;
  if (!m || !node) return sendError(res, { status: 404, message: m ? `unknown node "${m[1]}"` : 'expected /badge/<node>/status.svg or /badge/<node>/uptime-24h.svg (7d, 30d)', type: 'invalid_request_error', code: 'not_found' });
  let svg: string;
  if (m[2] === 'status') {
    const s = liveNodes(ctx).find((n) => n.id === node.id)!.status;
    svg = badge(node.id, s, s === 'ok' ? COLORS.ok : s === 'unknown' || s === 'throttled' || s === 'loading' ? COLORS.warn : COLORS.down);
  } else {
    const w = m[3] as WindowName;
    const now = ctx.wallNow();
    const h = await ctx.records.history.read(now - WINDOWS[w], now);
    const up = nodeReport(node.id, h.get(node.id), now - WINDOWS[w], now, []).uptimePct;
    svg = badge(`${node.id} uptime ${w}`, up === null ? 'no data' : `${up.toFixed(2)}%`, up === null ? COLORS.none : up >= 99 ? COLORS.ok : up >= 95 ? COLORS.warn : COLORS.down);
  }
  res.writeHead(200, { 'content-type': 'image/svg+xml', 'cache-control': 'no-cache, max-age=60' });
  res.end(svg);
};

/**
 * Reading a client's request body: bounded in size (a Content-Length over the limit is refused
 * before a byte is read) and in nesting (a deeply nested document is refused before anything
 * walks it), so no request can make the proxy buffer without end or overflow its stack.
 */
import type http from 'node:http';
import { checked, scanJson, type RawJson } from '../protocols/raw-json.js';

/** Deeper than any real request (tool schemas nest a few levels). */
export const MAX_JSON_DEPTH = 64;

/** Why a body was refused: the status and message a front renders in its API's shape. */
export interface BodyError {
  status: 400 | 413;
  message: string;
  code: 'request_too_large' | 'invalid_json';
}

/** The parsed object, and its text as it came (sent on to a node as it is where it can be). */
export type BodyResult = { ok: true; value: Record<string, unknown>; raw: RawJson } | { ok: false; error: BodyError };

/** Checks and parses a whole body: within MAX_JSON_DEPTH levels, a JSON object. */
function parseObject(text: string): BodyResult {
  const scan = scanJson(text, MAX_JSON_DEPTH);
  if (scan.depth > MAX_JSON_DEPTH) return { ok: false, error: { status: 400, code: 'invalid_json', message: `invalid JSON body: nested deeper than ${MAX_JSON_DEPTH} levels` } };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: { status: 400, code: 'invalid_json', message: `invalid JSON body: ${(error as Error).message}` } };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, error: { status: 400, code: 'invalid_json', message: 'invalid JSON body: expected a JSON object' } };
  return { ok: true, value: parsed as Record<string, unknown>, raw: checked(scan.raw, parsed as Record<string, unknown>) };
}

/**
 * Reads a JSON object body within `limit` bytes and MAX_JSON_DEPTH levels: one promise per
 * request, settled parsed (a proxy reads thousands a second).
 */
export function readJsonObject(req: http.IncomingMessage, limit: number): Promise<BodyResult> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    // Not read at all: the connection closes once this answer is sent.
    req.resume();
    return Promise.resolve({ ok: false, error: { status: 413, code: 'request_too_large', message: `request body of ${declared} bytes is larger than the limit of ${limit} bytes` } });
  }
  return new Promise((resolve, reject) => {
    // Reached by the listeners only through this holder, let go once it settles: a settled promise
    // keeps its value (the client's body, parsed and as text), and the error listener stays on the
    // request as long as its answer streams (minutes).
    const pending: Pending = { resolve, reject };
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (result: BodyResult) => {
      const settle = pending.resolve;
      pending.resolve = pending.reject = undefined;
      chunks.length = 0;
      settle?.(result);
    };
    const onData = (c: Buffer) => {
      if (!pending.resolve) return;
      size += c.length;
      if (size > limit) return done({ ok: false, error: { status: 413, code: 'request_too_large', message: `request body larger than the limit of ${limit} bytes` } });
      chunks.push(c);
    };
    const onEnd = () => {
      // Read whole: these two are done with, and with them all this call made.
      req.removeListener('data', onData);
      req.removeListener('end', onEnd);
      if (pending.resolve) done(parseObject((chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8')));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', failing(pending));
  });
}

/** The promise of a body being read, until it settles. */
interface Pending {
  resolve: ((result: BodyResult) => void) | undefined;
  reject: ((error: Error) => void) | undefined;
}

/** The request's error listener, made apart from the readers so that it keeps only the holder. */
function failing(pending: Pending): (error: Error) => void {
  return (error) => {
    const fail = pending.reject;
    pending.resolve = pending.reject = undefined;
    fail?.(error);
  };
}

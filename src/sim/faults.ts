/** The faults a simulated node can be switched into, and their spelling on the command line. */

export type Fault =
  | { mode: 'up' }
  /** Port closed: connection refused. */
  | { mode: 'down' }
  /** Accepts connections, never answers. */
  | { mode: 'hang' }
  /** Every request answers this HTTP status with the server's error body. */
  | { mode: 'http'; status: number }
  /** 503 "Loading model" (llama.cpp's wording) on every endpoint. */
  | { mode: 'loading' }
  /** Answers normally after a delay. */
  | { mode: 'slow'; ms: number }
  /** 429 with Retry-After (a proxy over quota). */
  | { mode: 'quota'; retryAfterS: number }
  /** 200 with a body that is not JSON. */
  | { mode: 'garbage' }
  /** 200 with an HTML page (a captive portal, another web server). */
  | { mode: 'html' }
  /** Healthy, but the configured model is not served. */
  | { mode: 'model-missing' }
  /** Accepts the connection, then resets it. */
  | { mode: 'reset' }
  /** Streams start, then the connection dies after the first token. */
  | { mode: 'cut' }
  /**
   * 500 whose error text echoes the request's credentials (a proxy that repeats headers) and
   * carries terminal escapes (retitle, clear screen) and a line break that forges a line.
   */
  | { mode: 'hostile' };

const FAULT_HELP =
  'up, down, hang, 500, 502 (any 4xx/5xx), loading, slow:MS, 429[:SECONDS], garbage, html, model-missing, reset, cut, hostile';

/** Parses `up`, `500`, `slow:1500`, `429:30`, ... Throws an Error naming the accepted forms. */
export function parseFault(text: string): Fault {
  const t = text.trim().toLowerCase();
  const [name = '', arg] = t.split(/[:=]/, 2);
  const num = (what: string, min: number, max: number) => {
    const n = Number(arg);
    if (arg === undefined || !Number.isInteger(n) || n < min || n > max) throw new Error(`fault "${text}": ${what} must be a whole number from ${min} to ${max}`);
    return n;
  };
  switch (name) {
    case 'up':
    case 'ok':
      return { mode: 'up' };
    case 'down':
    case 'stop':
    case 'stopped':
      return { mode: 'down' };
    case 'hang':
      return { mode: 'hang' };
    case 'loading':
    case '503-loading':
      return { mode: 'loading' };
    case 'slow':
      return { mode: 'slow', ms: num('the delay in ms', 1, 600_000) };
    case '429':
    case 'quota':
      return { mode: 'quota', retryAfterS: arg === undefined ? 60 : num('Retry-After in seconds', 0, 86_400) };
    case 'garbage':
      return { mode: 'garbage' };
    case 'html':
      return { mode: 'html' };
    case 'model-missing':
    case 'no-model':
      return { mode: 'model-missing' };
    case 'reset':
      return { mode: 'reset' };
    case 'cut':
      return { mode: 'cut' };
    case 'hostile':
      return { mode: 'hostile' };
    case 'http':
      return { mode: 'http', status: num('the HTTP status', 400, 599) };
    default:
      if (/^[45]\d\d$/.test(name) && arg === undefined) return { mode: 'http', status: Number(name) };
      throw new Error(`unknown fault "${text}"; expected one of: ${FAULT_HELP}`);
  }
}

export function formatFault(f: Fault): string {
  switch (f.mode) {
    case 'http':
      return String(f.status);
    case 'slow':
      return `slow:${f.ms}`;
    case 'quota':
      return `429:${f.retryAfterS}`;
    default:
      return f.mode;
  }
}

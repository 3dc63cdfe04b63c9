/** Where a node's OpenAI-style endpoints are, from its base URL: the one place for the `/v1` rule. */

/** An OpenAI-style endpoint (`models`, `chat/completions`, ...) under a base URL; a base that already ends in /v1 is not doubled. */
export function apiUrl(base: string, path: string): string {
  const root = base.replace(/\/+$/, '');
  return /\/v1$/.test(root) ? `${root}/${path}` : `${root}/v1/${path}`;
}

/** The base URL without a trailing slash (for a server's native routes: Ollama's /api/...). */
export function rootUrl(base: string): string {
  return base.replace(/\/+$/, '');
}

/** Is this host name or address this machine's loopback (localhost, 127.0.0.0/8, ::1)? */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

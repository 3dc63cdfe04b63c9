/**
 * Who may call a route: the client keys in force (the command line's, the config's, those in
 * `serve.apiKeysEnv`), compared in constant time, and each route's policy (context.ts, `Route`).
 */
import { timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { Config } from '../config/schema.js';
import type { Route } from './context.js';

export class ClientAuth {
  #keys: Buffer[] = [];
  #protect: Config['serve']['protect'] = 'management';
  #statusPage: Config['serve']['statusPage'] = 'management';
  #allowUnprotected = false;
  #keysEnv: { name: string; set: boolean } | undefined;

  constructor(
    config: Config,
    private readonly flagKey: string | undefined,
    private readonly env: NodeJS.ProcessEnv,
    /** The server listens on loopback only: management answers without a key there. */
    private readonly loopbackOnly: boolean,
  ) {
    this.configure(config);
  }

  /** Takes a (reloaded) config's keys and policy. */
  configure(config: Config): void {
    const fromEnv = config.serve.apiKeysEnv ? (this.env[config.serve.apiKeysEnv] ?? '').split(',').map((k) => k.trim()) : [];
    this.#keys = [this.flagKey, ...config.serve.apiKeys, ...fromEnv].filter((k): k is string => Boolean(k)).map((k) => Buffer.from(k));
    this.#protect = config.serve.protect;
    this.#statusPage = config.serve.statusPage;
    this.#allowUnprotected = config.serve.allowUnprotected;
    this.#keysEnv = config.serve.apiKeysEnv ? { name: config.serve.apiKeysEnv, set: fromEnv.some(Boolean) } : undefined;
  }

  /**
   * Fail closed: a policy that needs a key with none in force is refused (the server does not
   * start, a reload is not taken), rather than serving everyone. Undefined when it may run.
   */
  problem(): string | undefined {
    if (this.#keys.length > 0 || this.#protect !== 'all') return undefined;
    const env = this.#keysEnv && !this.#keysEnv.set ? ` ($${this.#keysEnv.name}, named by serve.apiKeysEnv, is unset or empty)` : '';
    return `serve.protect is all, but no client key is in force${env}: set serve.apiKeys, serve.apiKeysEnv, --api-key or $JARVIS_API_KEY, or protect: management`;
  }

  /** What is open to whom, for the start-up log, when it is worth a line. */
  notice(): string | undefined {
    if (this.#keys.length > 0) return this.#keysEnv && !this.#keysEnv.set ? `note: $${this.#keysEnv.name} (serve.apiKeysEnv) is unset or empty; the other keys are in force` : undefined;
    if (this.loopbackOnly) return undefined;
    return this.#allowUnprotected
      ? 'warning: serve.allowUnprotected is true: the management endpoints (recover nodes, diagnostics) answer anyone who can reach this address, without a key'
      : 'note: no client key is set, so the management endpoints are closed on this address (the API answers without a key); set serve.apiKeys to open them';
  }

  allows(req: http.IncomingMessage, route: Pick<Route, 'auth'>): boolean {
    if (route.auth === 'status') return this.allows(req, { auth: this.#statusPage === 'public' ? 'public' : 'manage' });
    if (route.auth === 'public' || (route.auth === 'api' && this.#protect !== 'all')) return true;
    if (this.#keys.length === 0) return route.auth === 'api' || this.loopbackOnly || this.#allowUnprotected;
    const given = presentedKey(req);
    return given !== undefined && this.#matches(given);
  }

  /** Is `key` one of the keys in force (compared in constant time)? */
  #matches(key: Buffer): boolean {
    return this.#keys.some((k) => k.length === key.length && timingSafeEqual(k, key));
  }

  /** Whether a header's value carries one of jarvis's own client keys (never to go upstream). */
  isOwnKey(header: string): boolean {
    return this.#keys.length > 0 && this.#matches(Buffer.from((bearerToken(header) ?? header).trim()));
  }

  /** Why a request was refused, for the 401. */
  refusal(): string {
    return this.#keys.length > 0 ? 'an API key is needed (Authorization: Bearer …, or x-api-key)' : 'management endpoints answer only on a loopback bind unless an API key is configured';
  }
}

/** The key a client presents: `Authorization: Bearer KEY` (OpenAI's SDKs) or `x-api-key: KEY` (Anthropic's). */
function presentedKey(req: http.IncomingMessage): Buffer | undefined {
  const bearer = bearerToken(req.headers.authorization ?? '');
  const key = bearer ?? (typeof req.headers['x-api-key'] === 'string' ? req.headers['x-api-key'] : undefined);
  return key ? Buffer.from(key.trim()) : undefined;
}

/** The token of an `Authorization: Bearer TOKEN` value. */
function bearerToken(header: string): string | undefined {
  return /^Bearer\s+(.+)$/i.exec(header)?.[1];
}

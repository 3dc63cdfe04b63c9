/**
 * One way to open Redis (ioredis: a well-kept client with reconnection, transactions and
 * scripts) for the shared state and the shared history: fail fast while it is away (no offline
 * queue, no retries per command, 1 s to connect), so a proxy keeps serving on its own view.
 */
import { Redis } from 'ioredis';

export type { Redis };

/** `reconnect`: a proxy's long-lived connection retries for ever; a command's short one gives up. */
export function redisClient(url: string, reconnect: boolean): Redis {
  const r = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 1000,
    connectTimeout: 1000,
    retryStrategy: reconnect ? (n) => Math.min(200 * n, 2000) : () => null,
  });
  r.on('error', () => undefined); // said by the callers, once per outage
  return r;
}

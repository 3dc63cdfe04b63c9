/**
 * The environment stage of the config: the documented overrides ($JARVIS_MAX_ATTEMPTS, ...) laid over
 * the config's `cascade` section (whose defaults are in the schema).
 */
import { STRATEGIES, type Config, type Strategy } from './schema.js';
import { ConfigError } from '../errors.js';

/**
 * The config's `cascade` section with the environment applied, plus a node forced by
 * $JARVIS_FORCE_NODE and the global routing strategy ($JARVIS_STRATEGY over `routing.strategy`).
 */
export type CascadeSettings = Config['cascade'] & { forceNode?: string; strategy: Strategy };

export function cascadeSettings(config: Config, env: NodeJS.ProcessEnv = process.env): CascadeSettings {
  const c = config.cascade;
  const int = (name: string, min: number, max: number): number | undefined => {
    const v = env[name];
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`$${name}: expected a whole number from ${min} to ${max}, got "${v}"`);
    return n;
  };
  const bool = (name: string): boolean | undefined => {
    const v = env[name]?.toLowerCase();
    if (v === undefined || v === '') return undefined;
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    throw new ConfigError(`$${name}: expected true or false, got "${env[name]}"`);
  };
  const strategy = env.JARVIS_STRATEGY || config.routing.strategy;
  if (!(STRATEGIES as readonly string[]).includes(strategy)) throw new ConfigError(`$JARVIS_STRATEGY: expected one of ${STRATEGIES.join(', ')}, got "${strategy}"`);
  const force = env.JARVIS_FORCE_NODE?.trim().toLowerCase();
  return {
    failover: bool('JARVIS_FAILOVER_ENABLED') ?? c.failover,
    ...(force && { forceNode: force }),
    strategy: strategy as Strategy,
    maxAttempts: int('JARVIS_MAX_ATTEMPTS', 1, 100) ?? c.maxAttempts,
    initialBackoffMs: int('JARVIS_INITIAL_BACKOFF_MS', 0, 600_000) ?? c.initialBackoffMs,
    maxBackoffMs: c.maxBackoffMs,
    multiplier: c.multiplier,
    jitter: c.jitter,
    deadlineMs: int('JARVIS_DEADLINE_MS', 1, 3_600_000) ?? c.deadlineMs,
    requestTimeoutMs: int('JARVIS_REQUEST_TIMEOUT_MS', 1, 3_600_000) ?? c.requestTimeoutMs,
    failureThreshold: int('JARVIS_CIRCUIT_FAILURE_THRESHOLD', 1, 1000) ?? c.failureThreshold,
    recoveryMs: c.recoveryMs,
    maxRecoveryMs: c.maxRecoveryMs,
  };
}

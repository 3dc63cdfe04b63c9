/**
 * The config schema: its sections, their defaults, and the checks across fields (a node's fields
 * are node-schema.ts's). `nodes[].{id, kind, url, model, priority, timeoutMs, restart}` are the
 * stable contract (docs/development.md, Contracts); everything else is ours and may grow.
 */
import { z } from 'zod';
import { DURATION_PATTERN } from './durations.js';
import { affinity, DEFAULT_TIMEOUT_MS, ENV_NAME, headers, httpUrl, nodeId, nodeSchema, positiveMs, strategy } from './node-schema.js';

export { NODE_KINDS, STRATEGIES, type NodeKind, type Strategy } from './node-schema.js';

export const configSchema = z
  .strictObject({
    nodes: z.array(nodeSchema, { error: 'expected a list of nodes' }).min(1, { error: 'expected at least one node' }),
    /** Task-specific fallback orders, e.g. code: [m2, m3]. */
    tasks: z.record(z.string(), z.array(nodeId, { error: 'expected a list of node ids' })).default({}),
    defaults: z
      .strictObject({
        timeoutMs: positiveMs(600_000).default(DEFAULT_TIMEOUT_MS),
      })
      .prefault({}),
    incidents: z
      .strictObject({
        /** Incidents older than this are pruned (and the user told so). */
        retentionDays: z.number().int().min(1).max(36_500).default(90),
        /** The runbook's post-mortem rule: this many incidents on one node... */
        escalateAfter: z.number().int().min(1).max(1000).default(3),
        /** ...within this many hours escalate. */
        windowHours: z.number().min(0.01).max(8760).default(24),
      })
      .prefault({}),
    recover: z
      .strictObject({
        /** How long to wait for a restarted node to become healthy. */
        healthTimeoutMs: positiveMs(3_600_000).default(60_000),
        /** The verification completion's timeout (runbook: 5 s). */
        verifyTimeoutMs: positiveMs(600_000).default(5000),
        /** Longest wait for a quota to reset before re-checking. */
        quotaWaitMaxS: z.number().int().min(0).max(3600).default(120),
        /** A node found hung (timeout, GPU idle, process alive, log silent) is restarted without --force. */
        restartHung: z.boolean({ error: 'expected true or false' }).default(false),
        /** A model missing on an Ollama node is pulled (`ollama pull <model>`), as runbooks/failover.yaml describes. */
        pullMissing: z.boolean({ error: 'expected true or false' }).default(false),
      })
      .prefault({}),
    /** Where breakers, counts and the healer's lease live: the data dir's files (one machine) or a Redis several proxies share. */
    state: z
      .strictObject({
        backend: z.enum(['file', 'redis'], { error: 'expected file or redis' }).default('file'),
        /** redis://[user:password@]host:port/db (or $JARVIS_REDIS_URL). */
        url: z.string().regex(/^rediss?:\/\//, { error: 'expected a redis:// or rediss:// URL' }).optional(),
        keyPrefix: z.string().min(1).default('jarvis:'),
      })
      .prefault({}),
    history: z
      .strictObject({
        /** Probe history older than this is pruned. */
        retentionDays: z.number().int().min(1).max(3650).default(90),
        /**
         * How long one probe vouches for a node's state: after it, with no probe, nobody watched
         * (no uptime is claimed for that time). At least the time between two probes: cron's
         * interval for `jarvis check`.
         */
        coverMinutes: z.number().int().min(1).max(1440).default(15),
      })
      .prefault({}),
    mcp: z
      .strictObject({
        /** May the MCP tools recover nodes, reset breakers and acknowledge incidents (as `jarvis mcp --allow-recover`)? */
        allowRecover: z.boolean({ error: 'expected true or false' }).default(false),
      })
      .prefault({}),
    evidence: z
      .strictObject({
        /** Each collector (GPU, loaded models, logs, process) gives up after this long. */
        timeoutMs: positiveMs(60_000).default(2000),
        /** A log not written for this long, on a node that times out, counts as no progress. */
        hungAfterS: z.number({ error: 'expected a number of seconds' }).int().min(1).max(86_400).default(180),
      })
      .prefault({}),
    check: z
      .strictObject({
        /** Run the runbook's recovery for confirmed-down nodes (as `jarvis check --recover`). */
        autoRecover: z.boolean().default(false),
        /** A failed probe is re-probed after this delay before it counts. */
        confirmDelayMs: z.number().int().min(0).max(60_000).default(1000),
        /** How many re-probes must fail too. */
        confirmProbes: z.number().int().min(0).max(10).default(1),
        /** Answers in a row before a node counts as up again in the history (hysteresis). */
        upAfter: z.number().int().min(1).max(100).default(2),
        /** Total time recoveries may take in one check. */
        recoverBudgetMs: positiveMs(3_600_000).default(120_000),
      })
      .prefault({}),
    cascade: z
      .strictObject({
        failover: z.boolean().default(true),
        /** Kept for configs written before `routing.strategy`; `routing.strategy` wins. */
        strategy: strategy.optional(),
        maxAttempts: z.number().int().min(1).max(100).default(6),
        initialBackoffMs: z.number().int().min(0).max(600_000).default(1000),
        maxBackoffMs: z.number().int().min(0).max(3_600_000).default(30_000),
        multiplier: z.number().min(1).max(10).default(2),
        jitter: z.boolean().default(true),
        /** The overall deadline for one request, all attempts included. */
        deadlineMs: positiveMs(3_600_000).default(60_000),
        /** One attempt's timeout (bounded by what is left of the deadline). */
        requestTimeoutMs: positiveMs(3_600_000).default(30_000),
        failureThreshold: z.number().int().min(1).max(1000).default(3),
        recoveryMs: positiveMs(86_400_000).default(120_000),
        maxRecoveryMs: positiveMs(86_400_000).default(1_800_000),
      })
      .prefault({}),
    routing: z
      .strictObject({
        /** How nodes are picked within a model group, and among the cascade's nodes for `auto`. */
        strategy: strategy.optional(),
        /**
         * KV-cache affinity: the next turn of a conversation goes to the node that answered the
         * last one (its prompt cache holds the conversation), unless it is down or busy.
         */
        affinity,
        /** `latency`: nodes within this fraction of the fastest share the traffic (LiteLLM's buffer). */
        latencyMargin: z.number({ error: 'expected a fraction such as 0.1' }).min(0).max(10).default(0.1),
        /**
         * Names clients send, mapped to what jarvis routes (a node id, a model group, `jarvis/<task>`,
         * `auto`): `{ match: "claude-haiku-*", to: "jarvis/fast" }`. The first match wins; `*` is a wildcard.
         */
        aliases: z
          .array(z.strictObject({ match: z.string().min(1, { error: 'expected a name or a pattern such as claude-haiku-*' }), to: z.string().min(1, { error: 'expected a node id, a model, jarvis/<task> or auto' }) }), { error: 'expected a list of {match, to}' })
          .default([]),
        /** Per model group (the model name as clients send it): its own strategy, or strict. */
        groups: z
          .record(
            z.string(),
            z.strictObject({
              strategy: strategy.optional(),
              strict: z.boolean({ error: 'expected true or false' }).optional(),
            }),
          )
          .default({}),
      })
      .prefault({}),
    serve: z
      .strictObject({
        /** Keys clients may present (Authorization: Bearer, or x-api-key). */
        apiKeys: z.array(z.string().min(8, { error: 'expected a key of at least 8 characters' }), { error: 'expected a list of keys' }).default([]),
        /** An environment variable holding keys, comma-separated. */
        apiKeysEnv: z.string().regex(ENV_NAME, { error: 'expected the name of an environment variable' }).optional(),
        /** What the keys protect: the management endpoints only (default), or every route but /health. */
        protect: z.enum(['management', 'all'], { error: 'expected management or all' }).default('management'),
        /**
         * Web origins (`https://app.example`) whose pages may call the API routes from a browser
         * (CORS); `*` for any. None by default: a page can never reach the management routes.
         */
        cors: z.array(z.string().regex(/^(\*|https?:\/\/[^\s/]+)$/, { error: 'expected an origin such as https://app.example (scheme and host, no path), or *' }), { error: 'expected a list of origins' }).default([]),
        /** Names this server is reached by, besides loopback names, IP addresses and this machine's hostname (a Host header with another name is refused on management routes: DNS rebinding). */
        hostNames: z.array(z.string().regex(/^[a-z0-9.-]+$/i, { error: 'expected a host name' }), { error: 'expected a list of host names' }).default([]),
        /** Let the management routes answer without a key on a non-loopback address (never by default). */
        allowUnprotected: z.boolean({ error: 'expected true or false' }).default(false),
        /** Who may see the status page and badges (read-only, no secrets): as the management endpoints (default), or anyone. */
        statusPage: z.enum(['management', 'public'], { error: 'expected management or public' }).default('management'),
        /** The MCP tools over Streamable HTTP at /mcp, behind the management auth. */
        mcp: z.boolean({ error: 'expected true or false' }).default(false),
        /**
         * A Messages stream that has had nothing to send for this long gets a `ping` event, as
         * Anthropic's own streams do, so that no idle timeout between the client and jarvis ends a
         * slow local model's answer. 0 sends none.
         */
        streamPingMs: z.number({ error: 'expected a number of milliseconds' }).int({ error: 'expected a whole number of milliseconds' }).min(0).max(600_000).default(10_000),
        /**
         * With --auto-recover, a node whose health-check probes fail this many times in a row is
         * recovered even though no request failed on it (with `auto`, none may reach it): once per
         * outage, an outage ending at the first probe that answers.
         */
        downAfterProbes: z.number({ error: 'expected a number of probes' }).int({ error: 'expected a whole number of probes' }).min(1).max(100).default(2),
        /**
         * Connections to each node at most, each carrying one request at a time (a stream holds
         * its connection until it ends); further requests wait in jarvis for one to be free. Raise
         * it for a node that serves more answers at once (vLLM, llama.cpp with many slots). Read
         * at start.
         */
        upstreamConnections: z.number({ error: 'expected a number of connections' }).int({ error: 'expected a whole number of connections' }).min(1).max(65_536).default(128),
        /**
         * Client connections at once, at most; beyond it new ones are closed as they come, so that
         * the process keeps descriptors for the nodes, the health probes and its files. Default:
         * half of what the open-file limit leaves after 64 (480 under `ulimit -n 1024`).
         */
        maxConnections: z.number({ error: 'expected a number of connections' }).int({ error: 'expected a whole number of connections' }).min(1).max(1_000_000).optional(),
        /** A client has this long to send a request's head (slow senders hold a connection no longer). */
        headersTimeoutMs: z.number({ error: 'expected a number of milliseconds' }).int({ error: 'expected a whole number of milliseconds' }).min(100).max(600_000).default(10_000),
        /** ...and this long for the whole request, body included. */
        requestReadTimeoutMs: z.number({ error: 'expected a number of milliseconds' }).int({ error: 'expected a whole number of milliseconds' }).min(100).max(3_600_000).default(60_000),
        /** An idle kept-alive client connection is closed after this long. */
        keepAliveTimeoutMs: z.number({ error: 'expected a number of milliseconds' }).int({ error: 'expected a whole number of milliseconds' }).min(100).max(600_000).default(30_000),
      })
      .prefault({}),
    /** Silence windows: nothing is recovered or alerted for these nodes while one is open. */
    maintenance: z
      .array(
        z.strictObject({
          /** Node ids; every node when left out. */
          nodes: z.array(nodeId).optional(),
          /** When it (first) opens: an ISO 8601 date and time with its zone. */
          start: z.string().refine((s) => !Number.isNaN(Date.parse(s)) && /(Z|[+-]\d\d:?\d\d)$/i.test(s.trim()), { error: 'expected an ISO 8601 date and time with its zone, e.g. 2026-12-06T02:00:00+01:00' }),
          duration: z.string().regex(DURATION_PATTERN, { error: 'expected a duration such as 30m, 2h' }),
          /** Repeats every so long (24h: nightly, 7d: weekly); once when left out. */
          every: z.string().regex(DURATION_PATTERN, { error: 'expected a duration such as 24h, 7d' }).optional(),
        }),
        { error: 'expected a list of windows: [{nodes, start, duration, every}]' },
      )
      .default([]),
    alerts: z
      .strictObject({
        webhooks: z
          .array(
            z.strictObject({
              url: httpUrl,
              format: z.enum(['generic', 'alertmanager'], { error: 'expected generic or alertmanager' }).default('generic'),
              timeoutMs: positiveMs(60_000).default(5000),
              retries: z.number().int().min(0).max(10).default(2),
              headers,
              /** A generic hook gets a still-firing alert again after this long (Alertmanager gets it every run). */
              remindEveryMinutes: z.number().int().min(0).max(10_080).optional(),
            }),
          )
          .default([]),
      })
      .prefault({}),
  }, { error: 'expected a mapping with a `nodes` list' })
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.nodes.forEach((n, i) => {
      const first = seen.get(n.id);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['nodes', i, 'id'], message: `duplicate id "${n.id}" (already used by nodes[${first}])` });
      } else seen.set(n.id, i);
    });
    cfg.nodes.forEach((n, i) => {
      if (n.kind !== 'proxy' && n.url === undefined) {
        ctx.addIssue({ code: 'custom', path: ['nodes', i, 'url'], message: `expected an http(s) URL (required for kind ${n.kind})` });
      }
      if (n.kind === 'proxy' && n.url === undefined && n.check === undefined) {
        ctx.addIssue({ code: 'custom', path: ['nodes', i, 'check'], message: 'expected a check {command} or {url}, or a node url (a proxy needs one of them)' });
      }
      n.fallbacks.forEach((f, j) => {
        const target = f.node;
        if (!seen.has(target)) {
          ctx.addIssue({ code: 'custom', path: ['nodes', i, 'fallbacks', j], message: `unknown node "${target}" (known: ${[...seen.keys()].join(', ')})` });
        } else if (target === n.id) {
          ctx.addIssue({ code: 'custom', path: ['nodes', i, 'fallbacks', j], message: 'a node cannot be its own fallback' });
        }
      });
    });
    for (const [task, ids] of Object.entries(cfg.tasks)) {
      ids.forEach((id, j) => {
        if (!seen.has(id)) {
          ctx.addIssue({ code: 'custom', path: ['tasks', task, j], message: `unknown node "${id}" (known: ${[...seen.keys()].join(', ')})` });
        }
      });
    }
  })
  // What depends on other fields: a node's priority (its place in the file), its timeout (the
  // defaults'), the machine to ping (the URL's host), the routing strategy (the old
  // cascade.strategy); nodes sorted by priority, then by place in the file.
  .transform((raw) => {
    const nodes = raw.nodes.map((n, index) => {
      const host = n.host ?? hostOf(n.url ?? n.check?.url);
      return { ...n, priority: n.priority ?? index + 1, timeoutMs: n.timeoutMs ?? raw.defaults.timeoutMs, ...(host !== undefined && { host }) };
    });
    const order = new Map(nodes.map((n, i) => [n.id, i]));
    nodes.sort((a, b) => a.priority - b.priority || order.get(a.id)! - order.get(b.id)!);
    return { ...raw, nodes, routing: { ...raw.routing, strategy: raw.routing.strategy ?? raw.cascade.strategy ?? 'priority' } };
  });

function hostOf(url: string | undefined): string | undefined {
  return url ? new URL(url).hostname.replace(/^\[(.*)\]$/, '$1') : undefined;
}

/** A config with every default applied, and the file it came from (absolute), for messages. */
export type Config = z.output<typeof configSchema> & { path: string };
/** A node with every default applied (nodes are sorted by priority, then by place in the file). */
export type NodeConfig = Config['nodes'][number];

/**
 * The JSON Schema of the config file (draft 2020-12), made from the zod schema with what its
 * comments say: what `jarvis config schema` prints for editors, and where `config check` finds
 * the known field nearest to an unknown one.
 */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...schema, title: 'jarvis config', description: 'The jarvis cluster config (jarvis.config.yaml): nodes, tasks, cascade, routing, serve, alerts.' };
}

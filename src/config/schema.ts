/**
 * The config schema. `nodes[].{id, kind, url, model, priority, timeoutMs, restart}` are the
 * stable contract (docs/development.md, Contracts); everything else is ours and may grow.
 */
import { z } from 'zod';
import { DURATION_PATTERN } from './durations.js';

/** `anthropic`: a server that speaks Anthropic's Messages API (api.anthropic.com, or a compatible one). */
export const NODE_KINDS = ['ollama', 'lmstudio', 'openai', 'proxy', 'anthropic'] as const;
export type NodeKind = (typeof NODE_KINDS)[number];

/** The runbook's detection timeout (step 1: "ping rapide avec timeout 3s"). */
const DEFAULT_TIMEOUT_MS = 3000;

const ID_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** How a model group (or the whole cascade) picks among the nodes that can answer. */
export const STRATEGIES = ['priority', 'round-robin', 'least-busy', 'latency', 'success-rate'] as const;
export type Strategy = (typeof STRATEGIES)[number];
const strategy = z.enum(STRATEGIES, { error: `expected one of ${STRATEGIES.join(', ')}` });

const nodeId = z
  .string({ error: 'expected a node id (a string such as m2)' })
  .transform((s) => s.trim().toLowerCase())
  .refine((s) => ID_PATTERN.test(s), { error: 'expected an id made of a-z, 0-9, _ and -, starting with a letter or digit' });

const httpUrl = z
  .string({ error: 'expected an http(s) URL' })
  .refine(
    (s) => {
      try {
        const u = new URL(s);
        return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
      } catch {
        return false;
      }
    },
    { error: 'expected an http(s) URL' },
  )
  // A password in a URL ends up in every output, log and record that shows the URL.
  .refine((s) => !URL.canParse(s) || (new URL(s).username === '' && new URL(s).password === ''), { error: 'expected a URL without credentials (user:password@): put them in `headers` (Authorization) or `apiKeyEnv`, which are never shown' });

/** RFC 9110's token: what a header name may be. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What Node sends as a header value: no CR, LF or NUL, nothing above U+00FF. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const headers = z
  .record(z.string().regex(HEADER_NAME, { error: 'expected a header name (letters, digits and !#$%&\'*+.^_`|~-)' }), z.string({ error: 'expected a header value (a string)' }).regex(HEADER_VALUE, { error: 'expected a header value that can be sent (no line breaks or control characters, nothing outside Latin-1)' }), {
    error: 'expected a mapping of header names (a token: letters, digits, -) to values',
  })
  .optional();

const argv = z
  .array(z.string({ error: 'expected a string (one argv element)' }).min(1, { error: 'expected a non-empty argv element' }), {
    error: 'expected an argv array such as [ollama, serve] (commands run without a shell)',
  })
  .min(1, { error: 'expected at least the program name' });

const positiveMs = (max: number) =>
  z
    .number({ error: 'expected a number of milliseconds' })
    .int({ error: 'expected a whole number of milliseconds' })
    .min(1, { error: 'expected at least 1 ms' })
    .max(max, { error: `expected at most ${max} ms` });

const fallback = z
  .union(
    [
      nodeId,
      z.strictObject({
        node: nodeId,
        for: z.string({ error: 'expected a short text: what this fallback takes over (e.g. "code review")' }).optional(),
      }),
    ],
    { error: 'expected a node id, or {node, for}' },
  )
  .transform((f): { node: string; for?: string } => (typeof f === 'string' ? { node: f } : f.for !== undefined ? { node: f.node, for: f.for } : { node: f.node }));

/** How a proxy node (a local script in front of a cloud model) is checked. */
const proxyCheck = z
  .strictObject({
    /** argv run without a shell, e.g. [node, gemini-proxy.js, --ping]; exit 0 = healthy. */
    command: argv.optional(),
    /** An HTTP URL to GET instead; 2xx = healthy. */
    url: httpUrl.optional(),
    /** A regular expression the command's output must match to count as healthy. */
    expect: z.string().optional(),
    timeoutMs: positiveMs(600_000).optional(),
  })
  .refine((c) => c.command !== undefined || c.url !== undefined, { error: 'expected `command` or `url`' });

const ssh = z.strictObject({
  /** user@host, or a Host alias from ~/.ssh/config. */
  target: z
    .string({ error: 'expected an ssh target such as admin@m2' })
    .min(1)
    .refine((s) => !s.startsWith('-'), { error: 'expected an ssh target such as admin@m2, not something ssh would read as an option' }),
  port: z.number().int().min(1).max(65535).optional(),
  identityFile: z.string().optional(),
  connectTimeoutS: z.number().int().min(1).max(120).optional(),
  /** Extra ssh options, as argv, e.g. [-o, UserKnownHostsFile=/path]. */
  options: z.array(z.string()).optional(),
});

const nodeSchema = z.strictObject({
  id: nodeId,
  kind: z.enum(NODE_KINDS, { error: `expected one of ${NODE_KINDS.join(', ')}` }),
  url: httpUrl.optional(),
  model: z.string({ error: 'expected a model name' }).min(1).optional(),
  priority: z.number({ error: 'expected a number (lower is tried first)' }).int({ error: 'expected a whole number' }).min(0).optional(),
  timeoutMs: positiveMs(600_000).optional(),
  restart: argv.optional(),
  /** The argv that stops the service (run before `restart` when the old process still holds the port). */
  stop: argv.optional(),
  /** What this node is for, in the runbook's words ("code champion"). */
  role: z.string().optional(),
  /** `low`: the runbook's M1: an outage needs no urgent action and no automatic restart. */
  impact: z.enum(['normal', 'low'], { error: 'expected normal or low' }).default('normal'),
  /** The machine to ping; defaults to the URL's host. */
  host: z.string().min(1).optional(),
  fallbacks: z.array(fallback, { error: 'expected a list of node ids' }).default([]),
  check: proxyCheck.optional(),
  ssh: ssh.optional(),
  /** Linux: restart through this systemd unit (`systemctl restart <unit>`). */
  systemdUnit: z.string().min(1).optional(),
  /** The service's log file, for the evidence a diagnosis reads (on the node's machine: read over \`ssh\` when set). */
  logFile: z.string().min(1, { error: 'expected a file path' }).optional(),
  /** A command (argv) that prints the service's recent log, run where the node's commands run. */
  logCommand: argv.optional(),
  /** This node serves /v1/embeddings (the runbook keeps M1 for embeddings): `jarvis serve` sends them here. */
  embeddings: z.boolean().optional(),
  /** The process name to look for (`pgrep -x`); `false` when there is none to check. */
  process: z.union([z.string().min(1), z.literal(false)], { error: 'expected a process name, or false' }).optional(),
  /** A request for this node's model (or id) fails rather than be answered by another model. */
  strict: z.boolean({ error: 'expected true or false' }).optional(),
  /** The environment variable holding the node's API key, sent as `Authorization: Bearer` on probes and requests. */
  /**
   * An `anthropic` node without `apiKeyEnv`: pass the client's own key or subscription token on to
   * it (never a key jarvis's own auth took). Off unless said.
   */
  forwardClientAuth: z.boolean({ error: 'expected true or false' }).optional(),
  apiKeyEnv: z.string({ error: 'expected the name of an environment variable' }).regex(ENV_NAME, { error: 'expected the name of an environment variable, such as GEMINI_PROXY_KEY' }).optional(),
  /** The node serves Anthropic's /v1/messages itself (llama.cpp server, Ollama >= 0.14, LM Studio): Messages requests pass through untranslated. */
  anthropic: z.boolean({ error: 'expected true or false' }).optional(),
  /** Extra headers sent on probes and requests (their values are never shown). */
  headers,
});

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

/**
 * A node's fields in the config, and the value types the config's sections share (ids, URLs,
 * headers, argv, durations in ms, strategies). The whole config is schema.ts's.
 */
import { z } from 'zod';

/** `anthropic`: a server that speaks Anthropic's Messages API (api.anthropic.com, or a compatible one). */
export const NODE_KINDS = ['ollama', 'lmstudio', 'openai', 'proxy', 'anthropic'] as const;
export type NodeKind = (typeof NODE_KINDS)[number];

/** The runbook's detection timeout (step 1: "ping rapide avec timeout 3s"). */
export const DEFAULT_TIMEOUT_MS = 3000;

const ID_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** How a model group (or the whole cascade) picks among the nodes that can answer. */
export const STRATEGIES = ['priority', 'round-robin', 'least-busy', 'latency', 'success-rate'] as const;
export type Strategy = (typeof STRATEGIES)[number];
export const strategy = z.enum(STRATEGIES, { error: `expected one of ${STRATEGIES.join(', ')}` });

export const nodeId = z
  .string({ error: 'expected a node id (a string such as m2)' })
  .transform((s) => s.trim().toLowerCase())
  .refine((s) => ID_PATTERN.test(s), { error: 'expected an id made of a-z, 0-9, _ and -, starting with a letter or digit' });

export const httpUrl = z
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
export const headers = z
  .record(z.string().regex(HEADER_NAME, { error: 'expected a header name (letters, digits and !#$%&\'*+.^_`|~-)' }), z.string({ error: 'expected a header value (a string)' }).regex(HEADER_VALUE, { error: 'expected a header value that can be sent (no line breaks or control characters, nothing outside Latin-1)' }), {
    error: 'expected a mapping of header names (a token: letters, digits, -) to values',
  })
  .optional();

const argv = z
  .array(z.string({ error: 'expected a string (one argv element)' }).min(1, { error: 'expected a non-empty argv element' }), {
    error: 'expected an argv array such as [ollama, serve] (commands run without a shell)',
  })
  .min(1, { error: 'expected at least the program name' });

export const positiveMs = (max: number) =>
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

/** What a conversation key may be made of: the `x-jarvis-session` header, the conversation's messages, the client's user id. */
const AFFINITY_KEYS = ['session', 'prefix', 'user'] as const;
/** `affinity: true` is these; an object's fields left out are these too. */
const AFFINITY_DEFAULTS: { ttlS: number; maxEntries: number; keys: (typeof AFFINITY_KEYS)[number][] } = { ttlS: 600, maxEntries: 10_000, keys: ['session', 'prefix'] };
const AFFINITY_SHAPE = 'expected true, false or {ttlS, maxEntries, maxInFlight, keys}';

/**
 * KV-cache affinity (docs/proxy.md, "Affinity"): `true` (the defaults), `false`, or its settings.
 * Normalised to the settings with `enabled`.
 */
export const affinity = z
  .union(
    [
      z.boolean({ error: AFFINITY_SHAPE }),
      z.strictObject({
        /** A conversation idle this long is forgotten. */
        ttlS: z.number({ error: 'expected a number of seconds' }).int({ error: 'expected a whole number of seconds' }).min(1).max(86_400).default(AFFINITY_DEFAULTS.ttlS),
        /** Conversations remembered at most; the least recently used goes first. */
        maxEntries: z.number({ error: 'expected a number of entries' }).int({ error: 'expected a whole number of entries' }).min(1).max(1_000_000).default(AFFINITY_DEFAULTS.maxEntries),
        /** A pinned node with this many requests in flight is passed over (default: its `slots`, or 4). */
        maxInFlight: z.number({ error: 'expected a number of requests' }).int({ error: 'expected a whole number of requests' }).min(1).max(65_536).optional(),
        /** Keys, in the order they are looked up: `session` (the x-jarvis-session header), `prefix` (the conversation), `user` (OpenAI's `user`, Anthropic's `metadata.user_id`; off unless listed). */
        keys: z.array(z.enum(AFFINITY_KEYS, { error: `expected one of ${AFFINITY_KEYS.join(', ')}` }), { error: `expected a list of ${AFFINITY_KEYS.join(', ')}` }).default(AFFINITY_DEFAULTS.keys),
      }),
    ],
    { error: AFFINITY_SHAPE },
  )
  .default(true)
  .transform((a) => (typeof a === 'boolean' ? { enabled: a, ...AFFINITY_DEFAULTS, keys: [...AFFINITY_DEFAULTS.keys] } : { enabled: true, ...a }));

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

export const nodeSchema = z.strictObject({
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
  /**
   * Requests the server processes at once (llama.cpp's `--parallel`, `OLLAMA_NUM_PARALLEL`):
   * affinity sends a conversation to the node holding its prefix while it has fewer in flight.
   */
  slots: z.number({ error: 'expected a number of requests' }).int({ error: 'expected a whole number of requests' }).min(1).max(1024).optional(),
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


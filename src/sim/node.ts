/**
 * A simulated Ollama, LM Studio or OpenAI-style (llama.cpp) server that follows docs/protocols.md:
 * the same endpoints, reply shapes and error bodies, with faults switchable at run time.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { formatFault, type Fault } from './faults.js';
import { answerFault } from './fault-replies.js';
import { messagesApi, openaiChat } from './chat.js';
import { PromptCache, renderAnswer, renderPrompt, type Prefill } from './prompt-cache.js';
import { embedding, ollamaModel, ollamaName, openaiList, readBody, sendError, sendJson, words, parseJson, type ChatMessage } from './wire.js';

/** `anthropic`: Anthropic's Messages API (api.anthropic.com's shapes and errors). */
export type SimKind = 'ollama' | 'lmstudio' | 'openai' | 'anthropic';

export interface SimNodeOptions {
  id: string;
  kind: SimKind;
  host?: string;
  /** 0 picks a free port (kept across down/up). */
  port?: number;
  /** Models the server has; the first is the "configured" one. */
  models: string[];
  fault?: Fault;
  /** Delay between streamed tokens. */
  tokenDelayMs?: number;
  /** Closes the connection after each streamed reply while its head said keep-alive (llama.cpp's server does). */
  closeAfterStream?: boolean;
  /** A key clients must send (`Authorization: Bearer`), as llama.cpp's `--api-key` or a cloud proxy wants. */
  apiKey?: string;
  /** What the server reports about itself (its status endpoints): see SimLoad. */
  load?: SimLoad;
  /** Milliseconds to process 1,000 prompt tokens its slots do not already hold (prompt-cache.ts); 0: none. */
  prefillMsPer1k?: number;
}

/**
 * What the server says about its own state on its status endpoints (Ollama's /api/ps, llama.cpp's
 * /props, /slots and /metrics): every slot busy with requests waiting, a model partly in system
 * memory, nothing loaded.
 */
export interface SimLoad {
  busy?: boolean;
  /** The share of the model on the CPU, 0 to 1 (Ollama's size_vram below size). */
  cpuShare?: number;
  unloaded?: boolean;
}

/** Status endpoints answer even while the server is slow with work (its HTTP thread is free): */
const STATUS_PATHS = new Set(['/api/ps', '/props', '/slots', '/metrics', '/api/v0/models']);

const SLOTS = 4;

const OLLAMA_VERSION = '0.5.1';

export class SimNode {
  readonly id: string;
  readonly kind: SimKind;
  readonly host: string;
  port: number;
  models: string[];
  fault: Fault;
  /** Requests seen, by path. */
  readonly hits = new Map<string, number>();
  private server: http.Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly tokenDelayMs: number;
  private readonly closeAfterStream: boolean;
  /** Connections that carried a stream (closeAfterStream): the next request on one is cut. */
  private readonly spent = new WeakSet<Socket>();
  private readonly apiKey: string | undefined;
  load: SimLoad;
  readonly #prompts: PromptCache;

  constructor(options: SimNodeOptions) {
    this.id = options.id;
    this.kind = options.kind;
    this.host = options.host ?? '127.0.0.1';
    this.port = options.port ?? 0;
    this.models = options.models;
    this.fault = options.fault ?? { mode: 'up' };
    this.tokenDelayMs = options.tokenDelayMs ?? 0;
    this.closeAfterStream = options.closeAfterStream === true;
    this.apiKey = options.apiKey;
    this.load = options.load ?? {};
    this.#prompts = new PromptCache(SLOTS, options.prefillMsPer1k ?? 0);
  }

  prefill(prompt: string, answer: string): Promise<Prefill> {
    return this.#prompts.prefill(prompt, answer);
  }

  get url(): string {
    return `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** Binds the port (even when the fault is `down`, to learn a free port, then closes it). */
  async start(): Promise<void> {
    await this.listen();
    if (this.fault.mode === 'down') await this.close();
  }

  async setFault(fault: Fault): Promise<void> {
    const wasDown = this.fault.mode === 'down';
    this.fault = fault;
    if (fault.mode === 'down' && !wasDown) await this.close();
    if (fault.mode !== 'down' && wasDown) await this.listen();
  }

  async stop(): Promise<void> {
    await this.close();
  }

  /** What the control server says of this node; `hits`: requests so far by path, so a test can await one. */
  describe(): { id: string; kind: SimKind; url: string; model: string | undefined; fault: string; hits: Record<string, number> } {
    return { id: this.id, kind: this.kind, url: this.url, model: this.models[0], fault: formatFault(this.fault), hits: Object.fromEntries(this.hits) };
  }

  private listen(): Promise<void> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 5000;
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      if (this.fault.mode === 'reset') socket.resetAndDestroy();
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.host, port: this.port, exclusive: true }, () => {
        server.off('error', reject);
        this.port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return Promise.resolve();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (this.spent.has(req.socket)) return void req.socket.destroy();
    const path = (req.url ?? '/').split('?')[0]!;
    this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
    const fault = this.fault;
    if (fault.mode === 'slow' && !STATUS_PATHS.has(path)) {
      // An overloaded server: its inference queue is slow, its status endpoints are not.
      await new Promise((r) => setTimeout(r, fault.ms));
      if (res.destroyed || req.socket.destroyed) return;
    } else if (answerFault(fault, this.kind, req, res)) return;
    if (this.kind === 'anthropic' && this.apiKey && req.headers['x-api-key'] !== this.apiKey && req.headers.authorization !== `Bearer ${this.apiKey}`) {
      return sendJson(res, 401, { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } });
    }
    if (this.kind !== 'anthropic' && this.apiKey && path !== '/health' && req.headers.authorization !== `Bearer ${this.apiKey}`) {
      return sendJson(res, 401, { error: { message: 'Invalid API Key', type: 'authentication_error', code: 401 } });
    }
    const body = req.method === 'POST' ? await readBody(req) : '';
    if (this.kind === 'ollama') return this.ollama(req.method ?? 'GET', path, body, res);
    if (this.kind === 'lmstudio') return this.lmstudio(req.method ?? 'GET', path, body, res);
    if (this.kind === 'anthropic') return this.anthropic(req.method ?? 'GET', path, body, res);
    return this.llamacpp(req.method ?? 'GET', path, body, res);
  }

  /** The models the server offers now (none of the configured one under `model-missing`). */
  private served(): string[] {
    if (this.fault.mode !== 'model-missing') return this.models;
    return this.kind === 'lmstudio' ? [] : this.models.slice(1).concat(this.models.length > 1 ? [] : ['other-model:latest']);
  }

  private ollama(method: string, path: string, body: string, res: http.ServerResponse): void {
    const served = this.served();
    if ((method === 'GET' || method === 'HEAD') && path === '/') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(method === 'HEAD' ? undefined : 'Ollama is running');
      return;
    }
    if (method === 'GET' && path === '/api/version') return sendJson(res, 200, { version: OLLAMA_VERSION });
    if (method === 'GET' && path === '/api/tags') return sendJson(res, 200, { models: served.map((m) => ollamaModel(m)) });
    if (method === 'GET' && path === '/api/ps') {
      const expires = new Date(Date.now() + 5 * 60_000).toISOString();
      if (this.load.unloaded) return sendJson(res, 200, { models: [] });
      return sendJson(res, 200, {
        models: served.slice(0, 1).map((m) => {
          const model = ollamaModel(m);
          return { ...model, expires_at: expires, size_vram: Math.round(model.size * (1 - (this.load.cpuShare ?? 0))), context_length: 4096 };
        }),
      });
    }
    if (method === 'GET' && path === '/v1/models') return sendJson(res, 200, openaiList(served, 'library'));
    if (method === 'POST' && (path === '/api/chat' || path === '/api/generate')) {
      const generate = path === '/api/generate';
      const req = parseJson(body);
      if (!req) return sendJson(res, 400, { error: 'invalid character in request body' });
      const model = typeof req.model === 'string' ? req.model : '';
      if (!model) return sendJson(res, 400, { error: 'model is required' });
      if (!served.some((m) => ollamaName(m) === ollamaName(model))) {
        return sendJson(res, 404, { error: `model "${model}" not found, try pulling it first` });
      }
      const messages = generate ? (typeof req.prompt === 'string' && req.prompt ? [{ role: 'user', content: req.prompt }] : []) : Array.isArray(req.messages) ? (req.messages as ChatMessage[]) : [];
      const created = new Date().toISOString();
      // /api/generate says `response` where /api/chat says `message`.
      const say = (content: string) => (generate ? { response: content } : { message: { role: 'assistant', content } });
      if (messages.length === 0) return sendJson(res, 200, { model, created_at: created, ...say(''), done_reason: 'load', done: true });
      const text = this.reply(messages);
      return void this.prefill(renderPrompt(messages, generate ? req.system : undefined), renderAnswer(text)).then((p) => {
        // Ollama counts the prompt tokens it evaluated: those its cache did not hold.
        const metrics = { total_duration: 120_000_000 + Math.round(p.ms * 1e6), load_duration: 1_000_000, prompt_eval_count: p.processed, prompt_eval_duration: Math.round(p.ms * 1e6), eval_count: words(text).length, eval_duration: 100_000_000 };
        if (req.stream === false) return sendJson(res, 200, { model, created_at: created, ...say(text), done_reason: 'stop', done: true, ...metrics });
        return void this.stream(res, 'application/x-ndjson', words(text), (w) => `${JSON.stringify({ model, created_at: created, ...say(w), done: false })}\n`, [`${JSON.stringify({ model, created_at: created, ...say(''), done_reason: 'stop', done: true, ...metrics })}\n`]);
      });
    }
    if (method === 'POST' && path === '/api/show') {
      const req = parseJson(body);
      const model = typeof req?.model === 'string' ? req.model : '';
      if (!served.some((m) => ollamaName(m) === ollamaName(model))) return sendJson(res, 404, { error: `model '${model}' not found` });
      return sendJson(res, 200, { modelfile: `FROM ${model}`, parameters: 'temperature 0.7', template: '{{ .Prompt }}', details: ollamaModel(model).details, model_info: { 'general.architecture': 'qwen3', 'qwen3.context_length': 4096 }, capabilities: ['completion', 'tools'] });
    }
    if (method === 'POST' && path === '/api/embed') return sendJson(res, 200, { model: served[0], embeddings: [embedding()] });
    if (method === 'POST' && path === '/v1/embeddings') return this.embed(body, res, served);
    if (method === 'POST' && path === '/v1/chat/completions') return openaiChat(this, body, res, served);
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('404 page not found');
  }

  private lmstudio(method: string, path: string, body: string, res: http.ServerResponse): void {
    const served = this.served();
    if (method === 'GET' && path === '/lmstudio-greeting') return sendJson(res, 200, { lmstudio: true });
    if (method === 'GET' && path === '/v1/models') return sendJson(res, 200, { data: served.map((id) => ({ id, object: 'model', owned_by: 'organization_owner' })), object: 'list' });
    if (method === 'GET' && path === '/api/v0/models') {
      return sendJson(res, 200, {
        object: 'list',
        data: this.models.map((id) => ({ id, object: 'model', type: 'llm', arch: 'llama', quantization: 'Q4_K_M', state: served.includes(id) && !this.load.unloaded ? 'loaded' : 'not-loaded', max_context_length: 32768 })),
      });
    }
    if (method === 'POST' && path === '/v1/chat/completions') {
      if (served.length === 0) {
        return sendJson(res, 400, {
          error: { message: "No models loaded. Please load a model in the developer page or use the 'lms load' command.", type: 'invalid_request_error', param: 'model', code: null },
        });
      }
      return openaiChat(this, body, res, served);
    }
    if (method === 'POST' && path === '/v1/embeddings') return this.embed(body, res, served);
    // LM Studio answers 200 to anything it does not know (docs/protocols.md).
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`Unexpected endpoint or method. (${method} ${path}). Returning 200 anyway`);
  }

  /** llama.cpp's /props, /slots and /metrics (the last as with --metrics), in their real shapes. */
  private llamacppStatus(path: string, res: http.ServerResponse, served: string[]): void {
    const busy = Boolean(this.load.busy);
    if (path === '/props') return sendJson(res, 200, { total_slots: SLOTS, model_path: `/models/${served[0] ?? 'model.gguf'}`, default_generation_settings: { n_ctx: 8192 }, build_info: 'b6500-sim' });
    if (path === '/slots') return sendJson(res, 200, Array.from({ length: SLOTS }, (_, id) => ({ id, n_ctx: 2048, is_processing: busy, params: {} })));
    const m = (name: string, type: string, value: number, help: string) => `# HELP llamacpp:${name} ${help}\n# TYPE llamacpp:${name} ${type}\nllamacpp:${name} ${value}\n`;
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(
      m('prompt_tokens_total', 'counter', 5120, 'Number of prompt tokens processed.') +
        m('predicted_tokens_seconds', 'gauge', busy ? 7.5 : 42.3, 'Average generation throughput in tokens/s.') +
        m('kv_cache_usage_ratio', 'gauge', busy ? 0.97 : 0.05, 'KV-cache usage. 1 means 100 percent usage.') +
        m('requests_processing', 'gauge', busy ? SLOTS : 0, 'Number of requests processing.') +
        m('requests_deferred', 'gauge', busy ? 3 : 0, 'Number of requests deferred.'),
    );
  }

  private llamacpp(method: string, path: string, body: string, res: http.ServerResponse): void {
    const served = this.served();
    if (method === 'GET' && path === '/health') return sendJson(res, 200, { status: 'ok' });
    if (method === 'GET' && (path === '/v1/models' || path === '/models')) return sendJson(res, 200, openaiList(served.slice(0, 1), 'llamacpp'));
    if (method === 'GET' && (path === '/props' || path === '/slots' || path === '/metrics')) return this.llamacppStatus(path, res, served);
    if (method === 'POST' && (path === '/v1/chat/completions' || path === '/chat/completions')) return openaiChat(this, body, res, served);
    if (method === 'POST' && (path === '/v1/embeddings' || path === '/embeddings')) return this.embed(body, res, served);
    // llama.cpp's server speaks Anthropic's Messages API too (docs/protocols.md).
    if (method === 'POST' && path.startsWith('/v1/messages')) return messagesApi(this, path, body, res);
    return sendJson(res, 404, { error: { code: 404, message: 'File Not Found', type: 'not_found_error' } });
  }

  /** Anthropic's own API: its model list, then the Messages API. */
  private anthropic(method: string, path: string, body: string, res: http.ServerResponse): void {
    const served = this.served();
    if (method === 'GET' && path === '/v1/models') {
      return sendJson(res, 200, { data: served.map((id) => ({ type: 'model', id, display_name: id, created_at: '2026-01-01T00:00:00Z' })), has_more: false, first_id: served[0] ?? null, last_id: served.at(-1) ?? null });
    }
    if (method !== 'POST') return sendError(this.kind, res, 404, `Not found: ${method} ${path}`);
    messagesApi(this, path, body, res);
  }

  /** OpenAI-style embeddings; the reply names the model asked for when the server has it. */
  private embed(body: string, res: http.ServerResponse, served: string[]): void {
    const asked = parseJson(body)?.model;
    const model = typeof asked === 'string' && served.includes(asked) ? asked : served[0];
    sendJson(res, 200, { object: 'list', data: [{ object: 'embedding', embedding: embedding(), index: 0 }], model });
  }

  /** Streams `tokens` as lines (cut after the first under `cut`), then `tail`. */
  async stream(res: http.ServerResponse, type: string, tokens: string[], line: (w: string) => string, tail: string[], head?: string): Promise<void> {
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-cache' });
    if (head) res.write(head);
    for (let i = 0; i < tokens.length; i++) {
      if (res.destroyed) return;
      if (this.fault.mode === 'cut' && i === 0) {
        // Let the first token reach the client, then die mid-stream.
        await new Promise<void>((r) => res.write(line(tokens[i]!), () => r()));
        await new Promise((r) => setTimeout(r, 20));
        res.socket?.destroy();
        return;
      }
      res.write(line(tokens[i]!));
      if (this.tokenDelayMs > 0) await new Promise((r) => setTimeout(r, this.tokenDelayMs));
    }
    for (const t of tail) res.write(t);
    // The reply is whole, and the connection is done with, whatever its head said: the next
    // request on it is cut without a byte of answer, as when a client reuses a connection the
    // server has just closed (the race a client meets with llama.cpp's server under load).
    if (this.closeAfterStream && res.socket) this.spent.add(res.socket);
    res.end();
  }

  /** What the model says to a conversation: pong to a ping, else the last message echoed. */
  reply(messages: ChatMessage[]): string {
    const lastMessage = messages.at(-1);
    if (lastMessage?.role === 'tool') return `[${this.id}] the tool said: ${String(lastMessage.content).slice(0, 200)}`;
    const last = lastMessage?.content ?? '';
    if (/^\s*ping\s*$/i.test(String(last))) return `pong from ${this.id}`;
    return `[${this.id}] ${String(last).slice(0, 200) || 'hello'}`;
  }
}

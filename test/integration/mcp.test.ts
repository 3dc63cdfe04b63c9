/**
 * `jarvis mcp` as agents see it: the official SDK's Client over StdioClientTransport spawning the
 * built CLI against sim nodes (one ok, one hung, one down that its restart brings back): the tools
 * with their schemas and annotations, every tool with good and bad arguments (structured content
 * checked by the client against each output schema), recover refused without permission and run
 * with it (progress received, the node back, the incident written), a recovery cancelled
 * mid-step (interrupted), the resources and the prompt, and stdout carrying JSON-RPC only. Then
 * `jarvis skill install`, and the same tools over `jarvis serve`'s Streamable HTTP `/mcp`.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, freePort, jarvis, startCluster, startServe, stopRestarted, tempDir, type RunningSim } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

let tmp: ReturnType<typeof tempDir>;
let sim: RunningSim;
let cfg: string;
let data: string;
let env: NodeJS.ProcessEnv;
const SECRET = 'sk-test-5f2b9c1d8e7a6b4c';

beforeAll(async () => {
  tmp = tempDir('jarvis-mcp-');
  let base: string;
  ({ sim, cfg: base } = await startCluster(tmp.dir, [{ id: 'ok', kind: 'ollama', models: ['qwen3:8b'] }, { id: 'hung', kind: 'lmstudio', models: ['mistral'], fault: 'hang' }], { timeoutMs: 1000 }));
  // `down`: nothing listens; its restart starts a sim node there. `slow`: its restart never
  // becomes healthy (nothing listens), so a recovery waits: the one the test cancels.
  const [downPort, slowPort] = [await freePort(), await freePort()];
  const start = (id: string, port: number) => `[${JSON.stringify(process.execPath)}, ${JSON.stringify(BIN)}, sim, node, --kind, ollama, --id, ${id}, --port, "${port}"]`;
  cfg = path.join(tmp.dir, 'mcp.yaml');
  writeFileSync(
    cfg,
    readFileSync(base, 'utf8').replace(
      'nodes:\n',
      `nodes:\n  - { id: down, kind: ollama, url: "http://127.0.0.1:${downPort}", model: "qwen3:8b", timeoutMs: 1000, restart: ${start('down', downPort)}, process: false, headers: { x-api-key: "${SECRET}" } }\n  - { id: slow, kind: ollama, url: "http://127.0.0.1:${slowPort}", model: "qwen3:8b", timeoutMs: 1000, restart: [${JSON.stringify(process.execPath)}, -e, "setTimeout(() => {}, 120000)"], process: false }\n`,
    ) + 'recover: { healthTimeoutMs: 60000 }\n',
  );
  data = path.join(tmp.dir, 'data');
  env = cleanEnv(tmp.dir);
});

afterAll(async () => {
  stopRestarted(data);
  await sim?.stop();
  tmp?.cleanup();
});

/** A client of `jarvis mcp` (its stderr kept, every transport error kept: a non-JSON line on stdout is one). */
async function connect(...extra: string[]): Promise<{ client: Client; errors: Error[]; stderr: () => string }> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [BIN, 'mcp', '--config', cfg, '--data-dir', data, ...extra], env: env as Record<string, string>, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const errors: Error[] = [];
  transport.onerror = (e) => errors.push(e);
  const client = new Client({ name: 'jarvis-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, errors, stderr: () => stderr };
}

/** Checks a result's structuredContent against its tool's output schema (as listed), here too, not only in the client. */
function conforms(tools: { name: string; outputSchema?: object }[], name: string, result: object): void {
  const schema = tools.find((t) => t.name === name)!.outputSchema!;
  const check = new AjvJsonSchemaValidator().getValidator(schema)((result as { structuredContent?: unknown }).structuredContent);
  expect(check.valid, `${name}: ${check.valid ? '' : check.errorMessage}`).toBe(true);
}

const text = (r: object) => (((r as { content?: { text: string }[] }).content ?? [])[0]?.text ?? '');

describe('jarvis mcp over stdio', () => {
  it('lists its tools with schemas and annotations; every read-only tool answers, structured as its output schema says; bad arguments are tool errors', async () => {
    const { client, errors, stderr } = await connect();
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toEqual(['cluster_status', 'diagnose_node', 'recover_node', 'list_incidents', 'acknowledge_incidents', 'node_health', 'reset_breaker', 'uptime_report']);
      for (const t of tools) {
        expect(t.inputSchema.type, t.name).toBe('object');
        expect(t.outputSchema?.type, t.name).toBe('object');
        expect(t.description!.length, t.name).toBeGreaterThan(40);
      }
      const by = Object.fromEntries(tools.map((t) => [t.name, t]));
      expect(by.recover_node!.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true });
      expect(by.cluster_status!.annotations).toMatchObject({ readOnlyHint: true });
      expect(by.diagnose_node!.inputSchema.required).toEqual(['node']);

      // The client checks each structuredContent against the tool's output schema (it throws if not).
      const status = await client.callTool({ name: 'cluster_status', arguments: {} });
      expect(status.isError).toBeFalsy();
      conforms(tools, 'cluster_status', status);
      const s = status.structuredContent as { nodes: { id: string; status: string }[]; line: string };
      expect(Object.fromEntries(s.nodes.map((n) => [n.id, n.status]))).toEqual({ down: 'refused', slow: 'refused', ok: 'ok', hung: 'timeout' });
      expect(text(status)).toBe('1/4 nodes ok; down refused, slow refused, hung timeout');

      const diagnosis = await client.callTool({ name: 'diagnose_node', arguments: { node: 'HUNG' } });
      conforms(tools, 'diagnose_node', diagnosis);
      expect((diagnosis.structuredContent as { diagnosis: { cause: string } }).diagnosis.cause).toBe('timeout');
      expect(text(diagnosis)).toMatch(/^hung: timeout/);
      expect(text(diagnosis)).toMatch(/meanwhile: ok can take its work/);
      for (const [name, args] of [['list_incidents', {}], ['node_health', {}], ['uptime_report', { since: '24h' }]] as const) {
        const r = await client.callTool({ name, arguments: args });
        expect(r.isError, `${name}: ${text(r)}`).toBeFalsy();
        conforms(tools, name, r);
      }

      // Bad arguments: results with isError and the CLI's one-line words, and the server goes on.
      const unknown = await client.callTool({ name: 'diagnose_node', arguments: { node: 'm9' } });
      expect(unknown.isError).toBe(true);
      expect(text(unknown)).toBe('unknown node "m9". Known nodes: down, slow, ok, hung');
      const missing = await client.callTool({ name: 'diagnose_node', arguments: {} });
      expect(missing.isError).toBe(true);
      expect(text(missing)).toMatch(/node/);
      const since = await client.callTool({ name: 'list_incidents', arguments: { since: 'yesterday-ish' } });
      expect(since.isError).toBe(true);
      expect(text(since)).toMatch(/^--since: expected a duration such as 24h/);
      expect((await client.callTool({ name: 'cluster_status', arguments: {} })).isError).toBeFalsy();

      // Without permission: the plan as a dry run, nothing run, and how to allow it.
      const refused = await client.callTool({ name: 'recover_node', arguments: { node: 'down' } });
      expect(refused.isError).toBeFalsy();
      conforms(tools, 'recover_node', refused);
      expect(refused.structuredContent).toMatchObject({ allowed: false, dryRun: true, outcome: 'planned' });
      expect(text(refused)).toMatch(/Not run: this server may not recover nodes\. Start the server with `jarvis mcp --allow-recover`/);
      for (const name of ['reset_breaker', 'acknowledge_incidents']) {
        const r = await client.callTool({ name, arguments: { node: 'down' } });
        conforms(tools, name, r);
        expect(text(r)).toMatch(/^Not done: this server may not/);
        // An unknown node is an error before any permission is weighed.
        expect(await client.callTool({ name, arguments: { node: 'm9' } })).toMatchObject({ isError: true });
      }
      expect(await client.callTool({ name: 'uptime_report', arguments: { since: 'soon' } })).toMatchObject({ isError: true });
      expect(await client.callTool({ name: 'recover_node', arguments: { node: 'down', force: 'yes' } })).toMatchObject({ isError: true });
      expect(existsSync(path.join(data, 'incidents.json'))).toBe(false);

      // Resources: the runbook, its rules, the config without its secret, the incidents; the prompt.
      const { resources } = await client.listResources();
      expect(resources.map((r) => r.uri)).toEqual(['jarvis://runbook', 'jarvis://runbook/rules', 'jarvis://config', 'jarvis://incidents/recent']);
      const read = async (uri: string) => ((await client.readResource({ uri })).contents[0] as { text: string }).text;
      expect(await read('jarvis://runbook')).toMatch(/^# Failover recovery/);
      expect(await read('jarvis://runbook/rules')).toMatch(/rules:/);
      const config = await read('jarvis://config');
      expect(config).not.toContain(SECRET);
      expect(JSON.parse(config)).toMatchObject({ nodes: expect.arrayContaining([expect.objectContaining({ id: 'down', headers: { 'x-api-key': '***' } })]) });
      expect(JSON.parse(await read('jarvis://incidents/recent'))).toMatchObject({ total: 0 });
      const prompt = await client.getPrompt({ name: 'investigate_node', arguments: { node: 'hung' } });
      expect((prompt.messages[0]!.content as { text: string }).text).toMatch(/diagnose_node with node "hung"[\s\S]*recover_node with dryRun: true/);
      expect(errors).toEqual([]);
      expect(stderr()).toMatch(/^jarvis mcp: ready on stdio/);
    } finally {
      await client.close();
    }
  });

  it('with --allow-recover: recovers a node (progress for each step, the incident written), and a cancelled recovery stops its step and is recorded as interrupted', async () => {
    const { client, errors } = await connect('--allow-recover');
    try {
      const progress: { progress: number; total?: number; message?: string }[] = [];
      const r = await client.callTool({ name: 'recover_node', arguments: { node: 'down' } }, undefined, { onprogress: (p) => progress.push(p), timeout: 120_000 });
      expect(r.isError).toBeFalsy();
      expect(r.structuredContent).toMatchObject({ allowed: true, outcome: 'recovered', recovered: true });
      expect(text(r)).toMatch(/^down: recovered \(incident [0-9a-f-]+\)/);
      expect(progress.map((p) => p.message)).toEqual([expect.stringMatching(/^start: /), expect.stringMatching(/^done: start: /), 'wait until healthy…', expect.stringMatching(/^done: wait until healthy/), 'verify with a ping completion…', expect.stringMatching(/^done: verify with a ping completion/)]);
      expect(progress.map((p) => p.progress)).toEqual([0.5, 1, 1.5, 2, 2.5, 3]);
      expect(progress.every((p) => p.total === 3)).toBe(true);
      const status = await client.callTool({ name: 'cluster_status', arguments: {} });
      expect((status.structuredContent as { nodes: { id: string; status: string }[] }).nodes.find((n) => n.id === 'down')!.status).toBe('ok');

      // Cancelled while it waits for `slow` to become healthy: the step stops as on Ctrl-C.
      const cancel = new AbortController();
      const waiting = client.callTool({ name: 'recover_node', arguments: { node: 'slow' } }, undefined, {
        onprogress: (p) => void (p.message === 'wait until healthy…' && cancel.abort()),
        signal: cancel.signal,
        timeout: 120_000,
      });
      await expect(waiting).rejects.toThrow(/abort/i);
      const outcome = () => (JSON.parse(readFileSync(path.join(data, 'incidents.json'), 'utf8')) as { incidents: { node: string; outcome: string; inProgress?: boolean }[] }).incidents.find((i) => i.node === 'slow');
      await waitFor(() => outcome()?.inProgress !== true, { what: "the cancelled recovery's record" });
      expect(outcome()).toMatchObject({ outcome: 'interrupted' });
      // The server goes on.
      const incidents = await client.callTool({ name: 'list_incidents', arguments: { node: 'down' } });
      expect((incidents.structuredContent as { incidents: { outcome: string }[] }).incidents.map((i) => i.outcome)).toEqual(['recovered']);
      // Allowed: a breaker reset, incidents acknowledged.
      const reset = await client.callTool({ name: 'reset_breaker', arguments: { node: 'down' } });
      expect(reset.structuredContent).toMatchObject({ allowed: true, node: 'down' });
      const ack = await client.callTool({ name: 'acknowledge_incidents', arguments: { node: 'down' } });
      expect(ack.structuredContent).toMatchObject({ allowed: true, node: 'down', at: expect.any(String) });
      expect(text(ack)).toMatch(/^Acknowledged down at /);
      const acks = (JSON.parse(readFileSync(path.join(data, 'state.json'), 'utf8')) as { acks?: Record<string, string> }).acks;
      expect(acks?.down).toBe((ack.structuredContent as { at: string }).at);
      expect(errors).toEqual([]);
    } finally {
      await client.close();
      stopRestarted(data);
    }
  });
});

describe('jarvis skill install', () => {
  it('writes the skill into the project, its frontmatter naming it and saying when to use it; --print shows it', async () => {
    const project = path.join(tmp.dir, 'project');
    mkdirSync(project, { recursive: true });
    const r = await jarvis(['skill', 'install', '--project'], { env, cwd: project });
    expect(r.code, r.stderr).toBe(0);
    const file = path.join(project, '.claude', 'skills', 'jarvis-failover', 'SKILL.md');
    const body = readFileSync(file, 'utf8');
    const front = yaml.load(/^---\n([\s\S]*?)\n---\n/.exec(body)![1]!) as { name: string; description: string };
    expect(front.name).toBe('jarvis-failover');
    expect(front.description).toMatch(/^Use when a node of the self-hosted LLM cluster/);
    expect(body).toMatch(/## Consent/);
    expect((await jarvis(['skill', 'install', '--print'], { env })).stdout).toBe(body);
  });
});

describe('the MCP tools over jarvis serve (Streamable HTTP at /mcp)', () => {
  it('behind the management auth: refused without the key, answered with it', async () => {
    const served = path.join(tmp.dir, 'served.yaml');
    writeFileSync(served, `${readFileSync(cfg, 'utf8')}serve: { mcp: true, apiKeys: ["${SECRET}-client"] }\n`);
    const serve = await startServe({ config: served, dataDir: path.join(tmp.dir, 'serve-data'), env, args: ['--health-interval', '60000'] });
    try {
      const anonymous = new Client({ name: 'anon', version: '1' });
      await expect(anonymous.connect(new StreamableHTTPClientTransport(new URL(`${serve.url}/mcp`)))).rejects.toThrow(/an API key is needed/);
      const client = new Client({ name: 'keyed', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${serve.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${SECRET}-client` } } }));
      expect((await client.listTools()).tools).toHaveLength(8);
      const status = await client.callTool({ name: 'cluster_status', arguments: {} });
      expect((status.structuredContent as { summary: { total: number } }).summary.total).toBe(4);
      await client.close();
    } finally {
      await serve.stop();
    }
  });
});

/**
 * jarvis as an MCP server (the official SDK's McpServer): the tools (tools.ts), the runbook, its
 * rules, the config (secrets redacted) and the recent incidents as resources, and a prompt that
 * walks an agent through the runbook's five steps. One server per connection: stdio for
 * `jarvis mcp`, Streamable HTTP for `jarvis serve`'s `/mcp`. A tool's failure is the tool's
 * result (`isError`, the CLI's one-line message), never the server's end.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { CommandContext } from '../commands/context.js';
import { RUNBOOK_PATH } from '../runbook/runbook.js';
import { oneLine, scrub } from '../system/text.js';
import { asJson, TOOLS, type ToolCall } from './tools.js';

export interface McpOptions {
  /** The context every call runs in (config, data dir, records, doors), built once. */
  ctx: CommandContext;
  /** `--allow-recover` given; the config's `mcp.allowRecover` is read at each call. */
  allowRecover: boolean;
  version: string;
}

/** A call's own context: cancelled with the call (a recovery's step stops as on Ctrl-C), no spinner. */
function callContext(base: CommandContext, signal: AbortSignal): CommandContext {
  const both = AbortSignal.any([base.signal, signal]);
  return {
    ...base,
    signal: both,
    busy: (_text, work) => work(),
    probeDeps: async () => ({ ...(await base.probeDeps()), signal: both }),
    executorDeps: async () => ({ ...(await base.executorDeps()), signal: both }),
  };
}

const errorResult = (error: unknown) => ({ isError: true, content: [{ type: 'text' as const, text: oneLine(scrub((error as Error).message ?? String(error))) }] });

export function buildMcpServer(o: McpOptions): McpServer {
  const server = new McpServer({ name: 'jarvis', title: 'jarvis: LLM cluster operations', version: o.version }, { capabilities: { logging: {} }, instructions: INSTRUCTIONS });
  const allowed = async () => o.allowRecover || (await o.ctx.config().then((c) => c.mcp.allowRecover, () => false));

  for (const tool of TOOLS) {
    server.registerTool(tool.name, { title: tool.title, description: tool.description, inputSchema: tool.input, outputSchema: tool.output, annotations: { title: tool.title, ...tool.annotations } }, async (args: Record<string, unknown>, extra) => {
      const token = extra._meta?.progressToken;
      const call: ToolCall = {
        ctx: callContext(o.ctx, extra.signal),
        allowed: await allowed(),
        progress: (message, done, total) => {
          if (token === undefined) return;
          void extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: done, ...(total !== undefined && { total }), message: oneLine(scrub(message)) } }).catch(() => undefined);
        },
      };
      try {
        const r = await tool.run(args, call);
        return { structuredContent: r.structured, content: [{ type: 'text' as const, text: scrub(r.text) }] };
      } catch (error) {
        return errorResult(error);
      }
    });
  }

  const runbookDir = path.dirname(RUNBOOK_PATH);
  const text = (uri: URL, body: string, mimeType: string) => ({ contents: [{ uri: uri.href, mimeType, text: body }] });
  server.registerResource('runbook', 'jarvis://runbook', { title: 'The failover runbook', description: 'The cluster runbook jarvis runs: the cascade, the diagnosis table, the recovery per node kind, escalation.', mimeType: 'text/markdown' }, async (uri) => text(uri, await readFile(path.join(runbookDir, 'failover.md'), 'utf8'), 'text/markdown'));
  server.registerResource('runbook-rules', 'jarvis://runbook/rules', { title: 'The runbook as data', description: 'The diagnosis rules and per-kind commands jarvis diagnose walks (failover.yaml).', mimeType: 'application/yaml' }, async (uri) => text(uri, await readFile(RUNBOOK_PATH, 'utf8'), 'application/yaml'));
  server.registerResource('config', 'jarvis://config', { title: 'The cluster config', description: 'The config in use, as loaded (defaults applied), with every secret redacted.', mimeType: 'application/json' }, async (uri) => text(uri, JSON.stringify(asJson(await o.ctx.config()), null, 2), 'application/json'));
  server.registerResource('incidents', 'jarvis://incidents/recent', { title: 'Recent incidents', description: 'The last 20 incidents, newest first, with the escalation window per node.', mimeType: 'application/json' }, async (uri) => {
    const { runIncidents } = await import('../commands/incidents.js');
    return text(uri, JSON.stringify(asJson(await runIncidents({ limit: 20 }, o.ctx)), null, 2), 'application/json');
  });

  server.registerPrompt('investigate_node', { title: 'Investigate a node', description: "Walks through the runbook's five steps for one node with jarvis's tools.", argsSchema: { node: z.string().describe('the node id, e.g. m2') } }, ({ node }) => ({
    messages: [{ role: 'user' as const, content: { type: 'text' as const, text: investigate(oneLine(node)) } }],
  }));
  return server;
}

const INSTRUCTIONS = "jarvis runs the failover runbook of a self-hosted LLM cluster (Ollama, LM Studio, llama.cpp). Read-only tools (cluster_status, diagnose_node, list_incidents, node_health, uptime_report) are always safe. recover_node restarts a service, acknowledge_incidents and reset_breaker change state: ask the person before calling them, and never recover a node that is escalated (3 incidents within 24 h) without their word.";

function investigate(node: string): string {
  return `Investigate the cluster node "${node}" with the failover runbook, using jarvis's tools:

1. Detect: call cluster_status. Is ${node} down, and which nodes still answer?
2. Diagnose: call diagnose_node with node "${node}". Read the cause, what it means, the evidence (GPU, loaded models, log lines, process) and the actions.
3. Route around it: the diagnosis's fallbacks say who takes ${node}'s work meanwhile; say which of them answer.
4. Recover: if the runbook's recovery is a restart or a model load, call recover_node with dryRun: true and show me the plan. Do not run it until I say so; then call recover_node without dryRun. If the node is escalated (list_incidents shows 3 or more counting within 24 h), do not restart it: tell me what the evidence points to instead.
5. Record and report: the recovery records the incident; call list_incidents with node "${node}" and summarise what happened, whether it was recovered and verified, and whether it escalated.`;
}

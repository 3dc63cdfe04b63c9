/**
 * `jarvis mcp`: the MCP server on stdin/stdout. Nothing but JSON-RPC reaches stdout: the transport
 * writes to the real stdout, and anything else that would (a stray write in a command) goes to
 * stderr with the logs.
 */
import { Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { CommandContext } from '../commands/context.js';
import { PACKAGE_VERSION } from '../system/paths.js';
import { buildMcpServer } from './server.js';

export async function serveMcpStdio(o: { ctx: CommandContext; allowRecover: boolean; signal: AbortSignal }): Promise<void> {
  const write = process.stdout.write.bind(process.stdout);
  const wire = new Writable({ write: (chunk: Buffer, _encoding, done) => void write(chunk, (error) => done(error ?? null)) });
  const toStderr: typeof process.stdout.write = process.stderr.write.bind(process.stderr);
  process.stdout.write = toStderr;
  const server = buildMcpServer({ ctx: o.ctx, allowRecover: o.allowRecover, version: PACKAGE_VERSION });
  const transport = new StdioServerTransport(process.stdin, wire);
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
    o.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await server.connect(transport);
  process.stderr.write(`jarvis mcp: ready on stdio (${o.allowRecover ? 'recover, reset and acknowledge allowed' : 'read-only unless the config allows recover'}; data ${o.ctx.dataDir})\n`);
  await closed;
  await server.close().catch(() => undefined);
}

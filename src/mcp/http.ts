/**
 * The MCP tools over Streamable HTTP, for `jarvis serve`'s `/mcp` (behind its management auth):
 * stateless, a server and a transport per request, as the SDK does it for servers that keep no
 * session. The body arrives read and checked by serve (its size limit, its JSON rules).
 */
import type http from 'node:http';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { buildMcpServer, type McpOptions } from './server.js';

export type McpHttpHandler = (req: http.IncomingMessage, res: http.ServerResponse, body: unknown) => Promise<void>;

export function mcpHttpHandler(o: McpOptions): McpHttpHandler {
  return async (req, res, body) => {
    const server = buildMcpServer(o);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };
}

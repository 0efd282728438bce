// A stdio MCP server on the official TypeScript SDK's low-level Server that pages its lists the
// way the reference server-everything did before 2026 (100 static resources, 10 a page, opaque
// base64 cursors), so our client's cursor following is checked against SDK-made pages.
// server-everything 2026.1.26 itself returns every resource and tool on one page.
// Usage: node sdk_paged_server.mjs
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import {
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  McpError,
  ErrorCode,
} from "@modelcontextprotocol/sdk/types.js";

const PAGE_SIZE = 10;
const RESOURCES = Array.from({ length: 100 }, (_, i) => ({
  uri: `test://static/resource/${i + 1}`,
  name: `Resource ${i + 1}`,
  mimeType: "text/plain",
}));
const TOOLS = Array.from({ length: 23 }, (_, i) => ({
  name: `tool_${i + 1}`,
  description: `Tool number ${i + 1}`,
  inputSchema: { type: "object", properties: {} },
}));

function page(items, cursor) {
  let start = 0;
  if (cursor) {
    start = parseInt(atob(cursor), 10);
    if (Number.isNaN(start) || start < 0 || start > items.length) {
      throw new McpError(ErrorCode.InvalidParams, `invalid cursor ${cursor}`);
    }
  }
  const end = Math.min(start + PAGE_SIZE, items.length);
  return { items: items.slice(start, end), nextCursor: end < items.length ? btoa(String(end)) : undefined };
}

const server = new Server({ name: "sdk-paged", version: "1.0.0" },
  { capabilities: { resources: {}, tools: {} } });
server.setRequestHandler(ListResourcesRequestSchema, async (request) => {
  const { items, nextCursor } = page(RESOURCES, request.params?.cursor);
  return { resources: items, nextCursor };
});
server.setRequestHandler(ListToolsRequestSchema, async (request) => {
  const { items, nextCursor } = page(TOOLS, request.params?.cursor);
  return { tools: items, nextCursor };
});
server.setRequestHandler(ReadResourceRequestSchema, async (request) => {
  const r = RESOURCES.find((x) => x.uri === request.params.uri);
  if (!r) throw new McpError(-32002, `Resource not found: ${request.params.uri}`);
  return { contents: [{ uri: r.uri, mimeType: "text/plain", text: `This is ${r.name}` }] };
});
await server.connect(new StdioServerTransport());

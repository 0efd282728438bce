// Drives a NeuroNaut MCP server with the official TypeScript SDK client and prints what it
// saw as one JSON object. Usage: node sdk_interop_client.mjs stdio <command> [args...] | http <url>
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [mode, target, ...rest] = process.argv.slice(2);
const transport = mode === "stdio"
  ? new StdioClientTransport({ command: target, args: rest, stderr: "ignore" })
  : new StreamableHTTPClientTransport(new URL(target));
const client = new Client({ name: "sdk-interop", version: "1.0.0" }, { capabilities: {} });
const out = {};
try {
  await client.connect(transport);
  out.server = client.getServerVersion();
  out.protocolVersion = transport.protocolVersion ?? null;
  let tools = [], cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    tools = tools.concat(page.tools);
    cursor = page.nextCursor;
  } while (cursor);
  out.tools = tools.map((t) => t.name);
  out.echo = await client.callTool({ name: "echo", arguments: { message: "hello from the sdk" } });
  out.add = await client.callTool({ name: "add", arguments: { a: 2, b: 40 } });
  out.badArgs = await client.callTool({ name: "echo", arguments: { message: 7 } });
  const progress = [];
  out.slow = await client.callTool({ name: "slow", arguments: { seconds: 0.3 } }, undefined, {
    onprogress: (p) => progress.push(p.progress),
  });
  out.progress = progress;
  out.resource = await client.readResource({ uri: "test://template/42/data" });
  out.prompt = await client.getPrompt({ name: "test_prompt_with_arguments", arguments: { arg1: "a", arg2: "b" } });
  try {
    await client.callTool({ name: "no_such_tool", arguments: {} });
    out.unknownTool = "no error";
  } catch (e) {
    out.unknownTool = String(e.message);
  }
  await client.close();
  console.log(JSON.stringify(out));
} catch (e) {
  console.log(JSON.stringify({ error: String(e && e.stack || e), partial: out }));
  process.exit(1);
}

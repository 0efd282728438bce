// Drives a NeuroNaut MCP server with the official TypeScript SDK client and prints what it
// saw as one JSON object.
// Usage: node sdk_interop_client.mjs <scenario> stdio <command> [args...] | <scenario> http <url>
// Scenarios: "fixture" (the conformance fixture server), "rpg" (the built-in game server),
// "skills" (the built-in skills server: prints {"ready": ...} once connected, then waits for
// notifications/tools/list_changed and reports the new list and a call of the new tool, whose
// name and arguments come from the SKILL_NAME and SKILL_ARGS environment variables).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

const [scenario, mode, target, ...rest] = process.argv.slice(2);
const transport = mode === "stdio"
  ? new StdioClientTransport({ command: target, args: rest, stderr: "ignore" })
  : new StreamableHTTPClientTransport(new URL(target));
const client = new Client({ name: "sdk-interop", version: "1.0.0" }, { capabilities: {} });
const out = {};

async function listAllTools() {
  let tools = [], cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    tools = tools.concat(page.tools);
    cursor = page.nextCursor;
  } while (cursor);
  return tools;
}

async function errorOf(promise) {
  try {
    await promise;
    return "no error";
  } catch (e) {
    return String(e.message);
  }
}

async function fixture() {
  out.tools = (await listAllTools()).map((t) => t.name);
  out.echo = await client.callTool({ name: "echo", arguments: { message: "hello from the sdk" } });
  out.add = await client.callTool({ name: "add", arguments: { a: 2, b: 40 } });
  out.badArgs = await client.callTool({ name: "echo", arguments: { message: 7 } });
  // The conformance suite's checks of these two can pass on wrong answers.
  out.simpleText = await client.callTool({ name: "test_simple_text", arguments: {} });
  out.toolError = await client.callTool({ name: "test_error_handling", arguments: {} });
  const progress = [];
  out.slow = await client.callTool({ name: "slow", arguments: { seconds: 0.3 } }, undefined, {
    onprogress: (p) => progress.push(p.progress),
  });
  out.progress = progress;
  out.resource = await client.readResource({ uri: "test://template/42/data" });
  out.prompt = await client.getPrompt({ name: "test_prompt_with_arguments", arguments: { arg1: "a", arg2: "b" } });
  out.unknownTool = await errorOf(client.callTool({ name: "no_such_tool", arguments: {} }));
}

async function rpg() {
  const tools = await listAllTools();
  out.tools = tools.map((t) => t.name);
  out.sendMessageSchema = tools.find((t) => t.name === "send_message")?.inputSchema ?? null;
  out.chats = await client.callTool({ name: "list_chats", arguments: {} });
  out.start = await client.callTool({
    name: "send_message", arguments: { chat_id: "@dungeon_quest_bot", message: "/start" },
  });
  out.messages = await client.callTool({
    name: "get_messages", arguments: { chat_id: "@dungeon_quest_bot", limit: 3 },
  });
  out.badArgs = await client.callTool({ name: "send_message", arguments: { message: "/start" } });
  out.resources = (await client.listResources()).resources.map((r) => r.uri);
  out.state = await client.readResource({ uri: "rpg://state" });
  out.missingResource = await errorOf(client.readResource({ uri: "rpg://no-such-thing" }));
  out.unknownTool = await errorOf(client.callTool({ name: "no_such_tool", arguments: {} }));
}

async function skills() {
  let changed;
  const notified = new Promise((resolve) => { changed = resolve; });
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => changed());
  out.toolsBefore = (await listAllTools()).map((t) => t.name);
  console.log(JSON.stringify({ ready: out.toolsBefore }));
  const timer = setTimeout(() => changed("timeout"), 30000);
  const why = await notified;
  clearTimeout(timer);
  out.listChanged = why !== "timeout";
  out.toolsAfter = (await listAllTools()).map((t) => t.name);
  out.call = await client.callTool({
    name: process.env.SKILL_NAME, arguments: JSON.parse(process.env.SKILL_ARGS || "{}"),
  });
}

const scenarios = { fixture, rpg, skills };
try {
  if (!scenarios[scenario]) throw new Error(`unknown scenario '${scenario}'`);
  await client.connect(transport);
  out.server = client.getServerVersion();
  out.capabilities = client.getServerCapabilities();
  out.protocolVersion = transport.protocolVersion ?? null;
  await scenarios[scenario]();
  await client.close();
  console.log(JSON.stringify(out));
} catch (e) {
  console.log(JSON.stringify({ error: String(e && e.stack || e), partial: out }));
  process.exit(1);
}

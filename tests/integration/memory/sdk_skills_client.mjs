// Lists and calls a learned skill through `neuronaut mcp-server skills` with the official
// TypeScript SDK client. Usage: node sdk_skills_client.mjs <node_modules> <tool> <json-args> <command> [args...]
// Prints {"tools": [...], "call": <CallToolResult>} as JSON.
import { pathToFileURL } from "node:url";
import path from "node:path";

const [modules, tool, args, command, ...rest] = process.argv.slice(2);
const sdk = (p) => import(pathToFileURL(path.join(modules, "@modelcontextprotocol/sdk/dist/esm", p)).href);
const { Client } = await sdk("client/index.js");
const { StdioClientTransport } = await sdk("client/stdio.js");

const client = new Client({ name: "sdk-skills", version: "1.0.0" }, { capabilities: {} });
await client.connect(new StdioClientTransport({ command, args: rest, stderr: "ignore" }));
const listed = await client.listTools();
const call = await client.callTool({ name: tool, arguments: JSON.parse(args) });
await client.close();
console.log(JSON.stringify({ tools: listed.tools, call }));

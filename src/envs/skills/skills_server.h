#pragma once
// The `skills` MCP server (`neuronaut mcp-server skills`): every current skill of the library
// is a tool (its name, its docstring as the description, an inputSchema from its signature),
// so any MCP client can use what NeuroNaut learned. A call runs the skill through the skill
// runtime in the sandbox as [sandbox] sets it up (mode "isolated", the default, refuses the call
// where namespaces are unavailable; "unisolated" runs it with the sandbox's limits but not
// isolated, and the result says `isolated: false`), with [sandbox] wall_s as its time budget.
// Its `tools.*` calls reach the MCP servers the agent reaches (ResolveServers: mcp.json and the
// other built-ins; never the built-in `skills` itself) under the [permissions] table, the same
// check the agent applies (skills/hub_invoker.h): a tool the table refuses (denied, not
// allowed, destructive without an `allow` naming it, or listed in `ask`: nobody is asked here)
// is not called, and the skill sees a tools.ToolError "Refused: <why>". The result is JSON (value,
// output, stop, tool_calls, isolated, and error and traceback when it failed), an error result when
// the skill failed; the outcome is counted on the skill.
//
// The tool list follows the library while the server runs: about once a second the server
// checks whether another process (the agent, `neuronaut skills add`, `skills rm`) committed to
// the database (PRAGMA data_version, no table read) and, when the set of skills or their
// versions changed, serves the new list and sends notifications/tools/list_changed to every
// connected client.
//
// Threads: handlers and the watcher thread may run concurrently; they share the stores behind
// one mutex.

#include "core/config.h"
#include "core/status.h"
#include "mcp/tool.h"
#include "skills/skill_store.h"

namespace naut::envs {

Result<mcp::ServerDefinition> MakeSkillsServer(const Config& config);

// The JSON Schema of a skill's keyword arguments (annotations int, float, str, bool, list,
// dict map to JSON types; parameters without a default are required).
Json SkillInputSchema(const skills::Skill& skill);

}  // namespace naut::envs

#pragma once
// The `skills` MCP server (`neuronaut mcp-server skills`): every current skill of the library
// is a tool (its name, its docstring as the description, an inputSchema from its signature),
// so any MCP client can use what NeuroNaut learned. A call runs the skill through the skill
// runtime, whose tool bridge reaches the MCP servers configured for the agent (mcp.json and
// the other built-ins; never `skills` itself), and counts the outcome on the skill.
//
// The tool list follows the library while the server runs: about once a second the server
// checks whether another process (the agent, `neuronaut skills add`, `skills rm`) committed to
// the database (PRAGMA data_version, no table read) and, when the set of skills or their
// versions changed, serves the new list and sends notifications/tools/list_changed to every
// connected client. The sandbox is not part of this build yet:
// calls are refused unless [sandbox] mode = "unisolated" is set explicitly, and results then
// say they ran without isolation.
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

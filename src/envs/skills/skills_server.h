#pragma once
// The `skills` MCP server (`neuronaut mcp-server skills`): every current skill of the library
// is a tool (its name, its docstring as the description, an inputSchema from its signature),
// so any MCP client can use what NeuroNaut learned. A call runs the skill through the skill
// runtime, whose tool bridge reaches the MCP servers configured for the agent (mcp.json and
// the other built-ins; never `skills` itself), and counts the outcome on the skill.
//
// The tool list is read when the server starts. The sandbox is not part of this build yet:
// calls are refused unless [sandbox] mode = "unisolated" is set explicitly, and results then
// say they ran without isolation.
//
// Threads: handlers may run concurrently; they share the stores behind one mutex.

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

#pragma once
// The built-in MCP tool servers this binary can serve (`neuronaut mcp-server <name>`), one
// line per server in registry.cc. Each entry builds the ServerDefinition (tools, resources,
// prompts) that the mcp server framework serves over stdio or HTTP.
//
// The agent reaches built-in servers like any other MCP server: spawned from this same binary
// (`/proc/self/exe mcp-server <name>`) over stdio; BuiltinServerConfigs makes those entries.
// The table is immutable; all functions are thread-safe.

#include <functional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "mcp/tool.h"

namespace naut::envs {

struct BuiltinServer {
  std::string name;
  std::string description;
  std::function<Result<mcp::ServerDefinition>(const Config&)> make;
};

// Every built-in server, in table order.
const std::vector<BuiltinServer>& BuiltinServers();

// The entry named `name`; NotFound lists the available names.
Result<const BuiltinServer*> FindBuiltinServer(const std::string& name);

// Stdio server entries ("<name>": <self> mcp-server <name>) for every built-in server, for the
// agent's ClientManager when [mcp] builtin_servers is on. `self` is this binary.
std::vector<McpServerConfig> BuiltinServerConfigs(const Config& config, const std::string& self = "/proc/self/exe");

}  // namespace naut::envs

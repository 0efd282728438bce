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
  // The words `mcp-server <name> WORD...` takes after the name, as help shows them ("DIR...
  // (what they are)"); empty when the server takes none. `take_operands` applies them to the
  // configuration that `make` is then given.
  std::string operands;
  std::function<Status(const std::vector<std::string>& words, Config& config)> take_operands;
};

// Every built-in server, in table order.
const std::vector<BuiltinServer>& BuiltinServers();

// The entry named `name`; NotFound lists the available names.
Result<const BuiltinServer*> FindBuiltinServer(const std::string& name);

// Applies the words given after `mcp-server <name>` to `config` (for `fs`, the allowed
// directories replace [sandbox] fs_roots, as @modelcontextprotocol/server-filesystem takes
// them). No words change nothing; words for a server that takes none are InvalidArgument.
Status TakeOperands(const BuiltinServer& server, const std::vector<std::string>& words,
                    Config& config);

// Stdio server entries ("<name>": <self> mcp-server <name>) for every built-in server when
// [mcp] builtin_servers is on, none otherwise. `self` is this binary.
std::vector<McpServerConfig> BuiltinServerConfigs(const Config& config,
                                                  const std::string& self = "/proc/self/exe");

}  // namespace naut::envs

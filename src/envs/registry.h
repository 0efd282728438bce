#pragma once
// The built-in MCP tool servers this binary can serve (`neuronaut mcp-server <name>`), one
// line per server in registry.cc. Each entry builds the ServerDefinition (tools, resources,
// prompts) that the mcp server framework serves over stdio or HTTP.
//
// The agent reaches built-in servers like any other MCP server: spawned from this same binary
// (`/proc/self/exe mcp-server <name>`) over stdio; BuiltinServerConfigs makes those entries.
// Which server a name means is decided in one place, ResolveServers: a server the user named
// in mcp.json always wins over a built-in of the same name.
// The table is immutable; all functions are thread-safe.

#include <functional>
#include <string>
#include <string_view>
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

// The MCP servers a command can reach by name.
struct ResolvedServers {
  // Each built-in (table order) whose name no mcp.json entry takes, then every mcp.json entry
  // (file order, disabled ones included). Names are unique.
  std::vector<McpServerConfig> servers;
  // Built-ins hidden by an mcp.json entry of the same name, in table order.
  std::vector<std::string> hidden_builtins;

  // The server named `name`, or null.
  const McpServerConfig* Find(std::string_view name) const;
  // Whether the mcp.json entry `name` hides a built-in.
  bool Hides(std::string_view name) const;
};

// Every command resolves server names here: a name configured in mcp.json means that entry,
// else the built-in of that name (when [mcp] builtin_servers is on). `self` as for
// BuiltinServerConfigs.
ResolvedServers ResolveServers(const Config& config, const std::string& self = "/proc/self/exe");

// The note a command prints (to stderr) when the user's `name` hides a built-in:
// "note: MCP server 'fs' is the one in <mcp.json>; it hides the built-in server of that name".
std::string HiddenBuiltinNote(const Config& config, std::string_view name);

}  // namespace naut::envs

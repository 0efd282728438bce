#include "envs/registry.h"

#include <algorithm>

#include "envs/exec/exec_server.h"
#include "envs/fs/fs_server.h"
#include "envs/rpg/rpg_server.h"
#include "envs/skills/skills_server.h"

namespace naut::envs {
namespace {

// `mcp-server fs DIR...`: the directories given replace the configured ones, as they are the
// whole configuration of @modelcontextprotocol/server-filesystem; FsServer::Create names any
// that does not exist or is not a directory.
Status TakeFsDirectories(const std::vector<std::string>& dirs, Config& config) {
  config.sandbox.fs_roots = dirs;
  return Status::Ok();
}

}  // namespace

const std::vector<BuiltinServer>& BuiltinServers() {
  // One line per server: {name, description, make[, operands, take_operands]}.
  static const std::vector<BuiltinServer> kServers = {
      {"rpg", "Dungeon Quest: a Telegram-style RPG game chat (game bot + shop bot)",
       rpg::MakeRpgServer},
      {"exec",
       "Run Python, shell, C++ (Swift when installed) and build/test packages in the sandbox",
       exec::MakeExecServer},
      {"fs",
       "Files inside allowed directories, with the tools of "
       "@modelcontextprotocol/server-filesystem",
       fs::MakeFsServer, "DIR... (the allowed directories, replacing [sandbox] fs_roots)",
       TakeFsDirectories},
      {"skills", "the learned skill library: every skill is a tool, run through the skill runtime",
       MakeSkillsServer},
  };
  return kServers;
}

Result<const BuiltinServer*> FindBuiltinServer(const std::string& name) {
  std::string known;
  for (const auto& s : BuiltinServers()) {
    if (s.name == name) return &s;
    known += (known.empty() ? "" : ", ") + s.name;
  }
  return NotFound(
      "no built-in mcp server named '" + name + "'; available: " +
      (known.empty() ? "none (no built-in server is compiled into this build)" : known));
}

Status TakeOperands(const BuiltinServer& server, const std::vector<std::string>& words,
                    Config& config) {
  if (words.empty()) return Status::Ok();
  if (!server.take_operands) {
    return InvalidArgument("mcp-server " + server.name +
                           " takes no arguments after its name (got '" + words.front() + "')");
  }
  return server.take_operands(words, config);
}

std::vector<McpServerConfig> BuiltinServerConfigs(const Config& config, const std::string& self) {
  std::vector<McpServerConfig> out;
  if (!config.mcp.builtin_servers) return out;
  for (const auto& s : BuiltinServers()) {
    McpServerConfig c;
    c.name = s.name;
    c.command = self;
    c.args = {"mcp-server", s.name};
    if (config.config_file_present)
      c.args.insert(c.args.begin(), {"--config", config.config_file.string()});
    c.args.insert(c.args.begin(), {"--home", config.home.string()});
    // The workspace the parent settled on (a run's default one included), so that the fs and
    // exec servers of one run work in the same directory.
    if (!config.sandbox.workspace.empty())
      c.args.insert(c.args.begin() + 2, {"--set", "sandbox.workspace=" + config.sandbox.workspace});
    out.push_back(std::move(c));
  }
  return out;
}

const McpServerConfig* ResolvedServers::Find(std::string_view name) const {
  auto it = std::find_if(servers.begin(), servers.end(),
                         [&](const McpServerConfig& s) { return s.name == name; });
  return it == servers.end() ? nullptr : &*it;
}

bool ResolvedServers::Hides(std::string_view name) const {
  return std::find(hidden_builtins.begin(), hidden_builtins.end(), name) != hidden_builtins.end();
}

ResolvedServers ResolveServers(const Config& config, const std::string& self) {
  ResolvedServers out;
  auto configured = [&](const std::string& name) {
    return std::any_of(config.mcp_servers.begin(), config.mcp_servers.end(),
                       [&](const McpServerConfig& s) { return s.name == name; });
  };
  for (auto& b : BuiltinServerConfigs(config, self)) {
    if (configured(b.name)) {
      out.hidden_builtins.push_back(b.name);
    } else {
      out.servers.push_back(std::move(b));
    }
  }
  for (const auto& s : config.mcp_servers) {
    if (out.Find(s.name) == nullptr) out.servers.push_back(s);
  }
  return out;
}

std::string HiddenBuiltinNote(const Config& config, std::string_view name) {
  return "note: MCP server '" + std::string(name) + "' is the one in " + config.mcp_file.string() +
         "; it hides the built-in server of that name";
}

}  // namespace naut::envs

#include "envs/registry.h"

namespace naut::envs {

const std::vector<BuiltinServer>& BuiltinServers() {
  // One line per server: {name, description, make}. The rpg, fs, exec, skills and memory
  // servers add their lines here.
  static const std::vector<BuiltinServer> kServers = {
  };
  return kServers;
}

Result<const BuiltinServer*> FindBuiltinServer(const std::string& name) {
  std::string known;
  for (const auto& s : BuiltinServers()) {
    if (s.name == name) return &s;
    known += (known.empty() ? "" : ", ") + s.name;
  }
  return NotFound("no built-in mcp server named '" + name + "'; available: " +
                  (known.empty() ? "none (no built-in server is compiled into this build)" : known));
}

std::vector<McpServerConfig> BuiltinServerConfigs(const Config& config, const std::string& self) {
  std::vector<McpServerConfig> out;
  if (!config.mcp.builtin_servers) return out;
  for (const auto& s : BuiltinServers()) {
    McpServerConfig c;
    c.name = s.name;
    c.command = self;
    c.args = {"mcp-server", s.name};
    if (config.config_file_present) c.args.insert(c.args.begin(), {"--config", config.config_file.string()});
    c.args.insert(c.args.begin(), {"--home", config.home.string()});
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace naut::envs

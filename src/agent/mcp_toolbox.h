#pragma once
// The agent's ToolBox over the MCP client hub: every tool of every connected server as
// <server>__<tool>, resources read from the server whose name matches the URI scheme (or
// from each of `resource_servers` in turn).
//
// Thread-safety: as ClientManager (any thread).

#include <string>
#include <vector>

#include "agent/toolbox.h"
#include "mcp/hub.h"

namespace naut::agent {

class McpToolBox : public ToolBox {
 public:
  McpToolBox(mcp::ClientManager& hub, std::vector<std::string> resource_servers)
      : hub_(hub), resource_servers_(std::move(resource_servers)) {}

  Result<std::vector<ToolInfo>> ListTools() override;
  Result<ToolOutcome> CallTool(const std::string& name, const Json& arguments,
                               std::chrono::milliseconds timeout, std::stop_token cancel) override;
  Result<std::string> ReadResource(const std::string& uri) override;

 private:
  mcp::ClientManager& hub_;
  std::vector<std::string> resource_servers_;
};

}  // namespace naut::agent

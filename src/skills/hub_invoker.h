#pragma once
// The ToolInvoker the agent uses: every bridge call goes through the MCP ClientManager, so a
// skill reaches exactly the servers (and permissions) the agent has, with their timeouts and
// restarts. Thread-safe (ClientManager is).

#include <chrono>

#include "mcp/hub.h"
#include "skills/runtime.h"

namespace naut::skills {

class HubToolInvoker : public ToolInvoker {
 public:
  explicit HubToolInvoker(mcp::ClientManager& hub,
                          std::chrono::milliseconds call_timeout = std::chrono::seconds(60))
      : hub_(hub), timeout_(call_timeout) {}
  Result<mcp::ToolResult> Call(const std::string& qualified_name, const Json& arguments) override {
    return hub_.CallTool(qualified_name, arguments, {.timeout = timeout_});
  }

 private:
  mcp::ClientManager& hub_;
  std::chrono::milliseconds timeout_;
};

}  // namespace naut::skills

#pragma once
// A ToolInvoker straight over the MCP ClientManager, for skills run outside the agent (the
// `skills` server, envs/skills): every bridge call is first put to the permission policy
// (mcp/permissions.h, the same check the agent applies to its own calls) and, when it may run,
// made through the ClientManager with its timeout and restarts. A refused call is an error
// result "Refused: <why>", the words a code action of the agent gets, which the skill sees as
// tools.ToolError. Whether a tool is destructive comes from its server's annotations (the
// ClientManager's cached tool list); a tool its server does not list is not called.
// (The agent's code actions call tools through the agent's ToolBox instead, agent/code_runner.h.)
//
// Thread-safe: the policy is only read, and ClientManager is thread-safe.

#include <chrono>

#include "mcp/hub.h"
#include "mcp/permissions.h"
#include "skills/runtime.h"

namespace naut::skills {

class HubToolInvoker : public ToolInvoker {
 public:
  HubToolInvoker(mcp::ClientManager& hub, mcp::PermissionPolicy permissions,
                 std::chrono::milliseconds call_timeout = std::chrono::seconds(60))
      : hub_(hub), permissions_(std::move(permissions)), timeout_(call_timeout) {}

  // Errors: the name is not "<server>__<tool>", the server is unreachable, or does not list
  // the tool; a timeout is DeadlineExceeded. A refusal is an is_error result.
  Result<mcp::ToolResult> Call(const std::string& qualified_name, const Json& arguments) override;

 private:
  mcp::ClientManager& hub_;
  mcp::PermissionPolicy permissions_;
  std::chrono::milliseconds timeout_;
};

}  // namespace naut::skills

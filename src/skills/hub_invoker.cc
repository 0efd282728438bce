#include "skills/hub_invoker.h"

#include <algorithm>

namespace naut::skills {

Result<mcp::ToolResult> HubToolInvoker::Call(const std::string& qualified_name,
                                             const Json& arguments) {
  NAUT_ASSIGN_OR_RETURN(auto names, mcp::ClientManager::SplitToolName(qualified_name));
  NAUT_ASSIGN_OR_RETURN(auto listed, hub_.ListTools(names.first));
  auto tool = std::find_if(listed.begin(), listed.end(),
                           [&](const mcp::ToolInfo& t) { return t.name == names.second; });
  if (tool == listed.end()) {
    return NotFound("tool '" + qualified_name + "' is not available (server '" + names.first +
                    "' lists no tool '" + names.second + "')");
  }
  if (auto refusal =
          permissions_.Refusal(qualified_name, mcp::IsDestructive(tool->annotations), arguments)) {
    return mcp::ToolResult::Error("Refused: " + *refusal);
  }
  return hub_.CallTool(qualified_name, arguments, {.timeout = timeout_});
}

}  // namespace naut::skills

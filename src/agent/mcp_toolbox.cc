#include "agent/mcp_toolbox.h"

#include "mcp/permissions.h"

namespace naut::agent {

Result<std::vector<ToolInfo>> McpToolBox::ListTools() {
  std::vector<ToolInfo> out;
  for (const auto& q : hub_.ListTools()) {
    ToolInfo info;
    info.spec.name = q.qualified_name;
    info.spec.description = q.tool.description;
    info.spec.parameters =
        q.tool.input_schema.is_object() ? q.tool.input_schema : Json{{"type", "object"}};
    const Json& a = q.tool.annotations;
    info.destructive = mcp::IsDestructive(a);
    info.read_only = a.is_object() && a.value("readOnlyHint", false);
    out.push_back(std::move(info));
  }
  return out;
}

Result<ToolOutcome> McpToolBox::CallTool(const std::string& name, const Json& arguments,
                                         std::chrono::milliseconds timeout,
                                         std::stop_token cancel) {
  mcp::RequestOptions options;
  options.timeout = timeout;
  options.cancel = cancel;
  NAUT_ASSIGN_OR_RETURN(mcp::ToolResult r, hub_.CallTool(name, arguments, options));
  return ToolOutcome{r.AsText(), r.is_error, r.structured};
}

Result<std::string> McpToolBox::ReadResource(const std::string& uri) {
  std::vector<std::string> servers;
  auto scheme_end = uri.find("://");
  if (scheme_end != std::string::npos) servers.push_back(uri.substr(0, scheme_end));
  for (const auto& s : resource_servers_) {
    if (std::find(servers.begin(), servers.end(), s) == servers.end()) servers.push_back(s);
  }
  Status last = NotFound("no MCP server offers resource " + uri);
  for (const auto& server : servers) {
    auto session = hub_.Session(server);
    if (!session) {
      last = session.error();
      continue;
    }
    auto read = (*session)->ReadResource(uri);
    if (!read) {
      last = read.error();
      continue;
    }
    const Json& contents = (*read).contains("contents") ? (*read)["contents"] : *read;
    std::string text;
    if (contents.is_array()) {
      for (const auto& c : contents) text += c.value("text", "");
    }
    return text;
  }
  return last;
}

}  // namespace naut::agent

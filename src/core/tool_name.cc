#include "core/tool_name.h"

namespace naut {

std::string JoinToolName(std::string_view server, std::string_view tool) {
  std::string out;
  out.reserve(server.size() + kToolNameSeparator.size() + tool.size());
  out.append(server).append(kToolNameSeparator).append(tool);
  return out;
}

std::optional<ToolName> SplitToolName(std::string_view qualified) {
  size_t at = qualified.find(kToolNameSeparator);
  if (at == std::string_view::npos) return std::nullopt;
  return ToolName{std::string(qualified.substr(0, at)),
                  std::string(qualified.substr(at + kToolNameSeparator.size()))};
}

bool HasToolNameSeparator(std::string_view name) {
  return name.find(kToolNameSeparator) != std::string_view::npos;
}

}  // namespace naut

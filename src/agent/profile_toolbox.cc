#include "agent/profile_toolbox.h"

namespace naut::agent {

Result<std::vector<ToolInfo>> ProfileToolBox::ListTools() {
  NAUT_ASSIGN_OR_RETURN(auto all, inner_.ListTools());
  std::vector<ToolInfo> out;
  for (auto& t : all) {
    auto visible = profile_.VisibleToolName(t.spec.name);
    if (!visible) continue;
    t.spec.name = std::move(*visible);
    out.push_back(std::move(t));
  }
  return out;
}

Result<ToolOutcome> ProfileToolBox::CallTool(const std::string& name, const Json& arguments,
                                             std::chrono::milliseconds timeout,
                                             std::stop_token cancel) {
  if (name == kObservationTool) return Observe(timeout, cancel);
  auto real = profile_.RealToolName(name);
  if (!real) {
    std::string prefixes;
    for (const auto& s : profile_.servers)
      prefixes += (prefixes.empty() ? "" : ", ") + profile_.PrefixFor(s) + "__<tool>";
    return NotFound("environment '" + profile_.name + "' has no tool '" + name +
                    "'; its tools are " + prefixes);
  }
  return inner_.CallTool(*real, arguments, timeout, cancel);
}

Result<std::string> ProfileToolBox::ReadResource(const std::string& uri) {
  return inner_.ReadResource(uri);
}

Result<ToolOutcome> ProfileToolBox::Observe(std::chrono::milliseconds timeout,
                                            std::stop_token cancel) {
  const auto& calls = profile_.observation;
  if (calls.empty())
    return FailedPrecondition("environment '" + profile_.name + "' has no [[observation.calls]]");
  std::string text;
  std::optional<Status> first_error;
  size_t failed = 0;
  for (const auto& c : calls) {
    std::string label =
        c.resource.empty() ? c.tool + " " + DumpJson(c.arguments) : "resource " + c.resource;
    std::string part;
    if (!c.resource.empty()) {
      auto r = inner_.ReadResource(c.resource);
      if (r) {
        part = *r;
      } else {
        ++failed;
        if (!first_error) first_error = r.error();
        part = "(unavailable: " + r.error().message() + ")";
      }
    } else {
      auto r = CallTool(c.tool, c.arguments, timeout, cancel);
      if (r) {
        part = r->is_error ? "(error) " + r->text
                           : JsonAsReadableText(JsonWithoutKeys(r->text, c.omit));
      } else {
        ++failed;
        if (!first_error) first_error = r.error();
        part = "(unavailable: " + r.error().message() + ")";
      }
    }
    // One call is the observation itself; several are told apart by what was called.
    if (calls.size() > 1) {
      if (!text.empty()) text += "\n\n";
      text += "[" + label + "]\n";
    }
    text += part;
  }
  if (failed == calls.size()) return *first_error;
  return ToolOutcome{text, false, std::nullopt};
}

}  // namespace naut::agent

#include "agent/profile_toolbox.h"

#include <algorithm>

namespace naut::agent {

Result<std::vector<ToolInfo>> ProfileToolBox::ListTools() {
  NAUT_ASSIGN_OR_RETURN(auto all, inner_.ListTools());
  std::vector<ToolInfo> out;
  for (auto& t : all) {
    auto visible = profile_.VisibleToolName(t.spec.name);
    if (!visible) continue;
    t.spec.name = std::move(*visible);
    Json& params = t.spec.parameters;
    if (!profile_.chat.empty() && params.is_object() && params.contains("properties") &&
        params["properties"].is_object() && params["properties"].contains("chat_id")) {
      {
        MutexLock lock(mu_);
        takes_chat_.insert(t.spec.name);
      }
      // Filled in when missing, so not required of the model.
      if (params.contains("required") && params["required"].is_array()) {
        auto& required = params["required"];
        required.erase(std::remove(required.begin(), required.end(), Json("chat_id")),
                       required.end());
      }
    }
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
  Json filled;
  const Json* args = &arguments;
  if ((arguments.is_object() || arguments.is_null()) && !arguments.contains("chat_id")) {
    MutexLock lock(mu_);
    if (takes_chat_.contains(name)) {
      filled = arguments.is_null() ? Json::object() : arguments;
      filled["chat_id"] = followed_chat_.empty() ? profile_.chat : followed_chat_;
      args = &filled;
    }
  }
  auto outcome = inner_.CallTool(*real, *args, timeout, cancel);
  if (!profile_.other_chats.empty() && outcome && !outcome->is_error && arguments.is_object()) {
    auto chat = arguments.find("chat_id");
    if (chat != arguments.end() && chat->is_string()) {
      const auto& id = chat->get_ref<const std::string&>();
      const auto& others = profile_.other_chats;
      if (id == profile_.chat || std::find(others.begin(), others.end(), id) != others.end()) {
        MutexLock lock(mu_);
        followed_chat_ = id;
      }
    }
  }
  return outcome;
}

Result<std::string> ProfileToolBox::ReadResource(const std::string& uri) {
  return inner_.ReadResource(uri);
}

Result<ToolOutcome> ProfileToolBox::Observe(std::chrono::milliseconds timeout,
                                            std::stop_token cancel) {
  if (profile_.observation.empty())
    return FailedPrecondition("environment '" + profile_.name + "' has no [[observation.calls]]");
  std::string chat;
  {
    MutexLock lock(mu_);
    chat = followed_chat_;
  }
  bool any_error = false;
  if (chat.empty() || chat == profile_.chat)
    return ObserveChat(profile_.chat, timeout, cancel, &any_error);
  auto seen = ObserveChat(chat, timeout, cancel, &any_error);
  if (seen && !any_error) return seen;
  // The followed chat cannot be read (the agent wrote to a chat that is not there): back to
  // the profile's own.
  {
    MutexLock lock(mu_);
    followed_chat_.clear();
  }
  return ObserveChat(profile_.chat, timeout, cancel, &any_error);
}

Result<ToolOutcome> ProfileToolBox::ObserveChat(const std::string& chat,
                                                std::chrono::milliseconds timeout,
                                                std::stop_token cancel, bool* any_error) {
  const auto& calls = profile_.observation;
  *any_error = false;
  std::string text;
  std::optional<Status> first_error;
  size_t failed = 0;
  for (const auto& c : calls) {
    Json arguments = c.arguments;
    if (chat != profile_.chat) {
      arguments = c.arguments_template;
      SubstituteChat(arguments, chat);
    }
    // Written as the call itself: a model copies what it reads (the 1.5B copied the label
    // "name {args}" as code and failed on the syntax).
    std::string label =
        c.resource.empty() ? c.tool + "(" + DumpJson(arguments) + ")" : "resource " + c.resource;
    std::string part;
    if (!c.resource.empty()) {
      auto r = inner_.ReadResource(c.resource);
      if (r) {
        part = *r;
      } else {
        ++failed;
        *any_error = true;
        if (!first_error) first_error = r.error();
        part = "(unavailable: " + r.error().message() + ")";
      }
    } else {
      auto r = CallTool(c.tool, arguments, timeout, cancel);
      if (r && r->is_error) *any_error = true;
      if (r) {
        part = r->is_error ? "(error) " + r->text
                           : JsonAsReadableText(JsonWithoutKeys(r->text, c.omit));
      } else {
        ++failed;
        *any_error = true;
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

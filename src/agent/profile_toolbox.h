#pragma once
// The environment as the model sees it. ProfileToolBox wraps a ToolBox whose tools are named
// `<server>__<tool>` (McpToolBox over the MCP hub) and shows only the profile's servers, under
// the profile's prefix: with `server = "telegram-mcp"` and `tool_prefix = "game"`, the model is
// offered `game__press_inline_button` and a call to it reaches
// `telegram-mcp__press_inline_button`. Other servers' tools are neither listed nor callable.
//
// It also answers kObservationTool (never listed): every [[observation.calls]] entry of the
// profile is made in order and the results are joined into one observation; a failing call
// is reported in its place, and only when every call fails is the observation an error. With
// the profile's other_chats, "{chat}" in the observation calls is the chat of the last call
// that named one of them (or the profile's chat) as its `chat_id` and succeeded; when that
// chat cannot be read, the profile's chat is read instead. A call to a tool that takes a
// `chat_id` but names none goes to the chat in view (small models often leave it out), and the
// listed schema does not require it.
//
// Thread-safety: as the wrapped ToolBox (the profile is an immutable copy); the followed chat
// is guarded (code actions call tools from the runtime's thread).

#include <set>
#include <string>

#include "agent/profile.h"
#include "agent/toolbox.h"
#include "core/mutex.h"
#include "core/thread_annotations.h"

namespace naut::agent {

class ProfileToolBox : public ToolBox {
 public:
  // `inner` must outlive this object.
  ProfileToolBox(ToolBox& inner, EnvProfile profile)
      : inner_(inner), profile_(std::move(profile)) {}

  Result<std::vector<ToolInfo>> ListTools() override;
  // Unknown names (not a tool of the profile's servers) are NotFound, naming the prefix the
  // model should use.
  Result<ToolOutcome> CallTool(const std::string& name, const Json& arguments,
                               std::chrono::milliseconds timeout, std::stop_token cancel) override;
  Result<std::string> ReadResource(const std::string& uri) override;

 private:
  Result<ToolOutcome> Observe(std::chrono::milliseconds timeout, std::stop_token cancel);

  Result<ToolOutcome> ObserveChat(const std::string& chat, std::chrono::milliseconds timeout,
                                  std::stop_token cancel, bool* any_error);

  ToolBox& inner_;
  const EnvProfile profile_;
  Mutex mu_;
  std::string followed_chat_ GUARDED_BY(mu_);         // empty: the profile's chat
  std::set<std::string> takes_chat_ GUARDED_BY(mu_);  // tools (as the model sees them) with chat_id
};

}  // namespace naut::agent

#pragma once
// Which tool calls may run: the [permissions] table (core/config.h PermissionsConfig) applied to
// a tool named "<server>__<tool>". It is the one check on every path from a model or an outside
// MCP client to a tool: the agent's direct calls and code actions (agent/agent.h) and the skills
// that `neuronaut mcp-server skills` runs (skills/hub_invoker.h).
//
// The rules, in order: a `deny` glob refuses; an `ask` glob asks the user (ask_user), and
// without one to ask (a non-interactive run, the skills server) the call is refused; a tool its
// server marks destructive (IsDestructive) runs only when an `allow` pattern other than "*"
// names it; any other tool runs when `allow` is empty or one of its globs matches.
//
// A plain value: Decide and Refusal may be called from any thread; ask_user is called on the
// caller's thread and must be safe there.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/json.h"

namespace naut::mcp {

// Matches the tool name `s` against the glob `p`, with '*' and '?' (e.g. "fs__*", "rpg__press_*").
bool GlobMatch(std::string_view p, std::string_view s);

// Whether a tool's MCP annotations mark it destructive: destructiveHint set and readOnlyHint
// not (a tool without annotations is not).
bool IsDestructive(const Json& annotations);

struct PermissionPolicy {
  std::vector<std::string> allow;
  std::vector<std::string> deny;
  std::vector<std::string> ask;
  // Asked for tools matching `ask`; absent (non-interactive runs): such calls are refused.
  std::function<bool(const std::string& tool, const Json& arguments)> ask_user;

  // The [permissions] table; nobody to ask.
  static PermissionPolicy FromConfig(const PermissionsConfig& config);

  enum class Decision { kAllow, kDeny, kAsk };
  // `reason` says why a call is refused (kDeny), in words for the model and the log.
  Decision Decide(const std::string& name, bool destructive, std::string* reason) const;

  // Decide with kAsk settled by ask_user: why a call of `name` with `arguments` may not run,
  // or nothing when it may.
  std::optional<std::string> Refusal(const std::string& name, bool destructive,
                                     const Json& arguments) const;
};

}  // namespace naut::mcp

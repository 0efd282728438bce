#pragma once
// How a tool is named across servers: "<server>__<tool>", the server's name (from mcp.json or
// a built-in) and the tool's own name joined by kToolNameSeparator. The model sees these names,
// the hub routes by them, profiles and skills write them. A server name therefore never holds
// the separator; a tool's own name may (the split is at the first one). Pure functions;
// thread-safe.

#include <optional>
#include <string>
#include <string_view>

namespace naut {

inline constexpr std::string_view kToolNameSeparator = "__";

// "<server>__<tool>".
std::string JoinToolName(std::string_view server, std::string_view tool);

struct ToolName {
  std::string server;
  std::string tool;
};

// `qualified` split at its first separator; nullopt when it holds none. Either part may be
// empty ("__x", "rpg__"); callers that need both check.
std::optional<ToolName> SplitToolName(std::string_view qualified);

// Whether `name` holds the separator: it is a qualified tool name, and cannot be a server's.
bool HasToolNameSeparator(std::string_view name);

}  // namespace naut

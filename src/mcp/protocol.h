#pragma once
// MCP protocol versions this implementation speaks, newest first, and what differs between them.

#include <string>
#include <string_view>
#include <vector>

namespace naut::mcp {

inline constexpr std::string_view kLatestProtocolVersion = "2025-11-25";

// "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05".
const std::vector<std::string>& SupportedProtocolVersions();
bool IsSupportedProtocolVersion(std::string_view version);
// JSON-RPC batches exist only in 2025-03-26.
bool BatchesAllowed(std::string_view version);

// Logging levels in increasing severity; -1 for an unknown name.
int LogLevelRank(std::string_view level);

}  // namespace naut::mcp

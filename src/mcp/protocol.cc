#include "mcp/protocol.h"

#include <algorithm>
#include <array>

namespace naut::mcp {

const std::vector<std::string>& SupportedProtocolVersions() {
  static const std::vector<std::string> kVersions{std::string(kLatestProtocolVersion), "2025-06-18", "2025-03-26",
                                                  "2024-11-05"};
  return kVersions;
}

bool IsSupportedProtocolVersion(std::string_view version) {
  const auto& v = SupportedProtocolVersions();
  return std::find(v.begin(), v.end(), version) != v.end();
}

bool BatchesAllowed(std::string_view version) { return version == "2025-03-26"; }

int LogLevelRank(std::string_view level) {
  static constexpr std::array<std::string_view, 8> kLevels{"debug",    "info",  "notice", "warning",
                                                           "error",    "critical", "alert", "emergency"};
  for (size_t i = 0; i < kLevels.size(); ++i)
    if (kLevels[i] == level) return static_cast<int>(i);
  return -1;
}

}  // namespace naut::mcp

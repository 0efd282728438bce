#pragma once
// Identifiers for runs, episodes and other records: sortable by creation time and unique
// without coordination ("20261126T051500Z-3f9a1c2b"). Thread-safe.

#include <string>

namespace naut {

std::string NewId();

// Current UTC time as ISO 8601 with seconds ("2026-11-26T05:15:00Z").
std::string NowIso8601();

// Milliseconds since the Unix epoch (wall clock).
int64_t NowUnixMillis();

}  // namespace naut

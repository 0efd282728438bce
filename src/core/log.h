#pragma once
// Logging through spdlog. After InitLogging, use spdlog::info(...) etc. anywhere; the default
// logger is thread-safe. Messages go to stderr at the chosen level and, when a file is given,
// to a rotating log file (always at debug level, so a problem can be read after the fact).

#include <filesystem>
#include <optional>
#include <string>

#include "core/status.h"

namespace naut {

struct LogOptions {
  std::string level = "info";                 // trace, debug, info, warn, error, off
  std::optional<std::filesystem::path> file;  // e.g. <home>/logs/neuronaut.log
};

// Safe to call more than once (the last call wins). Not thread-safe against itself.
Status InitLogging(const LogOptions& options);

// True when `level` is a level name spdlog knows.
bool IsLogLevel(std::string_view level);

}  // namespace naut

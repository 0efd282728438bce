#include "core/log.h"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <vector>

namespace naut {

bool IsLogLevel(std::string_view level) {
  static constexpr std::string_view kLevels[] = {"trace", "debug",    "info", "warn",
                                                 "error", "critical", "off"};
  for (auto l : kLevels) {
    if (l == level) return true;
  }
  return false;
}

Status InitLogging(const LogOptions& options) {
  if (!IsLogLevel(options.level)) {
    return InvalidArgument("log level '" + options.level +
                           "' is not one of trace, debug, info, warn, error, critical, off");
  }
  std::vector<spdlog::sink_ptr> sinks;
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  console->set_level(spdlog::level::from_str(options.level));
  console->set_pattern("%^%l%$: %v");
  sinks.push_back(console);
  Status status;
  if (options.file) {
    try {
      auto file = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(options.file->string(),
                                                                         8 * 1024 * 1024, 3);
      file->set_level(spdlog::level::debug);
      file->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l [%t] %v");
      sinks.push_back(file);
    } catch (const spdlog::spdlog_ex& e) {
      status = Unavailable("log file " + options.file->string() + ": " + e.what());
    }
  }
  auto logger = std::make_shared<spdlog::logger>("neuronaut", sinks.begin(), sinks.end());
  logger->set_level(spdlog::level::trace);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  return status;
}

}  // namespace naut

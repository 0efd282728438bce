#include "cli/context.h"

#include <spdlog/spdlog.h>

#include <iostream>

#include "core/files.h"
#include "core/log.h"

namespace naut::cli {

int Fail(const Status& status) {
  std::cerr << "neuronaut: " << status.message() << "\n";
  return kExitFailure;
}

Result<Config> Context::LoadConfig(bool with_log_file) {
  if (config_) return *config_;
  ConfigOverrides o = overrides;
  auto add = [&](const std::string& key, const std::string& value, const std::string& flag) {
    if (value.empty()) return;
    o.settings.emplace_back(key, value);
    o.flag_names[key] = flag;
  };
  add("llm.backend", llm_backend, "--llm-backend");
  add("llm.base_url", llm_base_url, "--llm-base-url");
  add("llm.model", llm_model, "--llm-model");
  add("log.level", log_level, "--log-level");
  if (verbose) add("log.level", "debug", "-v");
  for (const auto& s : sets) {
    auto eq = s.find('=');
    if (eq == std::string::npos) {
      config_ =
          InvalidArgument("flag --set " + s + ": expected key=value, e.g. --set llm.timeout_s=30");
      return *config_;
    }
    add(s.substr(0, eq), s.substr(eq + 1), "--set " + s.substr(0, eq));
  }
  config_ = naut::LoadConfig(o, ProcessEnv());
  if (*config_) {
    const Config& c = **config_;
    LogOptions log{.level = c.log.level};
    if (with_log_file && c.log.file && std::filesystem::is_directory(c.home)) {
      if (MakePrivateDirs(c.home / "logs").ok()) log.file = c.home / "logs" / "neuronaut.log";
    }
    Status s = InitLogging(log);
    if (!s.ok()) spdlog::warn("{}", s.message());
  }
  return *config_;
}

}  // namespace naut::cli

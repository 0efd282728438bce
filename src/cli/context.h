#pragma once
// What every subcommand shares: the global flags, the configuration they produce, and the
// exit code. Used from the main thread only.

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "core/config.h"
#include "core/status.h"

namespace naut::cli {

// Exit codes of the neuronaut binary.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct Context {
  ConfigOverrides overrides;
  std::string llm_backend, llm_base_url, llm_model, log_level;
  std::vector<std::string> sets;  // --set key=value
  bool verbose = false;
  int exit_code = kExitOk;

  // Loads the configuration once (file, env, flags) and sets up logging (to stderr; and to
  // the data home's log file once `with_log_file` and the home exists).
  Result<Config> LoadConfig(bool with_log_file = true);

 private:
  std::optional<Result<Config>> config_;
};

// Prints "neuronaut: <message>" to stderr and returns kExitFailure (or kExitUsage for
// kInvalidArgument from the command line).
int Fail(const Status& status);

// Subcommand registration, one function per file.
void AddConfigCommands(CLI::App& app, Context& ctx);
void AddDoctorCommand(CLI::App& app, Context& ctx);
void AddRunCommand(CLI::App& app, Context& ctx);
void AddMemoryCommands(CLI::App& app, Context& ctx);
void AddSkillsCommands(CLI::App& app, Context& ctx);
// `skills consolidate`, which sets the agent up as `run` does (run_cmd.cc).
void AddSkillsConsolidateCommand(CLI::App& skills, Context& ctx);
void AddRunsCommand(CLI::App& app, Context& ctx);
void AddMcpCommands(CLI::App& app, Context& ctx);
void AddLlmCommands(CLI::App& app, Context& ctx);
void AddModelCommands(CLI::App& app, Context& ctx);
void AddGenerateCommand(CLI::App& app, Context& ctx);
void AddPlayCommand(CLI::App& app, Context& ctx);
void AddSandboxCommands(CLI::App& app, Context& ctx);
void AddBackupCommands(CLI::App& app, Context& ctx);
void AddServiceCommands(CLI::App& app, Context& ctx);
void AddServeCommand(CLI::App& app, Context& ctx);

}  // namespace naut::cli

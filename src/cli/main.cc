// neuronaut: the one product binary. Each subcommand lives in its own file of src/cli/.

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>

#include "cli/context.h"
#include "cli/version.h"
#include "core/log.h"

int main(int argc, char** argv) {
  using namespace naut::cli;
  // A peer that closes its end of a pipe (an MCP client, a build's child, `| head`) must turn
  // our next write into EPIPE, not kill a server mid-call. Children get default dispositions
  // back: Subprocess and the sandbox reset every signal before exec.
  ::signal(SIGPIPE, SIG_IGN);
  (void)naut::InitLogging({});
  Context ctx;
  CLI::App app{"NeuroNaut: a self-hosted, lifelong-learning agent that runs on your own machines."};
  app.name("neuronaut");
  app.set_version_flag("--version",
                       std::string("neuronaut ") + NAUT_VERSION + " (" + NAUT_GIT_REV + ")");
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("--config", ctx.overrides.config_file,
                 "Configuration file (default: $NEURONAUT_HOME/neuronaut.toml)");
  app.add_option("--home", ctx.overrides.home,
                 "Data home (default: $NEURONAUT_HOME or ~/.neuronaut)");
  app.add_option("--llm-backend", ctx.llm_backend,
                 "openai | llamacpp | embedded (env LLM_BACKEND)");
  app.add_option("--llm-base-url", ctx.llm_base_url,
                 "OpenAI-compatible server URL (env LLM_BASE_URL)");
  app.add_option("--llm-model", ctx.llm_model, "Model name or GGUF file (env LLM_MODEL)");
  app.add_option("--log-level", ctx.log_level, "trace, debug, info, warn, error, off");
  app.add_option("--set", ctx.sets, "Override any configuration key: --set section.key=value");
  app.add_flag("-v,--verbose", ctx.verbose, "Debug logging");

  AddRunCommand(app, ctx);
  AddRunsCommand(app, ctx);
  AddDoctorCommand(app, ctx);
  AddConfigCommands(app, ctx);
  AddMemoryCommands(app, ctx);
  AddSkillsCommands(app, ctx);
  AddMcpCommands(app, ctx);
  AddLlmCommands(app, ctx);
  AddModelCommands(app, ctx);
  AddGenerateCommand(app, ctx);
  AddPlayCommand(app, ctx);
  AddSandboxCommands(app, ctx);
  AddBackupCommands(app, ctx);
  AddServiceCommands(app, ctx);
  AddServeCommand(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  return ctx.exit_code;
}

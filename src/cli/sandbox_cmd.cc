// neuronaut sandbox check | run: try the sandbox by hand, with the configured limits.

#include <unistd.h>

#include <iostream>

#include "cli/context.h"
#include "core/data_home.h"
#include "core/ids.h"
#include "sandbox/sandbox.h"

namespace naut::cli {

namespace {
struct SandboxArgs {
  std::vector<std::string> command;
  std::string workspace;
  double timeout_s = 0;
  bool json = false;
};
}  // namespace

void AddSandboxCommands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("sandbox", "Check the sandbox, or run a command in it");
  group->require_subcommand(1);

  auto* check =
      group->add_subcommand("check", "Say whether isolated sandboxes work on this machine");
  check->callback([&ctx] {
    auto config = ctx.LoadConfig(false);
    if (!config) {
      ctx.exit_code = Fail(config.error());
      return;
    }
    Status s = sandbox::CheckIsolationAvailable();
    if (!s.ok()) {
      ctx.exit_code = Fail(s);
      return;
    }
    std::cout
        << "ok: isolated sandbox works (user, PID, mount, network namespaces; seccomp; rlimits)\n";
    if (config->sandbox.mode != "isolated") {
      std::cout << "note: [sandbox] mode = \"" << config->sandbox.mode
                << "\": tool servers run code UNISOLATED (results are marked)\n";
    }
  });

  auto args = std::make_shared<SandboxArgs>();
  auto* run =
      group->add_subcommand("run", "Run a command in the sandbox with the configured limits");
  run->add_option(
      "--workspace", args->workspace,
      "Directory mounted read-write at /work (default: a new one under <home>/workspaces)");
  run->add_option("--timeout", args->timeout_s,
                  "Wall-clock limit in seconds (default [sandbox] wall_s)");
  run->add_flag("--json", args->json, "Print the result as JSON");
  run->add_option("command", args->command, "The command and its arguments (after --)")->required();
  run->callback([&ctx, args] {
    auto config = ctx.LoadConfig();
    if (!config) {
      ctx.exit_code = Fail(config.error());
      return;
    }
    auto mode = sandbox::ParseMode(config->sandbox.mode);
    if (!mode) {
      ctx.exit_code = Fail(mode.error());
      return;
    }
    std::filesystem::path workspace = args->workspace;
    if (workspace.empty()) {
      auto home = OpenDataHome(config->home);
      if (!home) {
        ctx.exit_code = Fail(home.error());
        return;
      }
      workspace = home->root / "workspaces" / ("cli-" + NewId());
      std::error_code ec;
      std::filesystem::create_directories(workspace, ec);
    }
    sandbox::Spec spec;
    spec.argv = args->command;
    spec.workspace = workspace;
    spec.limits = sandbox::Limits::FromConfig(config->sandbox);
    if (args->timeout_s > 0) spec.limits.wall_s = args->timeout_s;
    spec.mode = *mode;
    if (!isatty(STDIN_FILENO)) spec.stdin_data.assign(std::istreambuf_iterator<char>(std::cin), {});
    auto result = sandbox::Run(spec);
    if (!result) {
      ctx.exit_code = Fail(result.error());
      return;
    }
    if (args->json) {
      std::cout << DumpJson(result->ToJson(), 2) << "\n";
    } else {
      std::cout << result->out;
      std::cerr << result->err;
      std::cerr << "neuronaut sandbox: " << result->Describe() << " (" << result->wall_s
                << " s, peak " << result->peak_memory_kb << " KiB; workspace " << workspace.string()
                << ")\n";
    }
    ctx.exit_code = result->signal != 0 ? 128 + result->signal : result->exit_code;
  });
}

}  // namespace naut::cli

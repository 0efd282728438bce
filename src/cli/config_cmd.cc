// neuronaut config show|path|keys

#include <iostream>

#include "cli/context.h"

namespace naut::cli {

void AddConfigCommands(CLI::App& app, Context& ctx) {
  auto* config = app.add_subcommand(
      "config", "Show the effective configuration and where each value came from");
  config->require_subcommand(1);
  config->add_subcommand("show", "Print the effective configuration with the origin of every value")
      ->callback([&ctx] {
        auto c = ctx.LoadConfig(/*with_log_file=*/false);
        if (!c) {
          ctx.exit_code = Fail(c.error());
          return;
        }
        std::cout << RenderConfig(*c);
      });
  config->add_subcommand("keys", "List every key neuronaut.toml accepts")->callback([] {
    for (const auto& k : ConfigKeys()) std::cout << k << "\n";
  });
}

}  // namespace naut::cli

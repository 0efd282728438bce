// neuronaut run: the agent loop. The loop itself is not built yet; until it is, the command
// says so plainly instead of pretending to work.

#include <iostream>

#include "cli/context.h"

namespace naut::cli {

void AddRunCommand(CLI::App& app, Context& ctx) {
  auto* run = app.add_subcommand("run", "Run the learning agent loop (not built yet: see README)");
  run->allow_extras();
  run->callback([&ctx] {
    auto c = ctx.LoadConfig();
    if (!c) {
      ctx.exit_code = Fail(c.error());
      return;
    }
    std::cerr << "neuronaut run: the agent loop is not built yet in this version.\n"
                 "What works today: `neuronaut doctor` (checks this machine) and `neuronaut config "
                 "show`.\n";
    ctx.exit_code = kExitFailure;
  });
}

}  // namespace naut::cli

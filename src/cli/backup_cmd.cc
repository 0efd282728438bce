// neuronaut backup DIR | restore DIR: the data home copied out, and back into an empty home.

#include <iostream>

#include "cli/context.h"
#include "core/data_home.h"
#include "store/home_backup.h"

namespace naut::cli {
namespace {

void Report(const char* verb, const store::HomeCopyReport& r, const std::string& where) {
  std::cout << verb << " " << r.files << " file(s), " << r.bytes << " bytes " << where << "\n";
  if (!r.schema.empty()) {
    std::cout << "database schema:";
    for (const auto& [component, version] : r.schema)
      std::cout << " " << component << " v" << version;
    std::cout << "\n";
  }
  for (const auto& s : r.skipped) std::cout << "left out: " << s << "\n";
}

int Backup(Context& ctx, const std::string& dir) {
  auto config = ctx.LoadConfig(/*with_log_file=*/false);
  if (!config) return Fail(config.error());
  auto home = OpenDataHome(config->home);
  if (!home) return Fail(home.error());
  auto r = store::BackupHome(*home, dir);
  if (!r) return Fail(r.error());
  Report("copied", *r, "from " + home->root.string() + " to " + dir);
  return kExitOk;
}

int Restore(Context& ctx, const std::string& dir) {
  auto config = ctx.LoadConfig(/*with_log_file=*/false);
  if (!config) return Fail(config.error());
  auto r = store::RestoreHome(dir, DataHome{config->home});
  if (!r) return Fail(r.error());
  Report("restored", *r, "from " + dir + " into " + config->home.string());
  std::cout << "`neuronaut run` on this home resumes where the backed-up one stood\n";
  return kExitOk;
}

}  // namespace

void AddBackupCommands(CLI::App& app, Context& ctx) {
  static std::string backup_dir, restore_dir;
  auto* backup = app.add_subcommand(
      "backup", "Copy the data home (database online, skills, progress, runs) to a new directory");
  backup->add_option("DIR", backup_dir, "Directory to create (must not exist)")->required();
  backup->callback([&ctx] { ctx.exit_code = Backup(ctx, backup_dir); });
  auto* restore = app.add_subcommand(
      "restore", "Restore a backup into an empty data home (--home or $NEURONAUT_HOME)");
  restore->add_option("DIR", restore_dir, "A directory written by `neuronaut backup`")->required();
  restore->callback([&ctx] { ctx.exit_code = Restore(ctx, restore_dir); });
}

}  // namespace naut::cli

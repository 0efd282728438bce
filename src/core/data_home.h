#pragma once
// The data home ($NEURONAUT_HOME, default ~/.neuronaut): one private directory that holds
// everything NeuroNaut keeps (database, skills, runs, progress file, logs).

#include <filesystem>

#include "core/status.h"

namespace naut {

struct DataHome {
  std::filesystem::path root;
  std::filesystem::path database() const { return root / "neuronaut.db"; }
  std::filesystem::path skills_dir() const { return root / "skills"; }
  std::filesystem::path runs_dir() const { return root / "runs"; }
  std::filesystem::path logs_dir() const { return root / "logs"; }
  std::filesystem::path progress_file() const { return root / "PROGRESS.md"; }
};

// Creates the data home and its folders (mode 0700) if missing and checks that it is
// writable. Errors name the directory and the reason.
Result<DataHome> OpenDataHome(const std::filesystem::path& root);

}  // namespace naut

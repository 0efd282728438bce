#include "core/data_home.h"

#include "core/files.h"

namespace naut {

Result<DataHome> OpenDataHome(const std::filesystem::path& root) {
  DataHome home{root};
  Status s = MakePrivateDirs(root);
  if (!s.ok()) return s.WithContext("data home");
  s = CheckWritableDir(root);
  if (!s.ok()) return s.WithContext("data home");
  for (const auto& dir : {home.skills_dir(), home.runs_dir(), home.logs_dir()}) {
    s = MakePrivateDirs(dir);
    if (!s.ok()) return s.WithContext("data home");
  }
  return home;
}

}  // namespace naut

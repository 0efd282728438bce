#pragma once
// A data home copied out and back: `neuronaut backup DIR` / `neuronaut restore DIR`.
//
// The database is copied with SQLite's online backup, so a running agent may keep writing
// while it is taken; every other file of the home (skills, progress, the saved game, run
// traces, workspaces, configuration) is copied as it is. Left out: the database's WAL and
// lock files, the agent lock, logs/ and index/ (the memory index, rebuilt from the database
// by the next command that needs it). The home is walked through directory descriptors
// without following a symlink (a workspace that sandboxed code writes may hold links to
// anywhere): links are copied as links, sockets and FIFOs are skipped and reported.
//
// A backup is written into "<DIR>.partial-<id>" and renamed to DIR only when complete, so DIR
// is never half-written; it carries `backup.json` (format, when, from where, the database's
// schema versions). A restore goes into an empty (or missing) home only, checks the copied
// database's integrity and schema before anything else, and holds the home's agent lock while
// it writes.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/data_home.h"
#include "core/status.h"

namespace naut::store {

struct HomeCopyReport {
  int64_t files = 0;
  int64_t bytes = 0;
  std::map<std::string, int> schema;  // component -> version of the copied database
  std::vector<std::string> skipped;   // relative paths left out, with why
};

Result<HomeCopyReport> BackupHome(const DataHome& home, const std::filesystem::path& dest);
Result<HomeCopyReport> RestoreHome(const std::filesystem::path& backup, const DataHome& home);

}  // namespace naut::store

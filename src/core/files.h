#pragma once
// Small file-system helpers with errors that name the path.

#include <filesystem>
#include <string>
#include <string_view>

#include "core/status.h"

namespace naut {

Result<std::string> ReadFile(const std::filesystem::path& path);

// Writes to a temporary file beside `path`, fsyncs it and renames it over `path`, so a crash
// leaves either the old or the new content, never a torn file.
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view content,
                       std::filesystem::perms perms = std::filesystem::perms::owner_read |
                                                      std::filesystem::perms::owner_write);

// Creates `dir` (and parents) if missing, with mode 0700 for the ones it creates.
Status MakePrivateDirs(const std::filesystem::path& dir);

// Checks that a file can be created in `dir`.
Status CheckWritableDir(const std::filesystem::path& dir);

}  // namespace naut

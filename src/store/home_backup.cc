#include "store/home_backup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <set>

#include "core/beneath.h"
#include "core/home_lock.h"
#include "core/ids.h"
#include "core/json.h"
#include "store/db.h"

namespace naut::store {
namespace {

namespace fs = std::filesystem;

constexpr int kFormat = 1;
constexpr const char* kManifest = "backup.json";
constexpr int kMaxDepth = 128;

// Names at the top of a home that are not copied as files.
const std::set<std::string>& LeftOut() {
  static const std::set<std::string> names = {"neuronaut.db",
                                              "neuronaut.db-wal",
                                              "neuronaut.db-shm",
                                              "neuronaut.db-journal",
                                              "agent.lock",
                                              "logs",
                                              "index",
                                              kManifest};
  return names;
}

Status Errno(const std::string& what, const fs::path& path) {
  return Unavailable(what + " " + path.string() + ": " + std::strerror(errno));
}

// Copies the contents of directory `src` into directory `dst`, both held as descriptors;
// `shown` names `src` in messages and reports.
Status CopyTree(int src, int dst, const fs::path& shown, bool top, int depth,
                HomeCopyReport* report) {
  if (depth > kMaxDepth) {
    report->skipped.push_back(shown.string() + " (nested deeper than " + std::to_string(kMaxDepth) +
                              " levels)");
    return Status::Ok();
  }
  NAUT_ASSIGN_OR_RETURN(auto entries, ListDirAt(src));
  for (const auto& e : entries) {
    if (top && LeftOut().count(e.name)) continue;
    const fs::path path = shown / e.name;
    if (S_ISDIR(e.st.st_mode)) {
      auto sub = OpenDirAt(src, e.name);
      if (!sub) {
        report->skipped.push_back(path.string() + " (" + sub.error().message() + ")");
        continue;
      }
      if (mkdirat(dst, e.name.c_str(), 0700) != 0 && errno != EEXIST) {
        return Errno("cannot create", path);
      }
      UniqueFd out(openat(dst, e.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!out.valid()) return Errno("cannot open", path);
      NAUT_RETURN_IF_ERROR(CopyTree(sub->get(), out.get(), path, false, depth + 1, report));
      (void)fchmod(out.get(), e.st.st_mode & 07777);
    } else if (S_ISLNK(e.st.st_mode)) {
      std::string target(PATH_MAX, '\0');
      ssize_t n = readlinkat(src, e.name.c_str(), target.data(), target.size());
      if (n < 0) {
        report->skipped.push_back(path.string() + " (" + std::strerror(errno) + ")");
        continue;
      }
      target.resize(static_cast<size_t>(n));
      if (symlinkat(target.c_str(), dst, e.name.c_str()) != 0) return Errno("cannot link", path);
      report->files++;
    } else if (S_ISREG(e.st.st_mode)) {
      UniqueFd in(openat(src, e.name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
      struct stat st {};
      if (!in.valid() || fstat(in.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        report->skipped.push_back(path.string() + " (changed while copied)");
        continue;
      }
      UniqueFd out(openat(dst, e.name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                          st.st_mode & 0777));
      if (!out.valid()) return Errno("cannot create", path);
      char buf[1 << 16];
      ssize_t n;
      while ((n = read(in.get(), buf, sizeof buf)) > 0) {
        for (ssize_t done = 0; done < n;) {
          ssize_t w = write(out.get(), buf + done, static_cast<size_t>(n - done));
          if (w < 0) return Errno("cannot write", path);
          done += w;
        }
        report->bytes += n;
      }
      if (n < 0) return Errno("cannot read", path);
      if (fsync(out.get()) != 0) return Errno("cannot sync", path);
      report->files++;
    } else {
      report->skipped.push_back(path.string() + " (not a file, directory or link)");
    }
  }
  return Status::Ok();
}

Result<UniqueFd> OpenDir(const fs::path& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return Errno("cannot open", path);
  return fd;
}

Result<std::map<std::string, int>> SchemaOf(Db& db) {
  std::map<std::string, int> out;
  NAUT_ASSIGN_OR_RETURN(
      Statement exists,
      db.Prepare(
          "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"));
  NAUT_ASSIGN_OR_RETURN(bool has, exists.Step());
  if (!has) return out;
  NAUT_ASSIGN_OR_RETURN(
      Statement q,
      db.Prepare("SELECT component, MAX(version) FROM schema_migrations GROUP BY component"));
  while (true) {
    NAUT_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out[q.ColumnText(0)] = static_cast<int>(q.ColumnInt(1));
  }
  return out;
}

std::string UtcNow() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// True when `dir` is missing or holds nothing of an agent's: only empty folders, logs and the
// agent lock (what any command leaves in a new home). `*first` names what was found.
Result<bool> EmptyHome(const fs::path& dir, std::string* first) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return true;
  if (!fs::is_directory(dir, ec)) {
    *first = dir.string() + " is not a directory";
    return false;
  }
  fs::recursive_directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const fs::path rel = it->path().lexically_relative(dir);
    if (rel == "agent.lock" || *rel.begin() == "logs") continue;
    if (it->is_directory(ec) && !it->is_symlink(ec)) continue;
    *first = rel.string();
    return false;
  }
  if (ec) return Unavailable("cannot list " + dir.string() + ": " + ec.message());
  return true;
}

}  // namespace

Result<HomeCopyReport> BackupHome(const DataHome& home, const fs::path& dest_in) {
  const fs::path dest = fs::absolute(dest_in).lexically_normal();
  std::error_code ec;
  if (fs::exists(dest, ec)) {
    return AlreadyExists("backup " + dest.string() +
                         ": already exists; name a new directory, a backup never overwrites");
  }
  if (dest.string().rfind(home.root.string() + "/", 0) == 0) {
    return InvalidArgument("backup " + dest.string() + ": inside the data home it copies");
  }
  const fs::path partial = dest.string() + ".partial-" + NewId();
  if (mkdir(partial.c_str(), 0700) != 0) return Errno("cannot create", partial);
  struct Cleanup {
    fs::path path;
    bool keep = false;
    ~Cleanup() {
      std::error_code ec;
      if (!keep) fs::remove_all(path, ec);
    }
  } cleanup{partial};

  HomeCopyReport report;
  if (fs::exists(home.database(), ec)) {
    NAUT_ASSIGN_OR_RETURN(auto db, Db::Open(home.database(), {.read_only = true}));
    NAUT_RETURN_IF_ERROR(db->Backup(partial / "neuronaut.db"));
    NAUT_ASSIGN_OR_RETURN(report.schema, SchemaOf(*db));
    report.files++;
    report.bytes += static_cast<int64_t>(fs::file_size(partial / "neuronaut.db", ec));
  }
  NAUT_ASSIGN_OR_RETURN(UniqueFd src, OpenDir(home.root));
  NAUT_ASSIGN_OR_RETURN(UniqueFd dst, OpenDir(partial));
  NAUT_RETURN_IF_ERROR(CopyTree(src.get(), dst.get(), "", /*top=*/true, 0, &report));

  Json manifest{{"format", kFormat},        {"created", UtcNow()},   {"home", home.root.string()},
                {"files", report.files},    {"bytes", report.bytes}, {"schema", report.schema},
                {"skipped", report.skipped}};
  NAUT_RETURN_IF_ERROR(
      WriteFileAt(dst.get(), kManifest, DumpJson(manifest, 2) + "\n", 0600, kManifest));
  if (fsync(dst.get()) != 0) return Errno("cannot sync", partial);
  if (rename(partial.c_str(), dest.c_str()) != 0) return Errno("cannot rename to", dest);
  cleanup.keep = true;
  return report;
}

Result<HomeCopyReport> RestoreHome(const fs::path& backup_in, const DataHome& home) {
  const fs::path backup = fs::absolute(backup_in).lexically_normal();
  auto read_manifest = [&]() -> Result<std::string> {
    std::error_code ec;
    if (!fs::is_regular_file(backup / kManifest, ec)) {
      return NotFound("restore " + backup.string() + ": not a NeuroNaut backup (no " +
                      std::string(kManifest) + ")");
    }
    UniqueFd fd(open((backup / kManifest).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return Errno("cannot read", backup / kManifest);
    std::string text(1 << 20, '\0');
    ssize_t n = read(fd.get(), text.data(), text.size());
    if (n < 0) return Errno("cannot read", backup / kManifest);
    text.resize(static_cast<size_t>(n));
    return text;
  };
  NAUT_ASSIGN_OR_RETURN(std::string manifest_text, read_manifest());
  NAUT_ASSIGN_OR_RETURN(Json manifest, ParseJson(manifest_text, (backup / kManifest).string()));
  NAUT_ASSIGN_OR_RETURN(int64_t format, GetInt(manifest, "format", kManifest));
  if (format != kFormat) {
    return FailedPrecondition("restore " + backup.string() + ": backup format " +
                              std::to_string(format) + " is not one this NeuroNaut reads (" +
                              std::to_string(kFormat) + ")");
  }

  // The database first: a damaged or too new one stops the restore before anything is written.
  HomeCopyReport report;
  std::error_code ec;
  const fs::path db_file = backup / "neuronaut.db";
  std::unique_ptr<Db> db;
  if (fs::exists(db_file, ec)) {
    auto opened = Db::Open(db_file, {.read_only = true});
    if (!opened) {
      return DataLoss("restore " + backup.string() + ": its database is damaged (" +
                      opened.error().message() + "); nothing was restored");
    }
    db = std::move(*opened);
    NAUT_ASSIGN_OR_RETURN(report.schema, SchemaOf(*db));
  }

  std::string first;
  NAUT_ASSIGN_OR_RETURN(bool empty, EmptyHome(home.root, &first));
  if (!empty) {
    return FailedPrecondition("restore into " + home.root.string() +
                              ": the data home is not empty (" + first +
                              " ...); restore into a new home (--home DIR) so nothing is lost");
  }
  NAUT_ASSIGN_OR_RETURN(DataHome target, OpenDataHome(home.root));
  NAUT_ASSIGN_OR_RETURN(HomeLock lock, HomeLock::Acquire(target, "restore", "neuronaut restore"));
  // The home was empty and is ours now; on failure it is emptied again.
  struct Cleanup {
    fs::path root;
    bool keep = false;
    ~Cleanup() {
      if (keep) return;
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(root, ec)) {
        auto name = e.path().filename();
        if (name != "agent.lock" && name != "logs") fs::remove_all(e.path(), ec);
      }
    }
  } cleanup{target.root};
  if (db) {
    NAUT_RETURN_IF_ERROR(db->Backup(target.database()));
    report.files++;
    report.bytes += static_cast<int64_t>(fs::file_size(target.database(), ec));
  }
  NAUT_ASSIGN_OR_RETURN(UniqueFd src, OpenDir(backup));
  NAUT_ASSIGN_OR_RETURN(UniqueFd dst, OpenDir(target.root));
  NAUT_RETURN_IF_ERROR(CopyTree(src.get(), dst.get(), "", /*top=*/true, 0, &report));
  cleanup.keep = true;
  return report;
}

}  // namespace naut::store

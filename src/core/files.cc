#include "core/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/ids.h"

namespace naut {

namespace fs = std::filesystem;

namespace {
std::string Errno() { return std::strerror(errno); }
}  // namespace

Result<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!fs::exists(path)) return NotFound(path.string() + ": no such file");
    return PermissionDenied(path.string() + ": cannot open for reading: " + Errno());
  }
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return Unavailable(path.string() + ": read failed");
  return out.str();
}

Status WriteFileAtomic(const fs::path& path, std::string_view content, fs::perms perms) {
  fs::path tmp = path;
  tmp += ".tmp-" + NewId();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, static_cast<mode_t>(perms));
  if (fd < 0) return PermissionDenied(path.string() + ": cannot create: " + Errno());
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string err = Errno();
      ::close(fd);
      ::unlink(tmp.c_str());
      return Unavailable(path.string() + ": write failed: " + err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return Unavailable(path.string() + ": fsync failed: " + Errno());
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string err = Errno();
    ::unlink(tmp.c_str());
    return Unavailable(path.string() + ": rename failed: " + err);
  }
  return Status::Ok();
}

Status MakePrivateDirs(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return Status::Ok();
  if (fs::exists(dir, ec))
    return FailedPrecondition(dir.string() + " exists and is not a directory");
  if (dir.has_parent_path() && dir.parent_path() != dir) {
    fs::path parent = dir.parent_path();
    if (!fs::exists(parent, ec)) NAUT_RETURN_IF_ERROR(MakePrivateDirs(parent));
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return PermissionDenied("cannot create directory " + dir.string() + ": " + Errno());
  }
  return Status::Ok();
}

Status CheckWritableDir(const fs::path& dir) {
  fs::path probe = dir / (".write-probe-" + NewId());
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return PermissionDenied(dir.string() + " is not writable: " + Errno());
  ::close(fd);
  ::unlink(probe.c_str());
  return Status::Ok();
}

}  // namespace naut

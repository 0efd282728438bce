#include "core/beneath.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <random>

namespace naut {

namespace {

constexpr int kMaxLinks = 40;  // as the kernel's MAXSYMLINKS
constexpr int kMaxTreeDepth = 256;

std::string Join(const std::vector<std::string>& parts) {
  if (parts.empty()) return "/";
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out;
}

std::vector<std::string> Split(std::string_view path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) out.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  // A trailing slash asks for a directory, as "/." does.
  if (!out.empty() && path.back() == '/') out.emplace_back(".");
  return out;
}

// The walk is at its last component when nothing but empty ones follow; a following "."
// still makes the component a directory to enter ("file/." is ENOTDIR, as for the kernel).
bool OnlyNoOps(const std::deque<std::string>& pending) {
  return std::all_of(pending.begin(), pending.end(),
                     [](const std::string& c) { return c.empty(); });
}

bool IsAncestorOf(const std::string& dir, const std::string& root) {
  if (dir == "/") return true;
  return root.size() > dir.size() && root.compare(0, dir.size(), dir) == 0 &&
         root[dir.size()] == '/';
}

UniqueFd Dup(int fd) { return UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0)); }

std::string Errno(int error) { return std::strerror(error); }

}  // namespace

Result<RootDir> OpenRootDir(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return NotFound("cannot open directory '" + path + "': " + Errno(errno));
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return RootDir{std::move(p), std::move(fd)};
}

Result<Location> Locate(std::span<const RootDir> roots, std::string_view absolute, FinalLink final,
                        LocateError* why) {
  std::deque<std::string> pending;
  for (auto& c : Split(absolute)) pending.push_back(std::move(c));
  // The walk so far: the real path as components, the root it is beneath (if any) and one
  // descriptor per directory below that root.
  std::vector<std::string> real;
  const RootDir* anchor = nullptr;
  size_t anchor_depth = 0;
  std::vector<UniqueFd> dirs;
  int links = 0;

  auto fail = [&](LocateError::Kind kind, int error, std::string where) -> Status {
    std::string message;
    switch (kind) {
      case LocateError::Kind::kOutside:
        message = where + " is outside the allowed directories";
        break;
      case LocateError::Kind::kMissingParent:
        message = "directory " + where + " does not exist";
        break;
      case LocateError::Kind::kSystem:
        message = where + ": " + Errno(error);
        break;
    }
    if (why != nullptr) *why = LocateError{kind, error, std::move(where)};
    return kind == LocateError::Kind::kOutside ? PermissionDenied(message) : NotFound(message);
  };
  auto current = [&]() { return dirs.empty() ? anchor->fd.get() : dirs.back().get(); };
  auto anchor_at = [&](const std::string& path) {
    for (const auto& root : roots) {
      if (root.path == path) {
        anchor = &root;
        anchor_depth = real.size();
        return true;
      }
    }
    return false;
  };
  anchor_at("/");

  while (!pending.empty()) {
    std::string comp = std::move(pending.front());
    pending.pop_front();
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") {
      if (anchor != nullptr && real.size() > anchor_depth) {
        dirs.pop_back();
      } else {
        anchor = nullptr;  // above the root: only a path back into some root is valid
      }
      if (!real.empty()) real.pop_back();
      if (anchor == nullptr) anchor_at(Join(real));
      continue;
    }
    if (anchor == nullptr) {
      real.push_back(comp);
      const std::string here = Join(real);
      if (anchor_at(here)) continue;
      bool leads_to_root = std::any_of(
          roots.begin(), roots.end(), [&](const RootDir& r) { return IsAncestorOf(here, r.path); });
      if (!leads_to_root) {
        std::vector<std::string> rest = real;
        rest.insert(rest.end(), pending.begin(), pending.end());
        return fail(LocateError::Kind::kOutside, 0, Join(Split(Join(rest))));
      }
      continue;
    }
    const bool last = OnlyNoOps(pending);
    UniqueFd fd(::openat(current(), comp.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) {
      int error = errno;
      std::vector<std::string> here = real;
      here.push_back(comp);
      if (error == ENOENT && last) {
        UniqueFd dir = dirs.empty() ? Dup(anchor->fd.get()) : std::move(dirs.back());
        if (!dir.valid()) return fail(LocateError::Kind::kSystem, errno, Join(real));
        return Location{std::move(dir), comp, Join(here), false};
      }
      if (error == ENOENT) return fail(LocateError::Kind::kMissingParent, ENOENT, Join(here));
      return fail(LocateError::Kind::kSystem, error, Join(here));
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0)
      return fail(LocateError::Kind::kSystem, errno, Join(real) + "/" + comp);
    if (S_ISLNK(st.st_mode) && !(last && final == FinalLink::kKeep)) {
      if (++links > kMaxLinks)
        return fail(LocateError::Kind::kSystem, ELOOP, Join(real) + "/" + comp);
      char target[PATH_MAX];
      ssize_t n = ::readlinkat(fd.get(), "", target, sizeof target);
      if (n < 0) return fail(LocateError::Kind::kSystem, errno, Join(real) + "/" + comp);
      if (n == 0) return fail(LocateError::Kind::kSystem, ENOENT, Join(real) + "/" + comp);
      if (static_cast<size_t>(n) >= sizeof target) {
        return fail(LocateError::Kind::kSystem, ENAMETOOLONG, Join(real) + "/" + comp);
      }
      std::string_view link(target, static_cast<size_t>(n));
      auto parts = Split(link);
      pending.insert(pending.begin(), parts.begin(), parts.end());
      if (link.front() == '/') {
        real.clear();
        dirs.clear();
        anchor = nullptr;
        anchor_at("/");
      }
      continue;
    }
    real.push_back(comp);
    if (last) {
      UniqueFd dir = dirs.empty() ? Dup(anchor->fd.get()) : std::move(dirs.back());
      if (!dir.valid()) return fail(LocateError::Kind::kSystem, errno, Join(real));
      return Location{std::move(dir), comp, Join(real), true};
    }
    if (!S_ISDIR(st.st_mode)) return fail(LocateError::Kind::kSystem, ENOTDIR, Join(real));
    dirs.push_back(std::move(fd));
  }
  // The path ended on a directory reached by "." or ".." (or on a root itself).
  if (anchor == nullptr) return fail(LocateError::Kind::kOutside, 0, Join(real));
  UniqueFd dir = Dup(current());
  if (!dir.valid()) return fail(LocateError::Kind::kSystem, errno, Join(real));
  return Location{std::move(dir), ".", Join(real), true};
}

Result<std::vector<DirEntryAt>> ListDirAt(int dir_fd) {
  // fdopendir takes ownership, so it gets its own descriptor (and its own offset).
  int own = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (own < 0) return Internal("scandir: " + Errno(errno));
  DIR* d = ::fdopendir(own);
  if (d == nullptr) {
    int error = errno;
    ::close(own);
    return Internal("scandir: " + Errno(error));
  }
  std::vector<DirEntryAt> out;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    DirEntryAt entry{name, {}};
    if (::fstatat(::dirfd(d), name.c_str(), &entry.st, AT_SYMLINK_NOFOLLOW) != 0)
      continue;  // vanished
    out.push_back(std::move(entry));
    errno = 0;
  }
  int error = errno;
  ::closedir(d);
  if (error != 0) return Internal("scandir: " + Errno(error));
  std::sort(out.begin(), out.end(),
            [](const DirEntryAt& a, const DirEntryAt& b) { return a.name < b.name; });
  return out;
}

Result<UniqueFd> OpenDirAt(int dir, const std::string& name) {
  UniqueFd fd(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return NotFound("open directory '" + name + "': " + Errno(errno));
  return fd;
}

Result<UniqueFd> MakeDirsAt(int dir, std::string_view relative) {
  UniqueFd current = Dup(dir);
  if (!current.valid()) return Internal("dup: " + Errno(errno));
  for (const auto& comp : Split(relative)) {
    if (comp == "." || comp == "..")
      return InvalidArgument("'" + std::string(relative) + "' must not contain . or ..");
    if (::mkdirat(current.get(), comp.c_str(), 0700) != 0 && errno != EEXIST) {
      return Internal("mkdir '" + comp + "' in '" + std::string(relative) + "': " + Errno(errno));
    }
    UniqueFd next(
        ::openat(current.get(), comp.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.valid()) {
      return Internal(
          "open '" + comp + "' in '" + std::string(relative) + "': " + Errno(errno) +
          (errno == ELOOP || errno == ENOTDIR ? " (not a directory: refusing to follow it)" : ""));
    }
    current = std::move(next);
  }
  return current;
}

Status WriteFileAt(int dir, const std::string& name, std::string_view content, mode_t mode,
                   const std::string& shown) {
  auto write_all = [&](int fd, const std::string& what) -> Status {
    size_t off = 0;
    while (off < content.size()) {
      ssize_t n = ::write(fd, content.data() + off, content.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Internal("write '" + what + "': " + Errno(errno));
      off += static_cast<size_t>(n);
    }
    return Status::Ok();
  };
  UniqueFd fd(
      ::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (fd.valid()) return write_all(fd.get(), shown);
  if (errno != EEXIST) return Internal("open '" + shown + "': " + Errno(errno));
  std::random_device rd;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%08x%08x", rd(), rd());
  const std::string temp = name + "." + hex + ".tmp";
  fd.Reset(::openat(dir, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!fd.valid()) return Internal("open '" + shown + "." + hex + ".tmp': " + Errno(errno));
  Status written = write_all(fd.get(), shown);
  fd.Reset();
  if (written.ok() && ::renameat(dir, temp.c_str(), dir, name.c_str()) != 0) {
    written =
        Internal("rename '" + shown + "." + hex + ".tmp' -> '" + shown + "': " + Errno(errno));
  }
  if (!written.ok()) ::unlinkat(dir, temp.c_str(), 0);
  return written;
}

namespace {

Status RemoveTreeIn(int dir, const std::string& name, int depth) {
  if (::unlinkat(dir, name.c_str(), 0) == 0 || errno == ENOENT) return Status::Ok();
  if (errno != EISDIR && errno != EPERM) return Internal("unlink '" + name + "': " + Errno(errno));
  if (depth >= kMaxTreeDepth)
    return ResourceExhausted("tree deeper than " + std::to_string(kMaxTreeDepth) + " levels");
  UniqueFd sub(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!sub.valid()) {
    if (errno == ENOENT) return Status::Ok();
    return Internal("open '" + name + "': " + Errno(errno));
  }
  auto entries = ListDirAt(sub.get());
  if (!entries) return entries.error();
  Status first = Status::Ok();
  for (const auto& e : *entries) {
    Status s = RemoveTreeIn(sub.get(), e.name, depth + 1);
    if (!s.ok() && first.ok()) first = s.WithContext(name);
  }
  if (::unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT && first.ok()) {
    first = Internal("rmdir '" + name + "': " + Errno(errno));
  }
  return first;
}

Status WalkIn(int dir_fd,
              const std::function<Status(int, const std::string&, const struct stat&)>& visit,
              int depth) {
  if (depth >= kMaxTreeDepth) return Status::Ok();
  NAUT_ASSIGN_OR_RETURN(auto entries, ListDirAt(dir_fd));
  for (const auto& e : entries) {
    NAUT_RETURN_IF_ERROR(visit(dir_fd, e.name, e.st));
    if (!S_ISDIR(e.st.st_mode)) continue;
    UniqueFd sub(::openat(dir_fd, e.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub.valid()) continue;  // replaced or removed meanwhile: nothing of it to visit
    NAUT_RETURN_IF_ERROR(WalkIn(sub.get(), visit, depth + 1));
  }
  return Status::Ok();
}

}  // namespace

Status RemoveTreeAt(int dir, const std::string& name) { return RemoveTreeIn(dir, name, 0); }

Status WalkTreeAt(int dir_fd, const std::function<Status(int parent, const std::string& name,
                                                         const struct stat& st)>& visit) {
  return WalkIn(dir_fd, visit, 0);
}

}  // namespace naut

#pragma once
// Paths resolved and used beneath open directories.
//
// A directory that code NeuroNaut does not control can change while NeuroNaut works in it (a
// workspace the sandbox writes, a tree an MCP client points the fs tools at) must never be
// walked twice by name: a check of `realpath()` followed by an open of the same name can be
// raced by swapping any directory on the way for a symlink. Everything here works from
// directory descriptors instead:
//
// - A root is opened once (`OpenRootDir`) and kept as an O_PATH descriptor.
// - `Locate` walks a path one component at a time with `openat(O_PATH | O_NOFOLLOW)` from a
//   root's descriptor. "." and ".." are handled by the walk itself (".." returns to the
//   descriptor it came from, so it can never climb out of a directory by renaming), and a
//   symlink is read and its target walked the same way, from the root its absolute form lies
//   in. A path whose object is not beneath one of the roots is refused, whatever the link
//   chain; links inside the roots that point inside the roots keep working, including
//   absolute links and links from one root into another.
// - The answer is a descriptor of the final object's directory and a single name in it: the
//   caller opens, creates (`O_EXCL`), renames (`renameat2`) or lists through that descriptor
//   with `O_NOFOLLOW`, so a name swapped after the walk is refused rather than followed.
//
// The walk is done in user space rather than by `openat2(RESOLVE_BENEATH)` because the latter
// refuses every absolute symlink and every link between roots, which the fs tools' clients
// (and the reference server's) rely on; one path of code also means one thing to test on every
// kernel. Each step is a single-name lookup in a held descriptor, which is what
// `RESOLVE_BENEATH` does in the kernel.
//
// Thread-safety: free functions; descriptors are owned by the values that hold them.

#include <sys/stat.h>
#include <sys/types.h>

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/unique_fd.h"

namespace naut {

// A directory paths are resolved beneath.
struct RootDir {
  std::string path;  // absolute and free of symlinks when opened; "/" for the file system root
  UniqueFd fd;       // O_PATH | O_DIRECTORY
};

// Opens `path` (absolute, a real path) as a root. Errors name the path.
Result<RootDir> OpenRootDir(const std::string& path);

// Whether a final component that is a symlink is followed (open, read) or kept (the link
// itself is the object, as for a rename of the link or an lstat).
enum class FinalLink { kFollow, kKeep };

// Where a path ends: a directory beneath a root and one name in it.
struct Location {
  UniqueFd dir;      // O_PATH descriptor of the directory holding the object
  std::string name;  // a single component, or "." when the object is that directory itself
  std::string real;  // absolute path of the object as walked (no symlinks), for messages
  bool exists = false;
};

// Why a path was refused.
struct LocateError {
  enum class Kind {
    kOutside,        // the object (after symlinks) is not beneath any root; `real` says where
    kMissingParent,  // a directory on the way does not exist
    kSystem,         // `error` is the errno of the step that failed (ENOTDIR, ELOOP, EACCES...)
  };
  Kind kind = Kind::kSystem;
  int error = 0;
  std::string real;  // the absolute path reached, for messages
};

// Resolves `absolute` (an absolute path; "." and ".." are allowed and resolved as the kernel
// would, against real directories) beneath `roots`. A missing final component is not an
// error: the location has `exists == false` and its directory exists. At most 40 symlinks
// are followed (ELOOP beyond). On failure `*why` (when given) says why; the Status message
// is a plain description.
Result<Location> Locate(std::span<const RootDir> roots, std::string_view absolute, FinalLink final,
                        LocateError* why = nullptr);

// One entry of a directory read through its descriptor. Types come from fstatat without
// following links: a symlink is a symlink, never what it points at.
struct DirEntryAt {
  std::string name;
  struct stat st;
};

// The entries of the directory `dir_fd` (opened O_RDONLY | O_DIRECTORY; it is not consumed),
// without "." and "..", sorted by name in byte order. Entries that vanish while listed are
// skipped.
Result<std::vector<DirEntryAt>> ListDirAt(int dir_fd);

// Opens `name` in `dir` as a directory for reading, never following a symlink.
Result<UniqueFd> OpenDirAt(int dir, const std::string& name);

// Creates each component of `relative` (no "..", no leading "/") under `dir` as needed (mode
// 0700), never following a symlink, and returns an O_PATH descriptor of the last one.
Result<UniqueFd> MakeDirsAt(int dir, std::string_view relative);

// Writes `content` to `name` in `dir`: created with O_EXCL when absent; when present (or
// `replace` is set) through a temporary file in the same directory renamed over the name, so a
// symlink at `name` is replaced, never written through. Errors name `shown` (the path a user
// knows the file by).
Status WriteFileAt(int dir, const std::string& name, std::string_view content, mode_t mode,
                   const std::string& shown);

// Removes `name` in `dir` and, when it is a directory, everything under it; symlinks are
// removed, never followed. Trees deeper than 256 levels are left in place with an error
// (each level holds one descriptor).
Status RemoveTreeAt(int dir, const std::string& name);

// Calls `visit(parent_fd, name, st)` for every object under the directory `dir_fd` (opened
// O_RDONLY | O_DIRECTORY), parents before children, without following symlinks; stops at the
// first error `visit` returns. Levels below 256 are not visited (each level holds one
// descriptor).
Status WalkTreeAt(
    int dir_fd,
    const std::function<Status(int parent, const std::string& name, const struct stat& st)>& visit);

}  // namespace naut

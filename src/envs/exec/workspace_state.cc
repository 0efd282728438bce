#include "envs/exec/workspace_state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <string_view>

#include "core/base64.h"
#include "core/beneath.h"
#include "core/unique_fd.h"

namespace naut::envs::exec {

namespace {

constexpr std::string_view kFormat = "neuronaut-workspace";
constexpr int kMaxDepth = 64;

struct Walk {
  const WorkspaceLimits& limits;
  Json dirs = Json::array();
  Json files = Json::array();
  size_t bytes = 0;
};

Result<std::string> ReadFileAt(int dir, const std::string& name, size_t max,
                               const std::string& shown) {
  UniqueFd fd(openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) return Internal("cannot read '" + shown + "': " + std::strerror(errno));
  std::string content;
  char buffer[65536];
  while (true) {
    const ssize_t n = read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Internal("cannot read '" + shown + "': " + std::strerror(errno));
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
    if (content.size() > max) return ResourceExhausted("");
  }
  return content;
}

Status SaveDir(int dir, const std::string& prefix, int depth, Walk& walk) {
  if (depth > kMaxDepth) return FailedPrecondition("'" + prefix + "' is nested too deep");
  NAUT_ASSIGN_OR_RETURN(auto entries, ListDirAt(dir));
  for (const auto& e : entries) {
    const std::string path = prefix.empty() ? e.name : prefix + "/" + e.name;
    if (S_ISDIR(e.st.st_mode)) {
      if (IsBuildOutput(e.name)) continue;
      walk.dirs.push_back(path);
      NAUT_ASSIGN_OR_RETURN(UniqueFd sub, OpenDirAt(dir, e.name));
      NAUT_RETURN_IF_ERROR(SaveDir(sub.get(), path, depth + 1, walk));
    } else if (S_ISREG(e.st.st_mode)) {
      if (walk.files.size() >= walk.limits.max_files) {
        return ResourceExhausted("the workspace holds more than " +
                                 std::to_string(walk.limits.max_files) +
                                 " files outside build directories, more than a saved state keeps");
      }
      const size_t room = walk.limits.max_bytes - walk.bytes;
      auto content = ReadFileAt(dir, e.name, room, path);
      if (!content && content.error().code() == Code::kResourceExhausted) {
        return ResourceExhausted(
            "the workspace's files outside build directories are larger than "
            "a saved state keeps (" +
            std::to_string(walk.limits.max_bytes) + " bytes), at '" + path + "'");
      }
      if (!content) return content.error();
      walk.bytes += content->size();
      walk.files.push_back({{"path", path},
                            {"mode", (e.st.st_mode & S_IXUSR) != 0 ? 0755 : 0644},
                            {"base64", Base64Encode(*content)}});
    }
    // Symlinks, sockets, FIFOs: not part of a package's state.
  }
  return Status::Ok();
}

// A relative path of plain names: no "", ".", ".." component, no leading "/", no NUL.
bool PlainRelative(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.find('\0') != std::string::npos ||
      path.size() > 4096)
    return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    const std::string_view part(path.data() + start, slash - start);
    if (part.empty() || part == "." || part == ".." || part.size() > 255) return false;
    start = slash + 1;
  }
  return true;
}

struct FileToWrite {
  std::string path, content;
  mode_t mode;
};

}  // namespace

bool IsBuildOutput(const std::string& name) {
  static const std::set<std::string> kNames = {"build",       "_build",        "CMakeFiles",
                                               "__pycache__", ".pytest_cache", ".naut-exec"};
  return kNames.contains(name) || name.ends_with(".egg-info");
}

Result<Json> SaveWorkspace(int root, const WorkspaceLimits& limits) {
  NAUT_ASSIGN_OR_RETURN(UniqueFd dir, OpenDirAt(root, "."));
  Walk walk{.limits = limits};
  NAUT_RETURN_IF_ERROR(SaveDir(dir.get(), "", 0, walk));
  return Json{{"format", kFormat},
              {"version", 1},
              {"dirs", std::move(walk.dirs)},
              {"files", std::move(walk.files)}};
}

Status LoadWorkspace(int root, const Json& state, const WorkspaceLimits& limits) {
  if (!state.is_object() || state.value("format", "") != kFormat || !state.contains("version") ||
      state["version"] != 1 || !state.contains("files") || !state["files"].is_array() ||
      !state.contains("dirs") || !state["dirs"].is_array()) {
    return InvalidArgument(
        "not a saved workspace: expected {\"format\": \"neuronaut-workspace\", \"version\": 1, "
        "\"dirs\": [...], \"files\": [...]}, as save_state answers");
  }
  std::vector<std::string> dirs;
  for (const Json& d : state["dirs"]) {
    if (!d.is_string() || !PlainRelative(d.get<std::string>()))
      return InvalidArgument("saved workspace: a directory is not a plain relative path: " +
                             DumpJson(d).substr(0, 200));
    dirs.push_back(d.get<std::string>());
  }
  if (state["files"].size() > limits.max_files)
    return InvalidArgument("saved workspace: more than " + std::to_string(limits.max_files) +
                           " files");
  std::vector<FileToWrite> files;
  size_t bytes = 0;
  for (const Json& f : state["files"]) {
    if (!f.is_object() || !f.contains("path") || !f["path"].is_string() ||
        !PlainRelative(f["path"].get<std::string>()) || !f.contains("base64") ||
        !f["base64"].is_string()) {
      return InvalidArgument(
          "saved workspace: a file needs a plain relative \"path\" and "
          "\"base64\": " +
          DumpJson(f).substr(0, 200));
    }
    auto content = Base64Decode(f["base64"].get<std::string>());
    if (!content)
      return InvalidArgument("saved workspace: '" + f["path"].get<std::string>() +
                             "' is not base64");
    bytes += content->size();
    if (bytes > limits.max_bytes)
      return InvalidArgument("saved workspace: more than " + std::to_string(limits.max_bytes) +
                             " bytes of files");
    const mode_t mode = f.value("mode", 0644) == 0755 ? 0755 : 0644;
    files.push_back({f["path"].get<std::string>(), std::move(*content), mode});
  }
  // The state is sound: empty the workspace, then write it.
  NAUT_ASSIGN_OR_RETURN(UniqueFd dir, OpenDirAt(root, "."));
  NAUT_ASSIGN_OR_RETURN(auto entries, ListDirAt(dir.get()));
  for (const auto& e : entries) NAUT_RETURN_IF_ERROR(RemoveTreeAt(dir.get(), e.name));
  for (const auto& d : dirs) NAUT_RETURN_IF_ERROR(MakeDirsAt(root, d).status());
  for (const auto& f : files) {
    const size_t slash = f.path.rfind('/');
    UniqueFd parent;
    if (slash != std::string::npos) {
      NAUT_ASSIGN_OR_RETURN(parent, MakeDirsAt(root, f.path.substr(0, slash)));
    }
    const std::string name = slash == std::string::npos ? f.path : f.path.substr(slash + 1);
    NAUT_RETURN_IF_ERROR(
        WriteFileAt(parent.valid() ? parent.get() : root, name, f.content, f.mode, f.path));
  }
  return Status::Ok();
}

}  // namespace naut::envs::exec

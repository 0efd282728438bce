#include "envs/fs/fs_server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <random>

#include "core/base64.h"
#include "envs/fs/glob.h"
#include "envs/fs/node_compat.h"
#include "envs/fs/unified_diff.h"

namespace naut::envs::fs {

namespace stdfs = std::filesystem;
using mcp::Tool;
using mcp::ToolContext;
using mcp::ToolResult;

namespace {

std::string Join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

Result<std::string> RealPath(const std::string& p) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf) == nullptr) return Status(Code::kNotFound, std::to_string(errno));
  return std::string(buf);
}

ToolResult TextResult(std::string text) {
  ToolResult r = ToolResult::Text(text);
  r.structured = Json{{"content", std::move(text)}};
  return r;
}

std::string InvalidArgs(const std::string& tool, const std::string& what) {
  return "MCP error -32602: Input validation error: Invalid arguments for tool " + tool + ": " +
         what;
}

// Required string argument, or the reference's validation error text.
Result<std::string> StringArg(const Json& args, const char* key, const std::string& tool) {
  if (auto value = GetOptionalString(args, key)) return *std::move(value);
  const bool given = args.is_object() && args.contains(key);
  return InvalidArgument(
      InvalidArgs(tool, std::string("'") + key + (given ? "' must be a string" : "' is required")));
}

// Array-of-strings argument (absent or null is empty unless `required`), or the reference's
// validation error text.
Result<std::vector<std::string>> StringsArg(const Json& args, const char* key,
                                            const std::string& tool, bool required) {
  auto strings = args.is_object() ? GetStringsIfPresent(args, key, tool)
                                  : Result<std::optional<std::vector<std::string>>>(std::nullopt);
  if (!strings)
    return InvalidArgument(
        InvalidArgs(tool, std::string("'") + key + "' must be an array of strings"));
  if (*strings) return **std::move(strings);
  if (required) return InvalidArgument(InvalidArgs(tool, std::string("'") + key + "' is required"));
  return std::vector<std::string>{};
}

// Reads what `fd` has left, in chunks.
Result<std::string> ReadAll(int fd, const std::string& path) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Internal(NodeError(errno, "read", path));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
  return s;
}

std::string NormalizeLineEndings(const std::string& s) { return ReplaceAll(s, "\r\n", "\n"); }

// Node's fs.writeFile then rename, as the reference does to never write through a symlink;
// both the temporary file and the rename stay inside the located directory.
Status WriteViaTemp(const Location& at, const std::string& content) {
  std::random_device rd;
  char hex[33];
  for (int i = 0; i < 16; ++i) std::snprintf(hex + 2 * i, 3, "%02x", rd() & 0xff);
  const std::string temp_name = at.name + "." + hex + ".tmp";
  const std::string temp = at.real + "." + hex + ".tmp";
  UniqueFd fd(::openat(at.dir.get(), temp_name.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666));
  if (!fd.valid()) return Internal(NodeError(errno, "open", temp));
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int error = errno;
      ::unlinkat(at.dir.get(), temp_name.c_str(), 0);
      return Internal(NodeError(error, "write", temp));
    }
    off += static_cast<size_t>(n);
  }
  fd.Reset();
  if (::renameat(at.dir.get(), temp_name.c_str(), at.dir.get(), at.name.c_str()) != 0) {
    int error = errno;
    ::unlinkat(at.dir.get(), temp_name.c_str(), 0);
    return Internal(NodeError(error, "rename", temp, at.real));
  }
  return Status::Ok();
}

std::vector<std::string> SplitLines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t nl = s.find('\n', start);
    if (nl == std::string::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
}

std::string LeadingSpace(const std::string& s) {
  size_t n = s.find_first_not_of(" \t\r\n\f\v");
  return n == std::string::npos ? s : s.substr(0, n);
}

std::string TrimStart(const std::string& s) { return s.substr(LeadingSpace(s).size()); }

// Entries of a located directory, in byte order of their names, as fs.readdir gives them;
// types are the entries' own (a symlink is not a directory, as Dirent.isDirectory()).
Result<std::vector<DirEntryAt>> ReadDir(const Location& at) {
  UniqueFd dir(
      ::openat(at.dir.get(), at.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid())
    return Internal(NodeError(errno == ELOOP ? ENOTDIR : errno, "scandir", at.real));
  auto entries = ListDirAt(dir.get());
  if (!entries) return Internal(NodeError(EIO, "scandir", at.real));
  return entries;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

Result<std::shared_ptr<FsServer>> FsServer::Create(const FsOptions& options) {
  std::shared_ptr<FsServer> server(new FsServer(options));
  std::vector<std::string> allowed;
  auto roots = std::make_shared<std::vector<RootDir>>();
  for (const auto& dir : options.allowed) {
    std::string expanded = ExpandHome(dir.string());
    std::string absolute = ResolvePath(expanded);
    auto real = RealPath(absolute);
    std::string normalized = NormalizePath(real.ok() ? *real : absolute);
    struct stat st;
    if (::stat(normalized.c_str(), &st) != 0) {
      return NotFound("fs: allowed directory '" + dir.string() + "': " + std::strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
      return InvalidArgument("fs: allowed directory '" + dir.string() + "' is not a directory");
    auto root = OpenRootDir(normalized.empty() ? "/" : normalized);
    if (!root)
      return NotFound("fs: allowed directory '" + dir.string() + "': " + root.error().message());
    allowed.push_back(normalized);
    roots->push_back(std::move(*root));
  }
  {
    MutexLock lock(server->mu_);
    server->allowed_ = std::move(allowed);
    server->roots_ = std::move(roots);
  }
  return server;
}

std::vector<std::string> FsServer::AllowedDirectories() const {
  MutexLock lock(mu_);
  return allowed_;
}

int FsServer::SetRootsFromMcp(const Json& roots) {
  std::vector<std::string> accepted;
  auto opened = std::make_shared<std::vector<RootDir>>();
  if (roots.is_array()) {
    for (const auto& root : roots) {
      if (!root.is_object() || !root.contains("uri") || !root["uri"].is_string()) continue;
      std::string uri = root["uri"].get<std::string>();
      std::string raw = uri.rfind("file://", 0) == 0 ? uri.substr(7) : uri;
      auto real = RealPath(ResolvePath(ExpandHome(raw)));
      if (!real) continue;
      auto dir = OpenRootDir(*real);
      if (!dir) continue;
      accepted.push_back(NormalizePath(*real));
      opened->push_back(std::move(*dir));
    }
  }
  if (accepted.empty()) return 0;
  MutexLock lock(mu_);
  allowed_ = accepted;
  roots_ = std::move(opened);
  return static_cast<int>(accepted.size());
}

Result<Location> FsServer::Locate(const std::string& requested, FinalLink final) const {
  std::vector<std::string> allowed;
  std::shared_ptr<const std::vector<RootDir>> roots;
  {
    MutexLock lock(mu_);
    allowed = allowed_;
    roots = roots_;
  }
  const std::string absolute = ResolvePath(ExpandHome(requested));
  const std::string list = Join(allowed, ", ");
  if (!WithinAllowed(NormalizePath(absolute), allowed)) {
    return PermissionDenied("Access denied - path outside allowed directories: " + absolute +
                            " not in " + list);
  }
  LocateError why;
  auto where = naut::Locate(*roots, absolute, final, &why);
  if (where) return where;
  switch (why.kind) {
    case LocateError::Kind::kOutside:
      return PermissionDenied("Access denied - symlink target outside allowed directories: " +
                              why.real + " not in " + list);
    case LocateError::Kind::kMissingParent:
      // The reference words a missing or escaping parent the same way.
      return NotFound("Parent directory does not exist: " +
                      stdfs::path(absolute).parent_path().string());
    case LocateError::Kind::kSystem:
      break;
  }
  return Internal(NodeError(why.error, "realpath", absolute));
}

Result<UniqueFd> FsServer::OpenForRead(const Location& at, bool capped) const {
  if (!at.exists) return Internal(NodeError(ENOENT, "open", at.real));
  // O_NONBLOCK: a FIFO planted in the tree must not hang the server; O_NOFOLLOW: a name that
  // became a symlink since it was located is refused, not followed.
  UniqueFd fd(
      ::openat(at.dir.get(), at.name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) return Internal(NodeError(errno, "open", at.real));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Internal(NodeError(errno, "fstat", at.real));
  if (S_ISDIR(st.st_mode)) return Internal(NodeError(EISDIR, "read", at.real));
  if (!S_ISREG(st.st_mode))
    return Internal(NodeError(EINVAL, "read", at.real) + " (not a regular file)");
  if (capped && st.st_size > options_.max_read_bytes) {
    return ResourceExhausted("File too large: " + at.real + " is " + std::to_string(st.st_size) +
                             " bytes, more than the limit of " +
                             std::to_string(options_.max_read_bytes) +
                             " bytes; read part of it with head or tail");
  }
  ::fcntl(fd.get(), F_SETFL, 0);
  return fd;
}

Result<std::string> FsServer::ReadCapped(const Location& at) const {
  NAUT_ASSIGN_OR_RETURN(UniqueFd fd, OpenForRead(at, true));
  return ReadAll(fd.get(), at.real);
}

ToolResult FsServer::ReadText(const Json& args) {
  auto path = StringArg(args, "path", "read_text_file");
  if (!path) return ToolResult::Error(path.error().message());
  auto number = [&](const char* key) -> Result<int64_t> {
    auto value = GetNumberIfPresent(args, key, "read_text_file");
    if (!value)
      return InvalidArgument(
          InvalidArgs("read_text_file", std::string("'") + key + "' must be a number"));
    return static_cast<int64_t>(value->value_or(0));
  };
  auto head = number("head");
  if (!head) return ToolResult::Error(head.error().message());
  auto tail = number("tail");
  if (!tail) return ToolResult::Error(tail.error().message());
  auto valid = Locate(*path, FinalLink::kFollow);
  if (!valid) return ToolResult::Error(valid.error().message());
  if (*head != 0 && *tail != 0)
    return ToolResult::Error("Cannot specify both head and tail parameters simultaneously");
  std::string content;
  if (*tail > 0 || *head > 0) {
    // Streams the file: head/tail reads are not capped by max_read_bytes.
    auto opened = OpenForRead(*valid, false);
    if (!opened) return ToolResult::Error(opened.error().message());
    const int fd = opened->get();
    struct stat st;
    ::fstat(fd, &st);
    if (*tail > 0) {
      std::string buffer;
      off_t pos = st.st_size;
      int64_t newlines = 0;
      char chunk[65536];
      while (pos > 0 && newlines <= *tail) {
        off_t size = std::min<off_t>(sizeof(chunk), pos);
        pos -= size;
        ssize_t n = ::pread(fd, chunk, static_cast<size_t>(size), pos);
        if (n <= 0) break;
        buffer.insert(0, chunk, static_cast<size_t>(n));
        newlines = std::count(buffer.begin(), buffer.end(), '\n');
      }
      auto lines = SplitLines(NormalizeLineEndings(buffer));
      if (pos > 0 && !lines.empty()) lines.erase(lines.begin());  // the first line is partial
      size_t take = std::min<size_t>(lines.size(), static_cast<size_t>(*tail));
      content = Join(
          std::vector<std::string>(lines.end() - static_cast<ptrdiff_t>(take), lines.end()), "\n");
      if (st.st_size == 0) content.clear();
    } else {
      std::string buffer;
      std::vector<std::string> lines;
      char chunk[65536];
      for (;;) {
        if (static_cast<int64_t>(lines.size()) >= *head) break;
        ssize_t n = ::read(fd, chunk, sizeof(chunk));
        if (n <= 0) break;
        buffer.append(chunk, static_cast<size_t>(n));
        size_t last = buffer.rfind('\n');
        if (last != std::string::npos) {
          for (auto& l : SplitLines(buffer.substr(0, last))) {
            lines.push_back(std::move(l));
            if (static_cast<int64_t>(lines.size()) >= *head) break;
          }
          buffer.erase(0, last + 1);
        }
      }
      if (!buffer.empty() && static_cast<int64_t>(lines.size()) < *head) lines.push_back(buffer);
      content = Join(lines, "\n");
    }
  } else {
    auto read = ReadCapped(*valid);
    if (!read) return ToolResult::Error(read.error().message());
    content = std::move(*read);
  }
  return TextResult(std::move(content));
}

ToolResult FsServer::ReadMedia(const Json& args) {
  auto path = StringArg(args, "path", "read_media_file");
  if (!path) return ToolResult::Error(path.error().message());
  auto valid = Locate(*path, FinalLink::kFollow);
  if (!valid) return ToolResult::Error(valid.error().message());
  static const std::map<std::string, std::string> kTypes = {
      {".png", "image/png"},     {".jpg", "image/jpeg"},  {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},     {".webp", "image/webp"}, {".bmp", "image/bmp"},
      {".svg", "image/svg+xml"}, {".mp3", "audio/mpeg"},  {".wav", "audio/wav"},
      {".ogg", "audio/ogg"},     {".flac", "audio/flac"}};
  std::string ext = Lower(stdfs::path(valid->real).extension().string());
  auto it = kTypes.find(ext);
  std::string mime = it != kTypes.end() ? it->second : "application/octet-stream";
  auto data = ReadCapped(*valid);
  if (!data) return ToolResult::Error(data.error().message());
  const std::string b64 = Base64Encode(*data);
  std::string type = mime.rfind("image/", 0) == 0   ? "image"
                     : mime.rfind("audio/", 0) == 0 ? "audio"
                                                    : "blob";
  Json item = {{"type", type}, {"data", b64}, {"mimeType", mime}};
  ToolResult r;
  r.content.push_back({type, item});
  r.structured = Json{{"content", Json::array({item})}};
  return r;
}

ToolResult FsServer::ReadMultiple(const Json& args) {
  auto paths = StringsArg(args, "paths", "read_multiple_files", true);
  if (!paths) return ToolResult::Error(paths.error().message());
  if (paths->empty())
    return ToolResult::Error(
        InvalidArgs("read_multiple_files", "'paths' must contain at least 1 element"));
  std::vector<std::string> parts;
  for (const auto& p : *paths) {
    auto valid = Locate(p, FinalLink::kFollow);
    Result<std::string> content = valid ? ReadCapped(*valid) : Result<std::string>(valid.error());
    if (content) {
      parts.push_back(p + ":\n" + *content + "\n");
    } else {
      parts.push_back(p + ": Error - " + content.error().message());
    }
  }
  return TextResult(Join(parts, "\n---\n"));
}

ToolResult FsServer::Write(const Json& args) {
  auto path = StringArg(args, "path", "write_file");
  if (!path) return ToolResult::Error(path.error().message());
  auto content = StringArg(args, "content", "write_file");
  if (!content) return ToolResult::Error(content.error().message());
  auto valid = Locate(*path, FinalLink::kFollow);
  if (!valid) return ToolResult::Error(valid.error().message());
  // Exclusive creation first, so a symlink planted at the name is never written through.
  UniqueFd fd(::openat(valid->dir.get(), valid->name.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666));
  if (fd.valid()) {
    size_t off = 0;
    while (off < content->size()) {
      ssize_t n = ::write(fd.get(), content->data() + off, content->size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ToolResult::Error(NodeError(errno, "write", valid->real));
      off += static_cast<size_t>(n);
    }
  } else if (errno == EEXIST) {
    if (Status s = WriteViaTemp(*valid, *content); !s.ok()) return ToolResult::Error(s.message());
  } else {
    return ToolResult::Error(NodeError(errno, "open", valid->real));
  }
  return TextResult("Successfully wrote to " + *path);
}

ToolResult FsServer::Edit(const Json& args) {
  auto path = StringArg(args, "path", "edit_file");
  if (!path) return ToolResult::Error(path.error().message());
  if (!args.contains("edits") || !args["edits"].is_array()) {
    return ToolResult::Error(
        InvalidArgs("edit_file", "'edits' must be an array of {oldText, newText}"));
  }
  std::vector<std::pair<std::string, std::string>> edits;
  for (const auto& e : args["edits"]) {
    if (!e.is_object() || !e.contains("oldText") || !e["oldText"].is_string() ||
        !e.contains("newText") || !e["newText"].is_string()) {
      return ToolResult::Error(
          InvalidArgs("edit_file", "each edit must have string 'oldText' and 'newText'"));
    }
    edits.emplace_back(e["oldText"].get<std::string>(), e["newText"].get<std::string>());
  }
  bool dry_run = false;
  if (args.contains("dryRun") && !args["dryRun"].is_null()) {
    if (!args["dryRun"].is_boolean())
      return ToolResult::Error(InvalidArgs("edit_file", "'dryRun' must be a boolean"));
    dry_run = args["dryRun"].get<bool>();
  }
  auto valid = Locate(*path, FinalLink::kFollow);
  if (!valid) return ToolResult::Error(valid.error().message());
  auto original = ReadCapped(*valid);
  if (!original) return ToolResult::Error(original.error().message());
  const std::string content = NormalizeLineEndings(*original);
  std::string modified = content;
  for (const auto& [old_raw, new_raw] : edits) {
    std::string old_text = NormalizeLineEndings(old_raw);
    std::string new_text = NormalizeLineEndings(new_raw);
    if (modified.find(old_text) != std::string::npos) {
      modified = JsReplaceFirst(modified, old_text, new_text);
      continue;
    }
    // Line-by-line match ignoring surrounding whitespace, keeping the file's indentation.
    auto old_lines = SplitLines(old_text);
    auto content_lines = SplitLines(modified);
    bool found = false;
    for (size_t i = 0;
         old_lines.size() <= content_lines.size() && i <= content_lines.size() - old_lines.size();
         ++i) {
      bool match = true;
      for (size_t j = 0; j < old_lines.size() && match; ++j)
        match = JsTrim(old_lines[j]) == JsTrim(content_lines[i + j]);
      if (!match) continue;
      std::string original_indent = LeadingSpace(content_lines[i]);
      auto new_lines = SplitLines(new_text);
      for (size_t j = 0; j < new_lines.size(); ++j) {
        if (j == 0) {
          new_lines[j] = original_indent + TrimStart(new_lines[j]);
          continue;
        }
        std::string old_indent = j < old_lines.size() ? LeadingSpace(old_lines[j]) : "";
        std::string new_indent = LeadingSpace(new_lines[j]);
        if (!old_indent.empty() && !new_indent.empty()) {
          int relative = static_cast<int>(new_indent.size()) - static_cast<int>(old_indent.size());
          new_lines[j] =
              original_indent + std::string(std::max(0, relative), ' ') + TrimStart(new_lines[j]);
        }
      }
      content_lines.erase(content_lines.begin() + static_cast<ptrdiff_t>(i),
                          content_lines.begin() + static_cast<ptrdiff_t>(i + old_lines.size()));
      content_lines.insert(content_lines.begin() + static_cast<ptrdiff_t>(i), new_lines.begin(),
                           new_lines.end());
      modified = Join(content_lines, "\n");
      found = true;
      break;
    }
    if (!found) return ToolResult::Error("Could not find exact match for edit:\n" + old_raw);
  }
  std::string diff = UnifiedDiff(content, modified, valid->real);
  size_t ticks = 3;
  while (diff.find(std::string(ticks, '`')) != std::string::npos) ++ticks;
  std::string formatted =
      std::string(ticks, '`') + "diff\n" + diff + std::string(ticks, '`') + "\n\n";
  if (!dry_run) {
    if (Status s = WriteViaTemp(*valid, modified); !s.ok()) return ToolResult::Error(s.message());
  }
  return TextResult(formatted);
}

ToolResult FsServer::CreateDirectory(const Json& args) {
  auto path = StringArg(args, "path", "create_directory");
  if (!path) return ToolResult::Error(path.error().message());
  auto valid = Locate(*path, FinalLink::kFollow);
  if (!valid) return ToolResult::Error(valid.error().message());
  if (::mkdirat(valid->dir.get(), valid->name.c_str(), 0777) != 0) {
    int error = errno;
    struct stat st;
    bool is_dir = error == EEXIST &&
                  ::fstatat(valid->dir.get(), valid->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                  S_ISDIR(st.st_mode);
    if (!is_dir) return ToolResult::Error(NodeError(error, "mkdir", valid->real));
  }
  return TextResult("Successfully created directory " + *path);
}

ToolResult FsServer::ListDirectory(const Json& args) {
  auto path = StringArg(args, "path", "list_directory");
  if (!path) return ToolResult::Error(path.error().message());
  auto valid = Locate(*path, FinalLink::kFollow);
  if (!valid) return ToolResult::Error(valid.error().message());
  auto entries = ReadDir(*valid);
  if (!entries) return ToolResult::Error(entries.error().message());
  std::vector<std::string> lines;
  for (const auto& e : *entries) {
    lines.push_back(std::string(S_ISDIR(e.st.st_mode) ? "[DIR]" : "[FILE]") + " " + e.name);
  }
  return TextResult(Join(lines, "\n"));
}

ToolResult FsServer::ListDirectoryWithSizes(const Json& args) {
  auto path = StringArg(args, "path", "list_directory_with_sizes");
  if (!path) return ToolResult::Error(path.error().message());
  std::string sort_by = "name";
  if (args.contains("sortBy") && !args["sortBy"].is_null()) {
    if (!args["sortBy"].is_string() || (args["sortBy"] != "name" && args["sortBy"] != "size")) {
      return ToolResult::Error(
          InvalidArgs("list_directory_with_sizes", "'sortBy' must be \"name\" or \"size\""));
    }
    sort_by = args["sortBy"].get<std::string>();
  }
  auto valid = Locate(*path, FinalLink::kFollow);
  if (!valid) return ToolResult::Error(valid.error().message());
  auto entries = ReadDir(*valid);
  if (!entries) return ToolResult::Error(entries.error().message());
  struct Item {
    std::string name;
    bool dir;
    int64_t size;
  };
  std::vector<Item> items;
  for (const auto& e : *entries) {
    int64_t size = e.st.st_size;
    if (S_ISLNK(e.st.st_mode)) {
      // The reference stats through links: the size of what the link names, when that lies
      // within the roots; a link leading out discloses nothing.
      size = 0;
      auto target = Locate(valid->real + "/" + e.name, FinalLink::kFollow);
      struct stat st;
      if (target && target->exists &&
          ::fstatat(target->dir.get(), target->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        size = st.st_size;
      }
    }
    items.push_back({e.name, S_ISDIR(e.st.st_mode), size});
  }
  std::vector<Item> sorted = items;
  if (sort_by == "size") {
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const Item& a, const Item& b) { return a.size > b.size; });
  } else {
    // localeCompare orders letters before case; an approximation without ICU.
    std::stable_sort(sorted.begin(), sorted.end(), [](const Item& a, const Item& b) {
      std::string la = Lower(a.name), lb = Lower(b.name);
      return la != lb ? la < lb : a.name > b.name;
    });
  }
  std::vector<std::string> lines;
  int files = 0, dirs = 0;
  int64_t total = 0;
  for (const auto& i : sorted) {
    std::string name = i.name;
    if (name.size() < 30) name += std::string(30 - name.size(), ' ');
    std::string size = i.dir ? "" : FormatSize(i.size);
    if (size.size() < 10) size = std::string(10 - size.size(), ' ') + size;
    if (i.dir) size = "";
    lines.push_back(std::string(i.dir ? "[DIR]" : "[FILE]") + " " + name + " " + size);
  }
  for (const auto& i : items) {
    if (i.dir) {
      ++dirs;
    } else {
      ++files;
      total += i.size;
    }
  }
  lines.emplace_back("");
  lines.push_back("Total: " + std::to_string(files) + " files, " + std::to_string(dirs) +
                  " directories");
  lines.push_back("Combined size: " + FormatSize(total));
  return TextResult(Join(lines, "\n"));
}

ToolResult FsServer::DirectoryTree(const Json& args) {
  auto path = StringArg(args, "path", "directory_tree");
  if (!path) return ToolResult::Error(path.error().message());
  auto excludes = StringsArg(args, "excludePatterns", "directory_tree", false);
  if (!excludes) return ToolResult::Error(excludes.error().message());
  const std::string root = *path;
  // Each level is located afresh from a root descriptor, so a directory swapped for a link
  // while the tree is built is either walked inside the roots or refused.
  std::function<Result<nlohmann::ordered_json>(const std::string&, int)> build =
      [&](const std::string& current, int depth) -> Result<nlohmann::ordered_json> {
    if (depth > 64)
      return Internal("directory_tree: nesting deeper than 64 levels under " + current);
    NAUT_ASSIGN_OR_RETURN(Location valid, Locate(current, FinalLink::kFollow));
    NAUT_ASSIGN_OR_RETURN(auto entries, ReadDir(valid));
    nlohmann::ordered_json result = nlohmann::ordered_json::array();
    for (const auto& e : entries) {
      const std::string& name = e.name;
      std::string joined = (stdfs::path(current) / name).lexically_normal().string();
      std::string relative =
          stdfs::path(ResolvePath(joined)).lexically_relative(ResolvePath(root)).string();
      bool excluded = false;
      for (const auto& pattern : *excludes) {
        if (pattern.find('*') != std::string::npos) {
          excluded = GlobMatch(pattern, relative);
        } else {
          excluded = GlobMatch(pattern, relative) || GlobMatch("**/" + pattern, relative) ||
                     GlobMatch("**/" + pattern + "/**", relative);
        }
        if (excluded) break;
      }
      if (excluded) continue;
      nlohmann::ordered_json entry;
      entry["name"] = name;
      bool dir = S_ISDIR(e.st.st_mode);
      entry["type"] = dir ? "directory" : "file";
      if (dir) {
        NAUT_ASSIGN_OR_RETURN(entry["children"], build(joined, depth + 1));
      }
      result.push_back(std::move(entry));
    }
    return result;
  };
  auto tree = build(root, 0);
  if (!tree) return ToolResult::Error(tree.error().message());
  return TextResult(tree->dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
}

ToolResult FsServer::Move(const Json& args) {
  auto source = StringArg(args, "source", "move_file");
  if (!source) return ToolResult::Error(source.error().message());
  auto destination = StringArg(args, "destination", "move_file");
  if (!destination) return ToolResult::Error(destination.error().message());
  auto from = Locate(*source, FinalLink::kFollow);
  if (!from) return ToolResult::Error(from.error().message());
  auto to = Locate(*destination, FinalLink::kFollow);
  if (!to) return ToolResult::Error(to.error().message());
  if (from->name == "." || to->name == ".") {
    return ToolResult::Error(NodeError(EBUSY, "rename", from->real, to->real));
  }
  if (::renameat2(from->dir.get(), from->name.c_str(), to->dir.get(), to->name.c_str(), 0) != 0) {
    return ToolResult::Error(NodeError(errno, "rename", from->real, to->real));
  }
  return TextResult("Successfully moved " + *source + " to " + *destination);
}

ToolResult FsServer::Search(const Json& args) {
  auto path = StringArg(args, "path", "search_files");
  if (!path) return ToolResult::Error(path.error().message());
  auto pattern = StringArg(args, "pattern", "search_files");
  if (!pattern) return ToolResult::Error(pattern.error().message());
  auto excludes = StringsArg(args, "excludePatterns", "search_files", false);
  if (!excludes) return ToolResult::Error(excludes.error().message());
  auto valid = Locate(*path, FinalLink::kFollow);
  if (!valid) return ToolResult::Error(valid.error().message());
  const std::string base = valid->real;
  std::vector<std::string> results;
  std::function<void(const std::string&, int)> search = [&](const std::string& current, int depth) {
    if (depth > 64) return;
    auto here = Locate(current, FinalLink::kFollow);
    if (!here) return;
    auto entries = ReadDir(*here);
    if (!entries) return;
    for (const auto& e : *entries) {
      std::string full = (stdfs::path(current) / e.name).string();
      // A link is listed only when what it names lies within the roots.
      if (S_ISLNK(e.st.st_mode) && !Locate(full, FinalLink::kFollow)) continue;
      std::string relative = stdfs::path(full).lexically_relative(base).string();
      bool excluded = false;
      for (const auto& x : *excludes) excluded = excluded || GlobMatch(x, relative);
      if (excluded) continue;
      if (GlobMatch(*pattern, relative)) results.push_back(full);
      if (S_ISDIR(e.st.st_mode)) search(full, depth + 1);
    }
  };
  search(base, 0);
  return TextResult(results.empty() ? "No matches found" : Join(results, "\n"));
}

ToolResult FsServer::FileInfo(const Json& args) {
  auto path = StringArg(args, "path", "get_file_info");
  if (!path) return ToolResult::Error(path.error().message());
  auto valid = Locate(*path, FinalLink::kFollow);
  if (!valid) return ToolResult::Error(valid.error().message());
  struct statx st;
  if (::statx(valid->dir.get(), valid->name.c_str(), AT_SYMLINK_NOFOLLOW,
              STATX_BASIC_STATS | STATX_BTIME, &st) != 0) {
    return ToolResult::Error(NodeError(errno, "stat", valid->real));
  }
  auto ts = [](const struct statx_timestamp& t) {
    return timespec{static_cast<time_t>(t.tv_sec), static_cast<long>(t.tv_nsec)};
  };
  char perms[8];
  std::snprintf(perms, sizeof(perms), "%03o", st.stx_mode & 0777);
  std::string text = "size: " + std::to_string(st.stx_size) + "\n";
  text +=
      "created: " + JsDate(ts((st.stx_mask & STATX_BTIME) ? st.stx_btime : st.stx_ctime)) + "\n";
  text += "modified: " + JsDate(ts(st.stx_mtime)) + "\n";
  text += "accessed: " + JsDate(ts(st.stx_atime)) + "\n";
  text += std::string("isDirectory: ") + (S_ISDIR(st.stx_mode) ? "true" : "false") + "\n";
  text += std::string("isFile: ") + (S_ISREG(st.stx_mode) ? "true" : "false") + "\n";
  text += std::string("permissions: ") + perms;
  return TextResult(text);
}

ToolResult FsServer::ListAllowed(const Json&) {
  return TextResult("Allowed directories:\n" + Join(AllowedDirectories(), "\n"));
}

// read_file, the deprecated name, and read_text_file take the same arguments.
constexpr const char* kReadTextSchema = R"({"type": "object",
         "properties": {"head": {"type": "number",
                                 "description":
                                   "If provided, returns only the first N lines of the file"},
                        "path": {"type": "string"},
                        "tail": {"type": "number",
                                 "description":
                                   "If provided, returns only the last N lines of the file"}},
         "required": ["path"]})";

// The reference's tools, in its order and with its texts; schemas are JSON text, a null output
// schema is the reference's {content: string}.
const FsServer::ToolSpec FsServer::kToolSpecs[] = {
    {"read_file", "Read File (Deprecated)",
     "Read the complete contents of a file as text. DEPRECATED: Use read_text_file instead.",
     kReadTextSchema, nullptr, R"({"readOnlyHint": true})", &FsServer::ReadText},
    {"read_text_file", "Read Text File",
     "Read the complete contents of a file from the file system as text. Handles various "
     "text encodings and provides detailed error messages if the file cannot be read. Use "
     "this tool when you need to examine the contents of a single file. Use the 'head' "
     "parameter to read only the first N lines of a file, or the 'tail' parameter to read "
     "only the last N lines of a file. Operates on the file as text regardless of extension. "
     "Only works within allowed directories.",
     kReadTextSchema, nullptr, R"({"readOnlyHint": true})", &FsServer::ReadText},
    {"read_media_file", "Read Media File",
     "Read an image or audio file. Returns the base64 encoded data and MIME type. Only works "
     "within allowed directories.",
     R"({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]})",
     R"({"type": "object",
         "properties": {"content": {"type": "array", "items": {"type": "object"}}},
         "required": ["content"]})",
     R"({"readOnlyHint": true})", &FsServer::ReadMedia},
    {"read_multiple_files", "Read Multiple Files",
     "Read the contents of multiple files simultaneously. This is more efficient than "
     "reading files one by one when you need to analyze or compare multiple files. Each "
     "file's content is returned with its path as a reference. Failed reads for individual "
     "files won't stop the entire operation. Only works within allowed directories.",
     R"({"type": "object",
         "properties": {"paths": {"type": "array",
                                  "items": {"type": "string"},
                                  "minItems": 1,
                                  "description":
                                    "Array of file paths to read. Each path must be a string )"
     R"(pointing to a valid file within allowed directories."}},
         "required": ["paths"]})",
     nullptr, R"({"readOnlyHint": true})", &FsServer::ReadMultiple},
    {"write_file", "Write File",
     "Create a new file or completely overwrite an existing file with new content. Use with "
     "caution as it will overwrite existing files without warning. Handles text content with "
     "proper encoding. Only works within allowed directories.",
     R"({"type": "object",
         "properties": {"content": {"type": "string"}, "path": {"type": "string"}},
         "required": ["path", "content"]})",
     nullptr, R"({"destructiveHint": true, "idempotentHint": true, "readOnlyHint": false})",
     &FsServer::Write},
    {"edit_file", "Edit File",
     "Make line-based edits to a text file. Each edit replaces exact line sequences with new "
     "content. Returns a git-style diff showing the changes made. Only works within allowed "
     "directories.",
     R"({"type": "object",
         "properties": {"dryRun": {"type": "boolean",
                                   "default": false,
                                   "description": "Preview changes using git-style diff format"},
                        "edits": {"type": "array",
                                  "items": {"type": "object",
                                            "properties": {"newText": {"type": "string",
                                                                       "description":
                                                                         "Text to replace )"
     R"(with"},
                                                           "oldText": {"type": "string",
                                                                       "description":
                                                                         "Text to search for - )"
     R"(must match exactly"}},
                                            "required": ["oldText", "newText"]}},
                        "path": {"type": "string"}},
         "required": ["path", "edits"]})",
     nullptr, R"({"destructiveHint": true, "idempotentHint": false, "readOnlyHint": false})",
     &FsServer::Edit},
    {"create_directory", "Create Directory",
     "Create a new directory or ensure a directory exists. Can create multiple nested "
     "directories in one operation. If the directory already exists, this operation will "
     "succeed silently. Perfect for setting up directory structures for projects or ensuring "
     "required paths exist. Only works within allowed directories.",
     R"({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]})",
     nullptr, R"({"destructiveHint": false, "idempotentHint": true, "readOnlyHint": false})",
     &FsServer::CreateDirectory},
    {"list_directory", "List Directory",
     "Get a detailed listing of all files and directories in a specified path. Results "
     "clearly distinguish between files and directories with [FILE] and [DIR] prefixes. This "
     "tool is essential for understanding directory structure and finding specific files "
     "within a directory. Only works within allowed directories.",
     R"({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]})",
     nullptr, R"({"readOnlyHint": true})", &FsServer::ListDirectory},
    {"list_directory_with_sizes", "List Directory with Sizes",
     "Get a detailed listing of all files and directories in a specified path, including "
     "sizes. Results clearly distinguish between files and directories with [FILE] and [DIR] "
     "prefixes. This tool is useful for understanding directory structure and finding "
     "specific files within a directory. Only works within allowed directories.",
     R"({"type": "object",
         "properties": {"path": {"type": "string"},
                        "sortBy": {"type": "string",
                                   "enum": ["name", "size"],
                                   "default": "name",
                                   "description": "Sort entries by name or size"}},
         "required": ["path"]})",
     nullptr, R"({"readOnlyHint": true})", &FsServer::ListDirectoryWithSizes},
    {"directory_tree", "Directory Tree",
     "Get a recursive tree view of files and directories as a JSON structure. Each entry "
     "includes 'name', 'type' (file/directory), and 'children' for directories. Files have "
     "no children array, while directories always have a children array (which may be "
     "empty). The output is formatted with 2-space indentation for readability. Only works "
     "within allowed directories.",
     R"({"type": "object",
         "properties": {"excludePatterns": {"type": "array",
                                            "items": {"type": "string"},
                                            "default": []},
                        "path": {"type": "string"}},
         "required": ["path"]})",
     nullptr, R"({"readOnlyHint": true})", &FsServer::DirectoryTree},
    {"move_file", "Move File",
     "Move or rename files and directories. Can move files between directories and rename "
     "them in a single operation. If the destination exists, the operation will fail. Works "
     "across different directories and can be used for simple renaming within the same "
     "directory. Both source and destination must be within allowed directories.",
     R"({"type": "object",
         "properties": {"destination": {"type": "string"}, "source": {"type": "string"}},
         "required": ["source", "destination"]})",
     nullptr, R"({"destructiveHint": false, "idempotentHint": false, "readOnlyHint": false})",
     &FsServer::Move},
    {"search_files", "Search Files",
     "Recursively search for files and directories matching a pattern. The patterns should "
     "be glob-style patterns that match paths relative to the working directory. Use pattern "
     "like '*.ext' to match files in current directory, and '**/*.ext' to match files in all "
     "subdirectories. Returns full paths to all matching items. Great for finding files when "
     "you don't know their exact location. Only searches within allowed directories.",
     R"({"type": "object",
         "properties": {"excludePatterns": {"type": "array",
                                            "items": {"type": "string"},
                                            "default": []},
                        "path": {"type": "string"},
                        "pattern": {"type": "string"}},
         "required": ["path", "pattern"]})",
     nullptr, R"({"readOnlyHint": true})", &FsServer::Search},
    {"get_file_info", "Get File Info",
     "Retrieve detailed metadata about a file or directory. Returns comprehensive "
     "information including size, creation time, last modified time, permissions, and type. "
     "This tool is perfect for understanding file characteristics without reading the actual "
     "content. Only works within allowed directories.",
     R"({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]})",
     nullptr, R"({"readOnlyHint": true})", &FsServer::FileInfo},
    {"list_allowed_directories", "List Allowed Directories",
     "Returns the list of directories that this server is allowed to access. Subdirectories "
     "within these allowed directories are also accessible. Use this to understand which "
     "directories and their nested paths are available before trying to access files.",
     R"({"type": "object", "properties": {}})", nullptr, R"({"readOnlyHint": true})",
     &FsServer::ListAllowed},
};

std::vector<Tool> FsServer::Tools() {
  static const Json kTextOutput = {{"type", "object"},
                                   {"properties", {{"content", {{"type", "string"}}}}},
                                   {"required", {"content"}}};
  auto json = [](const char* text) { return Json::parse(text); };  // our own literals
  // The tools share this server (the allowed directories change with MCP roots).
  std::shared_ptr<FsServer> keep = shared_from_this();
  std::vector<Tool> tools;
  for (const ToolSpec& spec : kToolSpecs) {
    tools.push_back({spec.name, spec.title, spec.description, json(spec.input_schema),
                     spec.output_schema != nullptr ? json(spec.output_schema) : kTextOutput,
                     json(spec.annotations),
                     [keep, method = spec.handler](const Json& args, ToolContext&) {
                       return ((*keep).*method)(args);
                     }});
  }
  return tools;
}

void FsServer::RefreshRoots(mcp::ToolContext& context) {
  if (roots_unavailable_ || !context.client_capabilities.is_object() ||
      !context.client_capabilities.contains("roots")) {
    return;
  }
  auto answer = context.request("roots/list", Json::object());
  if (!answer.ok() || !answer->is_object() || !answer->contains("roots")) {
    roots_unavailable_ = true;
    return;
  }
  SetRootsFromMcp((*answer)["roots"]);
}

Result<mcp::ServerDefinition> MakeFsServer(const Config& config) {
  FsOptions options;
  for (const auto& r : config.sandbox.fs_roots) options.allowed.emplace_back(r);
  if (options.allowed.empty()) {
    stdfs::path dir = !config.sandbox.workspace.empty() ? stdfs::path(config.sandbox.workspace)
                                                        : config.home / "workspaces";
    std::error_code ec;
    stdfs::create_directories(dir, ec);
    if (ec) return Internal("fs: cannot create '" + dir.string() + "': " + ec.message());
    options.allowed.push_back(dir);
  }
  NAUT_ASSIGN_OR_RETURN(auto server, FsServer::Create(options));
  mcp::ServerDefinition definition;
  definition.name = "secure-filesystem-server";
  definition.version = "0.2.0";
  definition.title = "NeuroNaut fs";
  definition.tools = server->Tools();
  for (auto& tool : definition.tools) {
    tool.handler = [server, inner = std::move(tool.handler)](const Json& args,
                                                             mcp::ToolContext& context) {
      server->RefreshRoots(context);
      return inner(args, context);
    };
  }
  return definition;
}

}  // namespace naut::envs::fs

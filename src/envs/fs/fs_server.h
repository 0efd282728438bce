#pragma once
// The built-in `fs` tool server: the tools of @modelcontextprotocol/server-filesystem with
// the same names, arguments, result texts and refusals, restricted to allowed directories.
//
// Tools: read_file (deprecated alias), read_text_file, read_media_file, read_multiple_files,
// write_file, edit_file (dryRun gives the diff without writing), create_directory,
// list_directory, list_directory_with_sizes, directory_tree, move_file, search_files,
// get_file_info, list_allowed_directories.
//
// Every path is made absolute (relative to the process's working directory, `~` expanded),
// checked against the allowed directories, then resolved with symlinks and checked again;
// a path leaving them is refused with an `isError` result in the reference's words
// ("Access denied - path outside allowed directories: ..."). Unlike the reference, whole-file
// reads are capped (`max_read_bytes`); head/tail reads are not.
//
// Thread-safety: handlers may run concurrently; the allowed directories are guarded by a
// mutex and may be replaced at any time (MCP roots).

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/config.h"
#include "mcp/tool.h"

namespace naut::envs::fs {

struct FsOptions {
  std::vector<std::filesystem::path> allowed;  // each must exist and be a directory
  int64_t max_read_bytes = 16 * 1024 * 1024;
};

class FsServer : public std::enable_shared_from_this<FsServer> {
 public:
  // Errors name a directory that does not exist or is not a directory.
  static Result<std::shared_ptr<FsServer>> Create(const FsOptions& options);

  // The tools; they keep this server alive.
  std::vector<mcp::Tool> Tools();

  // Replaces the allowed directories with those of MCP roots ([{"uri": "file:///x"}, ...]);
  // roots that do not resolve to a directory are skipped. Returns how many were accepted;
  // with none accepted the previous directories stay.
  int SetRootsFromMcp(const Json& roots);
  std::vector<std::string> AllowedDirectories() const;

  // Asks the client for its roots (roots/list) when it declared the capability, as the
  // reference does, and adopts them; stops asking after a failed request.
  void RefreshRoots(mcp::ToolContext& context);

 private:
  explicit FsServer(const FsOptions& options) : options_(options) {}

  // The reference's validatePath: the real path to operate on, or an error message.
  Result<std::string> ValidatePath(const std::string& requested) const;

  mcp::ToolResult ReadText(const Json& args);
  mcp::ToolResult ReadMedia(const Json& args);
  mcp::ToolResult ReadMultiple(const Json& args);
  mcp::ToolResult Write(const Json& args);
  mcp::ToolResult Edit(const Json& args);
  mcp::ToolResult CreateDirectory(const Json& args);
  mcp::ToolResult ListDirectory(const Json& args);
  mcp::ToolResult ListDirectoryWithSizes(const Json& args);
  mcp::ToolResult DirectoryTree(const Json& args);
  mcp::ToolResult Move(const Json& args);
  mcp::ToolResult Search(const Json& args);
  mcp::ToolResult FileInfo(const Json& args);
  mcp::ToolResult ListAllowed(const Json& args);

  Result<std::string> ReadCapped(const std::string& path) const;

  FsOptions options_;
  mutable std::mutex mu_;
  std::vector<std::string> allowed_;  // GUARDED_BY(mu_): normalised real paths
  std::atomic<bool> roots_unavailable_{false};
};

// The `fs` server of `neuronaut mcp-server fs`: allowed directories from [sandbox] fs_roots,
// else [sandbox] workspace, else <home>/workspaces (created); MCP roots replace them.
Result<mcp::ServerDefinition> MakeFsServer(const Config& config);

}  // namespace naut::envs::fs

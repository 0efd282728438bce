#pragma once
// The built-in `fs` tool server: the tools of @modelcontextprotocol/server-filesystem with
// the same names, arguments, result texts and refusals, restricted to allowed directories.
//
// Tools: read_file (deprecated alias), read_text_file, read_media_file, read_multiple_files,
// write_file, edit_file (dryRun gives the diff without writing), create_directory,
// list_directory, list_directory_with_sizes, directory_tree, move_file, search_files,
// get_file_info, list_allowed_directories.
//
// Every path is made absolute (relative to the process's working directory, `~` expanded) and
// checked lexically against the allowed directories, as the reference does; then it is walked
// beneath the directories' open descriptors (core/beneath.h) and used only through the
// descriptor that walk produced: a directory swapped for a symlink at any moment (by sandboxed
// code writing the same tree) can never make a tool read, write, list or describe anything
// outside the allowed directories. Symlinks that stay inside them keep working. Refusals are
// `isError` results in the reference's words ("Access denied - path outside allowed
// directories: ...", "Access denied - symlink target outside allowed directories: ...").
// Unlike the reference, whole-file reads are capped (`max_read_bytes`; head/tail reads are
// not), anything but a regular file is refused for reading (a FIFO would hang the server), and
// listed sizes of links leading out are 0.
//
// Thread-safety: handlers may run concurrently; the allowed directories sit behind one mutex
// and may be replaced at any time (MCP roots).

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/beneath.h"
#include "core/config.h"
#include "core/mutex.h"
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
  explicit FsServer(FsOptions options) : options_(std::move(options)) {}

  // The reference's validatePath, made race-free: where `requested` lies beneath the allowed
  // directories, or the refusal in the reference's words.
  Result<Location> Locate(const std::string& requested, FinalLink final) const;
  // Opens a located regular file for reading; `capped` applies max_read_bytes.
  Result<UniqueFd> OpenForRead(const Location& at, bool capped) const;
  Result<std::string> ReadCapped(const Location& at) const;

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

  // One tool of the reference: its texts, its schemas and annotations as JSON text, and its
  // handler. The table (kToolSpecs) is in fs_server.cc.
  struct ToolSpec {
    const char* name;
    const char* title;
    const char* description;
    const char* input_schema;
    const char* output_schema;  // nullptr: {"content": string}, the reference's text result
    const char* annotations;
    mcp::ToolResult (FsServer::*handler)(const Json& args);
  };
  static const ToolSpec kToolSpecs[];

  FsOptions options_;
  mutable Mutex mu_;
  std::vector<std::string> allowed_ GUARDED_BY(mu_);  // normalised real paths
  // The same directories, open; replaced whole, so a call keeps its snapshot.
  std::shared_ptr<const std::vector<RootDir>> roots_ GUARDED_BY(mu_);
  std::atomic<bool> roots_unavailable_{false};
};

// The `fs` server of `neuronaut mcp-server fs`: allowed directories from [sandbox] fs_roots,
// else [sandbox] workspace, else <home>/workspaces (created); MCP roots replace them.
Result<mcp::ServerDefinition> MakeFsServer(const Config& config);

}  // namespace naut::envs::fs

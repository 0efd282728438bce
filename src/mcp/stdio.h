#pragma once
// The stdio transport: newline-delimited JSON-RPC over a pair of file descriptors. The server
// side serves a Server on stdin/stdout; the client side spawns a server process, reads its
// stdout as protocol and its stderr into our log, never mixing the two.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "core/config.h"
#include "core/mutex.h"
#include "core/subprocess.h"
#include "mcp/server.h"
#include "mcp/transport.h"

namespace naut::mcp {

// Reads newline-terminated lines from a blocking fd. Lines longer than `max_bytes` are not
// kept: Next returns them as an empty string with `*too_long` set and skips to the next
// newline; their first kHeadBytes stay readable through head(), enough to answer a refused
// JSON-RPC message by its id. Used by one thread.
class LineReader {
 public:
  static constexpr size_t kHeadBytes = 64 * 1024;

  explicit LineReader(int fd, size_t max_bytes = kMaxMessageBytes)
      : fd_(fd), max_bytes_(max_bytes) {}
  // The next line without its "\n" (and "\r"); nullopt at end of input or on a read error.
  std::optional<std::string> Next(bool* too_long);
  // The start of the last line Next reported as too long.
  const std::string& head() const { return head_; }

 private:
  int fd_;
  size_t max_bytes_;
  std::string buf_;
  std::string head_;
  size_t scan_ = 0;
  bool eof_ = false;
};

// Writes `text` and a newline to `fd` completely (retrying on short writes and EINTR).
Status WriteLine(int fd, std::string_view text);

// Serves `server` on `in_fd`/`out_fd` until the input ends. Malformed lines are answered with
// JSON-RPC errors; tools/call requests run on their own threads so that cancellation, pings
// and answers to the server's own requests keep flowing while a tool runs.
Status ServeStdio(Server& server, int in_fd, int out_fd);

// A server process spoken to over its stdin/stdout.
class StdioClientTransport : public ClientTransport {
 public:
  // `name` labels the server's stderr lines in the log.
  StdioClientTransport(std::string name, SpawnOptions options);
  ~StdioClientTransport() override;

  Status Start(std::function<void(const Json&)> on_message,
               std::function<void(const Status&)> on_closed) override;
  Status Send(const Json& message) override;
  void Close() override;
  std::string Describe() const override;

  // The child's pid, or -1 (tests kill it to check restarts).
  int pid() const;

 private:
  void ReadStdout();
  void ReadStderr();
  // Answers a message refused for its size or depth (see RefuseMessage).
  void Refuse(std::string_view text, const Status& why);

  std::string name_;
  SpawnOptions options_;
  std::unique_ptr<Subprocess> process_;
  Mutex write_mu_;
  bool closed_ GUARDED_BY(write_mu_) = false;
  std::function<void(const Json&)> on_message_;
  std::function<void(const Status&)> on_closed_;
  std::thread stdout_thread_, stderr_thread_;
};

// Spawn options for a configured stdio server: its command, args, env and cwd.
SpawnOptions SpawnOptionsFor(const McpServerConfig& config);

}  // namespace naut::mcp

#pragma once
// ClientManager: every configured MCP server behind one object, as the agent uses them.
// Tools are named "<server>__<tool>"; calls get a per-call timeout and cancellation; a server
// whose process exits (or whose stream fails) is restarted with exponential backoff, either
// when next used or by the supervisor thread, so one broken server never takes the agent down.
//
// Thread-safety: all methods may be called from any thread. Clients are shared_ptr because a
// call in flight keeps its session alive while another thread replaces a dead one.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/config.h"
#include "core/mutex.h"
#include "core/tool_name.h"
#include "mcp/client.h"

namespace naut::mcp {

struct HubOptions {
  std::chrono::milliseconds call_timeout = std::chrono::seconds(60);
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(20);
  std::chrono::milliseconds backoff_initial = std::chrono::seconds(1);
  std::chrono::milliseconds backoff_max = std::chrono::seconds(60);
  ClientOptions client;  // roots, elicitation/sampling answers, ...
  // Builds the transport for a server; default: stdio for `command`, Streamable HTTP for `url`.
  std::function<Result<std::unique_ptr<ClientTransport>>(const McpServerConfig&)> make_transport;
};

HubOptions HubOptionsFrom(const Config& config);

enum class ServerState { kDisabled, kNotStarted, kConnected, kDown };
std::string_view ServerStateName(ServerState state);

struct ServerStatus {
  std::string name;
  std::string target;  // command line or URL
  ServerState state = ServerState::kNotStarted;
  std::string detail;  // why it is down; the server's name and version when connected
  int restarts = 0;
  std::string protocol_version;
};

struct QualifiedTool {
  std::string qualified_name;  // "<server>__<tool>"
  std::string server;
  ToolInfo tool;
};

// The default transport for a configured server.
Result<std::unique_ptr<ClientTransport>> MakeTransport(const McpServerConfig& config);

class ClientManager {
 public:
  ClientManager(std::vector<McpServerConfig> servers, HubOptions options);
  ~ClientManager();

  // Connects every enabled server (in parallel); failures are recorded in Status, not returned.
  void ConnectAll();
  // Restarts servers that went down, honouring the backoff, every `period` until destroyed.
  void StartSupervisor(std::chrono::milliseconds period = std::chrono::milliseconds(250));

  std::vector<ServerStatus> Statuses() const;

  // The live session for `server`, connecting or restarting it when the backoff allows.
  Result<std::shared_ptr<Client>> Session(const std::string& server);

  // Tools of every reachable server; unreachable servers are skipped (and logged).
  std::vector<QualifiedTool> ListTools();
  Result<std::vector<ToolInfo>> ListTools(const std::string& server);

  // Calls "<server>__<tool>". A server that died during the call is reported as Unavailable
  // and restarted on a later call; a timeout is DeadlineExceeded.
  Result<ToolResult> CallTool(const std::string& qualified_name, const Json& arguments,
                              const RequestOptions& options = {});

  // ("server", "tool") from "server__tool" (core/tool_name.h), as routing needs it: an error
  // naming the form when either part is missing.
  static Result<std::pair<std::string, std::string>> SplitToolName(
      const std::string& qualified_name);

 private:
  struct Entry {
    McpServerConfig config;
    std::shared_ptr<Client> client;
    ServerState state = ServerState::kNotStarted;
    std::string detail;
    int restarts = 0;
    int failures = 0;  // consecutive failed or short-lived connections
    std::chrono::steady_clock::time_point next_attempt{};
    std::chrono::steady_clock::time_point connected_at{};
    bool connecting = false;
  };

  // The live session of `entry` (an element of entries_), connecting it outside the lock.
  Result<std::shared_ptr<Client>> Connect(Entry& entry) EXCLUDES(mu_);
  void NoteDown(Entry& entry, const Status& why) REQUIRES(mu_);

  HubOptions options_;
  mutable Mutex mu_;
  std::condition_variable_any cv_;
  // Filled by the constructor, never erased from, so an Entry& stays valid.
  std::map<std::string, Entry> entries_ GUARDED_BY(mu_);
  std::vector<std::string> order_;  // config order
  std::jthread supervisor_;
};

}  // namespace naut::mcp

#pragma once
// The MCP server framework: serves a ServerDefinition (tools, resources, resource templates,
// prompts, completion) to any number of client sessions, independent of the transport.
//
// A transport (stdio.h, http_server.h) decodes wire messages and hands each to a
// ServerSession. Requests are answered through the `reply` sink given with them; messages that
// belong to a request (progress, log messages, sampling or elicitation requests made by a
// running tool) go to the same sink, so Streamable HTTP can put them on that request's stream.
// Messages that belong to no request (resource updates, list changes) go to the session's
// standalone sink.
//
// The lists can change at run time (Server::SetTools, AddTool, RemoveTool, SetResources,
// SetPrompts): requests that start afterwards see the new lists, and every initialized session
// that was told in initialize that the list may change (capability listChanged) receives
// notifications/tools/list_changed (resources/, prompts/) on its standalone sink.
//
// Tool arguments are validated against the tool's inputSchema before the handler runs; a
// mismatch is an isError result naming the field. Unknown tools, prompts and resources are
// JSON-RPC errors (-32602 / -32002) as the specification says.
//
// Thread-safety: Server and ServerSession are thread-safe. HandleMessage may be called from
// several threads at once (one per in-flight request); handlers of one session run
// concurrently unless ServerOptions::serialize_tool_calls is set.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <shared_mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "core/json.h"
#include "core/mutex.h"
#include "core/status.h"
#include "mcp/jsonrpc.h"
#include "mcp/tool.h"

namespace naut::mcp {

// Receives outgoing messages. Must be safe to call from any thread.
using Sink = std::function<void(const Json&)>;

struct ServerOptions {
  size_t page_size = 100;  // items per page of tools/list, resources/list, prompts/list
  std::chrono::milliseconds client_request_timeout = std::chrono::seconds(120);
  bool serialize_tool_calls = false;
};

class Server;

// The lists a server can announce changes of.
enum class ListKind { kTools, kResources, kPrompts };

class ServerSession : public std::enable_shared_from_this<ServerSession> {
 public:
  ServerSession(Server& server, Sink standalone);
  ~ServerSession();

  // Handles one decoded message. Requests run to completion in the calling thread and end
  // with exactly one response to `reply` (none when cancelled). Notifications and responses
  // return at once.
  // `close_stream` (HTTP) ends the SSE connection carrying `reply` early; see ToolContext.
  void HandleMessage(const Message& message, const Sink& reply,
                     const std::function<void()>& close_stream = {});

  // Cancels running requests and fails waiting server-to-client requests; later messages are
  // ignored. Returns once no notification is being written to the standalone sink, so the
  // transport may then destroy what that sink refers to.
  void Close();

  // Sends a notification that belongs to no request (to the standalone sink).
  void NotifyStandalone(std::string_view method, Json params);

  // notifications/<list>/list_changed, when this session is initialized and its initialize
  // result declared listChanged for that list; otherwise nothing.
  void NotifyListChanged(ListKind kind);

  std::string protocol_version() const;
  bool initialized() const { return initialized_; }
  bool batches_allowed() const;
  bool subscribed(const std::string& uri) const;

  // Replaces the standalone sink (HTTP: a GET stream opened or closed).
  void SetStandaloneSink(Sink sink);

 private:
  Json HandleRequest(const Message& m, const Sink& reply, std::stop_token cancel,
                     const std::function<void()>& close_stream);
  Result<Json> Initialize(const Json& params);
  Result<Json> CallTool(const Json& params, const Json& request_meta, const Sink& reply,
                        std::stop_token cancel, const std::function<void()>& close_stream);
  Result<Json> ReadResource(const Json& params);
  Result<Json> GetPrompt(const Json& params);
  Result<Json> Complete(const Json& params);
  Result<Json> SendClientRequest(const std::string& method, const Json& params, const Sink& reply,
                                 std::stop_token cancel);

  Server& server_;
  std::atomic<bool> initialized_{false};
  std::atomic<bool> closed_{false};
  std::atomic<int> log_rank_{0};
  std::atomic<unsigned> list_changed_declared_{0};  // bit (1 << ListKind) per declared list
  // Held shared while the standalone sink runs, exclusively by Close (see Close).
  std::shared_mutex standalone_send_mu_;
  std::atomic<uint64_t> next_id_{1};

  mutable Mutex mu_;
  std::string protocol_version_ GUARDED_BY(mu_);
  Json client_capabilities_ GUARDED_BY(mu_) = Json::object();
  Sink standalone_ GUARDED_BY(mu_);
  std::map<std::string, std::stop_source> running_ GUARDED_BY(mu_);  // IdKey -> cancel
  std::set<std::string> subscriptions_ GUARDED_BY(mu_);
  struct Pending {
    bool done = false;
    Message response;
  };
  std::map<std::string, std::shared_ptr<Pending>> pending_ GUARDED_BY(mu_);
  std::condition_variable_any pending_cv_;
  Mutex tool_mu_;  // held around tool handlers when serialize_tool_calls
};

class Server {
 public:
  // Starts the definition's `watch` thread, when it has one.
  explicit Server(ServerDefinition definition, ServerOptions options = {});
  // Stops and joins the watch thread before anything else is torn down.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The current lists: an immutable snapshot; a later change makes a new one, so a request
  // holding it keeps a consistent view (and its tool's handler alive).
  std::shared_ptr<const ServerDefinition> definition() const;
  const ServerOptions& options() const { return options_; }

  // A new client session. Shared: the transport, the server's broadcast list (weak) and
  // running requests all hold it.
  std::shared_ptr<ServerSession> CreateSession(Sink standalone);

  // notifications/resources/updated to every session subscribed to `uri`.
  void NotifyResourceUpdated(const std::string& uri);

  // Run-time changes of the lists; each notifies the sessions (see the file comment).
  void SetTools(std::vector<Tool> tools);
  // Adds `tool`, replacing a tool of the same name.
  void AddTool(Tool tool);
  // False when there was no tool of that name (nothing is sent then).
  bool RemoveTool(const std::string& name);
  void SetResources(std::vector<Resource> resources, std::vector<ResourceTemplate> templates);
  void SetPrompts(std::vector<Prompt> prompts);

 private:
  // Applies `edit` to a copy of the definition, publishes it and notifies the sessions.
  void Change(ListKind kind, const std::function<bool(ServerDefinition&)>& edit);
  std::vector<std::shared_ptr<ServerSession>> LiveSessions();

  ServerOptions options_;
  mutable Mutex mu_;
  std::shared_ptr<const ServerDefinition> definition_ GUARDED_BY(mu_);
  std::vector<std::weak_ptr<ServerSession>> sessions_ GUARDED_BY(mu_);
  Mutex change_mu_;       // orders concurrent changes, so notifications follow publication
  std::jthread watcher_;  // last: stopped and joined first
};

// Matches `uri` against an RFC 6570 template with simple {name} expressions; fills `vars`.
bool MatchUriTemplate(const std::string& tmpl, const std::string& uri,
                      std::map<std::string, std::string>* vars);

// The wire form of a tool definition and of a tool result.
Json ToolToJson(const Tool& tool);
Json ToolResultToJson(const ToolResult& result);

}  // namespace naut::mcp

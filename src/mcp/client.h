#pragma once
// An MCP client session over one ClientTransport: the initialize handshake with version
// negotiation, requests with per-call timeout, cancellation (notifications/cancelled) and
// progress, paginated listing, and answers to the server's own requests (ping, roots/list,
// elicitation/create, sampling/createMessage).
//
// Thread-safety: all public methods may be called from any thread concurrently. Callbacks in
// ClientOptions run on a transport thread and must return quickly (they block that server's
// incoming messages while they run).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/mutex.h"
#include "core/status.h"
#include "mcp/jsonrpc.h"
#include "mcp/tool.h"
#include "mcp/transport.h"

namespace naut::mcp {

struct Root {
  std::string uri;  // file:///...
  std::string name;
};

struct ClientOptions {
  std::string client_name = "neuronaut";
  std::string client_version = "0.1.0";
  std::string protocol_version = "2025-11-25";  // what we ask for; the server may answer older
  std::chrono::milliseconds request_timeout = std::chrono::seconds(60);
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(20);
  std::vector<Root> roots;  // answered to roots/list
  // Answers elicitation/create and sampling/createMessage (and any other server request).
  // Unset: such requests get a JSON-RPC error saying NeuroNaut does not support them yet.
  std::function<Result<Json>(const std::string& method, const Json& params)> on_request;
  // Every notification from the server, after the client's own handling.
  std::function<void(const std::string& method, const Json& params)> on_notification;
  // Capabilities declared besides roots (e.g. {"elicitation": {}} when on_request answers it).
  Json capabilities = Json::object();
};

// A tool as the server lists it.
struct ToolInfo {
  std::string name;
  std::string title;
  std::string description;
  Json input_schema = Json::object();
  Json output_schema;  // null when absent
  Json annotations = Json::object();
};

struct RequestOptions {
  std::optional<std::chrono::milliseconds> timeout;  // unset: ClientOptions::request_timeout
  std::stop_token cancel;
  // Progress notifications for this request (a progress token is attached when set).
  std::function<void(double progress, double total, const std::string& message)> on_progress;
};

class Client {
 public:
  // Starts the transport and runs initialize / notifications/initialized. Fails with the
  // transport's error, the server's error, or a timeout.
  static Result<std::unique_ptr<Client>> Connect(std::unique_ptr<ClientTransport> transport,
                                                 ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One request; the result object or an error naming the method. Deadline exceeded and
  // cancellation send notifications/cancelled to the server. An answer the transport refused
  // (nested deeper than kMaxJsonDepth, over kMaxMessageBytes) fails the request it answers, or
  // every request in flight when its id cannot be read; so does an error response with a null
  // id. Params nested deeper than kMaxJsonDepth are refused before sending.
  Result<Json> Request(const std::string& method, Json params, const RequestOptions& options = {});
  Status Notify(const std::string& method, Json params = nullptr);

  // All tools, following nextCursor. Cached until the server says tools/list_changed or
  // `refresh` is set.
  Result<std::vector<ToolInfo>> ListTools(bool refresh = false, const RequestOptions& options = {});
  Result<ToolResult> CallTool(const std::string& name, const Json& arguments,
                              const RequestOptions& options = {});
  Result<std::vector<Json>> ListResources(const RequestOptions& options = {});
  Result<std::vector<Json>> ListResourceTemplates(const RequestOptions& options = {});
  // The "contents" array of resources/read.
  Result<Json> ReadResource(const std::string& uri, const RequestOptions& options = {});
  Result<std::vector<Json>> ListPrompts(const RequestOptions& options = {});
  Result<Json> GetPrompt(const std::string& name, const Json& arguments,
                         const RequestOptions& options = {});
  Status Ping(const RequestOptions& options = {});
  Status SetLogLevel(const std::string& level);
  // Sends notifications/roots/list_changed after replacing the roots.
  Status SetRoots(std::vector<Root> roots);

  // False once the transport has closed (server exited, stream failed, Close called).
  bool connected() const { return !closed_; }
  // Why the connection ended (ok while connected).
  Status closed_reason() const;
  std::string protocol_version() const { return protocol_version_; }
  const Json& server_info() const { return server_info_; }
  const Json& server_capabilities() const { return server_capabilities_; }
  const std::string& instructions() const { return instructions_; }
  std::string Describe() const { return transport_->Describe(); }
  ClientTransport& transport() { return *transport_; }

  void Close();

 private:
  struct Pending {
    bool done = false;
    Json result;
    std::optional<RpcError> error;
    Status failure;  // transport failure
    std::function<void(double, double, const std::string&)> on_progress;
  };

  Client(std::unique_ptr<ClientTransport> transport, ClientOptions options);
  Status Initialize();
  void OnMessage(const Json& raw);
  void OnClosed(const Status& reason);
  void AnswerServerRequest(const Message& m);
  Result<std::vector<Json>> ListAll(const std::string& method, const std::string& key,
                                    const RequestOptions& options);

  std::unique_ptr<ClientTransport> transport_;
  ClientOptions options_;
  std::atomic<uint64_t> next_id_{1};
  std::atomic<bool> closed_{false};
  std::atomic<bool> tools_dirty_{true};

  mutable Mutex mu_;
  std::condition_variable_any cv_;
  std::map<std::string, std::shared_ptr<Pending>> pending_ GUARDED_BY(mu_);   // IdKey -> call
  std::map<std::string, std::shared_ptr<Pending>> progress_ GUARDED_BY(mu_);  // token key -> call
  Status closed_reason_ GUARDED_BY(mu_);
  std::vector<ToolInfo> tools_cache_ GUARDED_BY(mu_);
  std::vector<Root> roots_ GUARDED_BY(mu_);

  // Set during Initialize, read-only afterwards.
  std::string protocol_version_;
  Json server_info_ = Json::object();
  Json server_capabilities_ = Json::object();
  std::string instructions_;
};

// Fills the fields of an elicitation's requestedSchema that `content` lacks with their
// "default" values (SEP-1034), for clients that accept elicitations without a user.
Json ApplyElicitationDefaults(const Json& requested_schema, Json content);

// Parses a tools/call result object into a ToolResult; errors name the malformed field.
Result<ToolResult> ParseToolResult(const Json& result);
Result<ToolInfo> ParseToolInfo(const Json& tool);

}  // namespace naut::mcp

#include "mcp/client.h"

#include <spdlog/spdlog.h>

#include "mcp/protocol.h"

namespace naut::mcp {

Json ApplyElicitationDefaults(const Json& requested_schema, Json content) {
  if (!content.is_object()) content = Json::object();
  if (!requested_schema.is_object() || !requested_schema.contains("properties") ||
      !requested_schema["properties"].is_object()) {
    return content;
  }
  for (const auto& [name, prop] : requested_schema["properties"].items()) {
    if (!content.contains(name) && prop.is_object() && prop.contains("default"))
      content[name] = prop["default"];
  }
  return content;
}

Result<ToolInfo> ParseToolInfo(const Json& tool) {
  if (!tool.is_object()) return InvalidArgument("tools/list: a tool is not an object");
  ToolInfo t;
  NAUT_ASSIGN_OR_RETURN(t.name, GetString(tool, "name", "tools/list tool"));
  t.title =
      tool.contains("title") && tool["title"].is_string() ? tool["title"].get<std::string>() : "";
  t.description = tool.contains("description") && tool["description"].is_string()
                      ? tool["description"].get<std::string>()
                      : "";
  if (tool.contains("inputSchema") && tool["inputSchema"].is_object())
    t.input_schema = tool["inputSchema"];
  if (tool.contains("outputSchema") && tool["outputSchema"].is_object())
    t.output_schema = tool["outputSchema"];
  if (tool.contains("annotations") && tool["annotations"].is_object())
    t.annotations = tool["annotations"];
  return t;
}

Result<ToolResult> ParseToolResult(const Json& result) {
  if (!result.is_object()) return InvalidArgument("tools/call: the result is not an object");
  ToolResult r;
  if (result.contains("content")) {
    if (!result["content"].is_array())
      return InvalidArgument("tools/call: \"content\" is not an array");
    for (const Json& block : result["content"]) {
      if (!block.is_object() || !block.contains("type") || !block["type"].is_string()) {
        return InvalidArgument("tools/call: a content block has no \"type\"");
      }
      r.content.push_back({block["type"].get<std::string>(), block});
    }
  }
  if (result.contains("structuredContent") && !result["structuredContent"].is_null()) {
    r.structured = result["structuredContent"];
  }
  if (result.contains("isError") && result["isError"].is_boolean())
    r.is_error = result["isError"].get<bool>();
  return r;
}

Client::Client(std::unique_ptr<ClientTransport> transport, ClientOptions options)
    : transport_(std::move(transport)), options_(std::move(options)), roots_(options_.roots) {}

Client::~Client() { Close(); }

Result<std::unique_ptr<Client>> Client::Connect(std::unique_ptr<ClientTransport> transport,
                                                ClientOptions options) {
  std::unique_ptr<Client> client(new Client(std::move(transport), std::move(options)));
  Client* c = client.get();
  NAUT_RETURN_IF_ERROR(c->transport_->Start([c](const Json& m) { c->OnMessage(m); },
                                            [c](const Status& why) { c->OnClosed(why); }));
  if (Status st = c->Initialize(); !st.ok()) {
    c->Close();
    return st.WithContext(c->transport_->Describe());
  }
  return client;
}

Status Client::Initialize() {
  Json caps = options_.capabilities.is_object() ? options_.capabilities : Json::object();
  caps["roots"] = Json{{"listChanged", true}};
  Json params{
      {"protocolVersion", options_.protocol_version},
      {"capabilities", caps},
      {"clientInfo", Json{{"name", options_.client_name}, {"version", options_.client_version}}}};
  RequestOptions ro;
  ro.timeout = options_.connect_timeout;
  NAUT_ASSIGN_OR_RETURN(Json result, Request("initialize", std::move(params), ro));
  auto version = GetString(result, "protocolVersion", "initialize result");
  if (!version) return version.error();
  if (!IsSupportedProtocolVersion(*version)) {
    return FailedPrecondition(
        "server chose protocol version '" + *version +
        "', which NeuroNaut does not speak (supported: 2025-11-25, 2025-06-18, 2025-03-26, "
        "2024-11-05)");
  }
  protocol_version_ = *version;
  if (result.contains("serverInfo") && result["serverInfo"].is_object())
    server_info_ = result["serverInfo"];
  if (result.contains("capabilities") && result["capabilities"].is_object()) {
    server_capabilities_ = result["capabilities"];
  }
  if (result.contains("instructions") && result["instructions"].is_string()) {
    instructions_ = result["instructions"].get<std::string>();
  }
  transport_->SetProtocolVersion(protocol_version_);
  return Notify("notifications/initialized");
}

Status Client::closed_reason() const {
  MutexLock lock(mu_);
  return closed_reason_;
}

void Client::Close() {
  if (!closed_.exchange(true)) {
    MutexLock lock(mu_);
    if (closed_reason_.ok()) closed_reason_ = Unavailable("connection closed by NeuroNaut");
  }
  transport_->Close();
  MutexLock lock(mu_);
  for (auto& [id, p] : pending_) {
    p->done = true;
    p->failure = closed_reason_;
  }
  pending_.clear();
  cv_.notify_all();
}

void Client::OnClosed(const Status& reason) {
  spdlog::warn("mcp: {}: {}", transport_->Describe(), reason.message());
  MutexLock lock(mu_);
  closed_ = true;
  if (closed_reason_.ok()) closed_reason_ = reason;
  for (auto& [id, p] : pending_) {
    p->done = true;
    p->failure = reason;
  }
  pending_.clear();
  cv_.notify_all();
}

Result<Json> Client::Request(const std::string& method, Json params,
                             const RequestOptions& options) {
  if (closed_) return closed_reason().ok() ? Unavailable("not connected") : closed_reason();
  // Servers refuse what nests deeper than they parse (ours do, at the same limit); saying so
  // here beats a parse error without an id that leaves the request to time out.
  if (JsonDepth(params) + 1 > kMaxJsonDepth) {
    return InvalidArgument(method + ": the request would nest deeper than " +
                           std::to_string(kMaxJsonDepth) + " levels, which servers refuse");
  }
  Json id = static_cast<int64_t>(next_id_++);
  auto pending = std::make_shared<Pending>();
  std::string progress_key;
  if (options.on_progress) {
    if (!params.is_object()) params = Json::object();
    Json token = "p-" + DumpJson(id);
    params["_meta"]["progressToken"] = token;
    progress_key = IdKey(token);
    pending->on_progress = options.on_progress;
  }
  {
    MutexLock lock(mu_);
    pending_[IdKey(id)] = pending;
    if (!progress_key.empty()) progress_[progress_key] = pending;
  }
  auto forget = [&] {
    MutexLock lock(mu_);
    pending_.erase(IdKey(id));
    if (!progress_key.empty()) progress_.erase(progress_key);
  };
  if (Status st = transport_->Send(MakeRequest(id, method, std::move(params))); !st.ok()) {
    forget();
    return st.WithContext(method);
  }
  auto timeout = options.timeout.value_or(options_.request_timeout);
  bool done;
  {
    MutexLock lock(mu_);
    done = cv_.wait_for(lock, options.cancel, timeout, [&] { return pending->done; });
  }
  forget();
  if (!done) {
    bool cancelled = options.cancel.stop_requested();
    std::string reason = cancelled ? "cancelled by NeuroNaut" : "timed out";
    (void)transport_->Send(
        MakeNotification("notifications/cancelled", Json{{"requestId", id}, {"reason", reason}}));
    if (cancelled) return Cancelled(method + ": cancelled");
    return DeadlineExceeded(method + ": no answer from " + transport_->Describe() + " within " +
                            std::to_string(timeout.count()) + " ms");
  }
  if (!pending->failure.ok()) return pending->failure.WithContext(method);
  if (pending->error) return ErrorToStatus(method, *pending->error);
  return std::move(pending->result);
}

Status Client::Notify(const std::string& method, Json params) {
  return transport_->Send(MakeNotification(method, std::move(params)));
}

void Client::OnMessage(const Json& raw) {
  Json error_reply;
  auto m = FromJson(raw, &error_reply);
  if (!m) {
    spdlog::warn("mcp: {}: ignored a malformed message: {}", transport_->Describe(),
                 m.error().message());
    return;
  }
  if (m->is_response()) {
    MutexLock lock(mu_);
    if (m->id.is_null()) {
      // An error nobody could tie to a request (the server could not read one of ours, or we
      // refused one of its answers): whichever request it concerns would otherwise wait for
      // its timeout, so every request in flight fails now.
      for (auto& [key, p] : pending_) {
        p->done = true;
        p->error = m->error;
      }
      pending_.clear();
      cv_.notify_all();
      return;
    }
    auto it = pending_.find(IdKey(m->id));
    if (it == pending_.end()) return;  // late answer to a request that timed out
    it->second->done = true;
    if (m->error) {
      it->second->error = m->error;
    } else {
      it->second->result = std::move(m->result);
    }
    pending_.erase(it);
    cv_.notify_all();
    return;
  }
  if (m->is_request()) {
    AnswerServerRequest(*m);
    return;
  }
  const Json& p = m->params;
  if (m->method == "notifications/progress" && p.is_object() && p.contains("progressToken")) {
    std::shared_ptr<Pending> target;
    {
      MutexLock lock(mu_);
      auto it = progress_.find(IdKey(p["progressToken"]));
      if (it != progress_.end()) target = it->second;
    }
    if (target && target->on_progress) {
      double progress = p.value("progress", 0.0);
      double total = p.contains("total") && p["total"].is_number() ? p["total"].get<double>() : -1;
      std::string message =
          p.contains("message") && p["message"].is_string() ? p["message"].get<std::string>() : "";
      target->on_progress(progress, total, message);
    }
  } else if (m->method == "notifications/tools/list_changed") {
    tools_dirty_ = true;
  } else if (m->method == "notifications/message" && p.is_object()) {
    spdlog::debug("mcp: {}: [{}] {}", transport_->Describe(), p.value("level", "info"),
                  p.contains("data") ? DumpJson(p["data"]) : "");
  }
  if (options_.on_notification) options_.on_notification(m->method, p);
}

void Client::AnswerServerRequest(const Message& m) {
  if (closed_) return;
  Json reply;
  if (m.method == "ping") {
    reply = MakeResult(m.id, Json::object());
  } else if (m.method == "roots/list") {
    Json roots = Json::array();
    MutexLock lock(mu_);
    for (const auto& r : roots_) {
      Json j{{"uri", r.uri}};
      if (!r.name.empty()) j["name"] = r.name;
      roots.push_back(std::move(j));
    }
    reply = MakeResult(m.id, Json{{"roots", roots}});
  } else if (options_.on_request) {
    auto r = options_.on_request(m.method, m.params);
    reply = r ? MakeResult(m.id, *r) : MakeError(m.id, StatusToError(r.error()));
  } else if (m.method == "sampling/createMessage" || m.method == "elicitation/create") {
    reply = MakeError(m.id, kMethodNotFound, "NeuroNaut does not support " + m.method + " yet");
  } else {
    reply = MakeError(m.id, kMethodNotFound, "Method not found: " + m.method);
  }
  if (Status st = transport_->Send(reply); !st.ok()) {
    spdlog::warn("mcp: {}: could not answer {}: {}", transport_->Describe(), m.method,
                 st.message());
  }
}

Result<std::vector<Json>> Client::ListAll(const std::string& method, const std::string& key,
                                          const RequestOptions& options) {
  std::vector<Json> all;
  std::string cursor;
  for (int page = 0; page < 10000; ++page) {
    Json params = Json::object();
    if (!cursor.empty()) params["cursor"] = cursor;
    NAUT_ASSIGN_OR_RETURN(Json result, Request(method, params, options));
    if (!result.contains(key) || !result[key].is_array()) {
      return InvalidArgument(method + ": the result has no \"" + key + "\" array");
    }
    for (auto& item : result[key]) all.push_back(std::move(item));
    if (!result.contains("nextCursor") || !result["nextCursor"].is_string()) return all;
    std::string next = result["nextCursor"].get<std::string>();
    if (next.empty() || next == cursor) return all;
    cursor = next;
  }
  return ResourceExhausted(method + ": more than 10000 pages");
}

Result<std::vector<ToolInfo>> Client::ListTools(bool refresh, const RequestOptions& options) {
  if (!refresh && !tools_dirty_) {
    MutexLock lock(mu_);
    return tools_cache_;
  }
  tools_dirty_ = false;
  auto raw = ListAll("tools/list", "tools", options);
  if (!raw) {
    tools_dirty_ = true;
    return raw.error();
  }
  std::vector<ToolInfo> tools;
  for (const Json& t : *raw) {
    auto info = ParseToolInfo(t);
    if (!info) {
      spdlog::warn("mcp: {}: skipped a tool: {}", transport_->Describe(), info.error().message());
      continue;
    }
    tools.push_back(std::move(*info));
  }
  MutexLock lock(mu_);
  tools_cache_ = tools;
  return tools;
}

Result<ToolResult> Client::CallTool(const std::string& name, const Json& arguments,
                                    const RequestOptions& options) {
  Json params{{"name", name}, {"arguments", arguments.is_null() ? Json::object() : arguments}};
  NAUT_ASSIGN_OR_RETURN(Json result, Request("tools/call", std::move(params), options));
  return ParseToolResult(result);
}

Result<std::vector<Json>> Client::ListResources(const RequestOptions& options) {
  return ListAll("resources/list", "resources", options);
}

Result<std::vector<Json>> Client::ListResourceTemplates(const RequestOptions& options) {
  return ListAll("resources/templates/list", "resourceTemplates", options);
}

Result<Json> Client::ReadResource(const std::string& uri, const RequestOptions& options) {
  NAUT_ASSIGN_OR_RETURN(Json result, Request("resources/read", Json{{"uri", uri}}, options));
  if (!result.contains("contents") || !result["contents"].is_array()) {
    return InvalidArgument("resources/read: the result has no \"contents\" array");
  }
  return result["contents"];
}

Result<std::vector<Json>> Client::ListPrompts(const RequestOptions& options) {
  return ListAll("prompts/list", "prompts", options);
}

Result<Json> Client::GetPrompt(const std::string& name, const Json& arguments,
                               const RequestOptions& options) {
  return Request(
      "prompts/get",
      Json{{"name", name}, {"arguments", arguments.is_null() ? Json::object() : arguments}},
      options);
}

Status Client::Ping(const RequestOptions& options) {
  return Request("ping", Json::object(), options).status();
}

Status Client::SetLogLevel(const std::string& level) {
  return Request("logging/setLevel", Json{{"level", level}}).status();
}

Status Client::SetRoots(std::vector<Root> roots) {
  {
    MutexLock lock(mu_);
    roots_ = std::move(roots);
  }
  return Notify("notifications/roots/list_changed");
}

}  // namespace naut::mcp

#include "mcp/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/json_schema.h"
#include "mcp/protocol.h"

namespace naut::mcp {
namespace {

// Pages `items` (already in wire form) by a cursor that is the decimal offset of the page.
Result<Json> Page(const Json& params, const Json& items, size_t page_size, const char* key) {
  size_t offset = 0;
  if (params.is_object() && params.contains("cursor") && !params["cursor"].is_null()) {
    const Json& c = params["cursor"];
    bool ok = c.is_string() && !c.get_ref<const std::string&>().empty();
    if (ok) {
      const std::string& s = c.get_ref<const std::string&>();
      ok = std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; }) &&
           s.size() < 10;
      if (ok) offset = std::stoul(s);
      ok = ok && offset <= items.size();
    }
    if (!ok) return InvalidArgument("invalid cursor " + DumpJson(c));
  }
  Json page = Json::array();
  size_t end = std::min(items.size(), offset + std::max<size_t>(page_size, 1));
  for (size_t i = offset; i < end; ++i) page.push_back(items[i]);
  Json out{{key, std::move(page)}};
  if (end < items.size()) out["nextCursor"] = std::to_string(end);
  return out;
}

Json ResourceContentsToJson(const ResourceContents& c) {
  Json j{{"uri", c.uri}, {"mimeType", c.mime_type}};
  if (c.blob) {
    j["blob"] = *c.blob;
  } else {
    j["text"] = c.text;
  }
  return j;
}

}  // namespace

Json ToolToJson(const Tool& tool) {
  Json j{{"name", tool.name}, {"inputSchema", tool.input_schema}};
  if (!tool.title.empty()) j["title"] = tool.title;
  if (!tool.description.empty()) j["description"] = tool.description;
  if (tool.output_schema) j["outputSchema"] = *tool.output_schema;
  if (tool.annotations.is_object() && !tool.annotations.empty())
    j["annotations"] = tool.annotations;
  return j;
}

Json ToolResultToJson(const ToolResult& result) {
  Json content = Json::array();
  for (const auto& c : result.content) content.push_back(c.data);
  Json j{{"content", std::move(content)}};
  if (result.structured) j["structuredContent"] = *result.structured;
  if (result.is_error) j["isError"] = true;
  return j;
}

bool MatchUriTemplate(const std::string& tmpl, const std::string& uri,
                      std::map<std::string, std::string>* vars) {
  size_t t = 0, u = 0;
  while (t < tmpl.size()) {
    if (tmpl[t] == '{') {
      size_t close = tmpl.find('}', t);
      if (close == std::string::npos) return false;
      std::string name = tmpl.substr(t + 1, close - t - 1);
      t = close + 1;
      // The variable runs up to the next literal character of the template (or the end).
      size_t end;
      if (t >= tmpl.size()) {
        end = uri.size();
      } else {
        end = uri.find(tmpl[t], u);
        if (end == std::string::npos) return false;
      }
      if (end == u) return false;
      if (vars) (*vars)[name] = uri.substr(u, end - u);
      u = end;
    } else {
      if (u >= uri.size() || uri[u] != tmpl[t]) return false;
      ++t;
      ++u;
    }
  }
  return u == uri.size();
}

// ---------------------------------------------------------------------------------------------

Server::Server(ServerDefinition definition, ServerOptions options)
    : options_(options),
      definition_(std::make_shared<const ServerDefinition>(std::move(definition))) {
  if (definition_->watch) {
    auto watch = definition_->watch;
    watcher_ = std::jthread([this, watch](std::stop_token stop) { watch(*this, stop); });
  }
}

Server::~Server() {
  if (watcher_.joinable()) {
    watcher_.request_stop();
    watcher_.join();
  }
}

std::shared_ptr<const ServerDefinition> Server::definition() const {
  MutexLock lock(mu_);
  return definition_;
}

std::shared_ptr<ServerSession> Server::CreateSession(Sink standalone) {
  auto session = std::make_shared<ServerSession>(*this, std::move(standalone));
  MutexLock lock(mu_);
  std::erase_if(sessions_, [](const auto& w) { return w.expired(); });
  sessions_.push_back(session);
  return session;
}

std::vector<std::shared_ptr<ServerSession>> Server::LiveSessions() {
  std::vector<std::shared_ptr<ServerSession>> live;
  MutexLock lock(mu_);
  for (auto& w : sessions_)
    if (auto s = w.lock()) live.push_back(std::move(s));
  return live;
}

void Server::NotifyResourceUpdated(const std::string& uri) {
  for (auto& s : LiveSessions()) {
    if (s->subscribed(uri))
      s->NotifyStandalone("notifications/resources/updated", Json{{"uri", uri}});
  }
}

void Server::Change(ListKind kind, const std::function<bool(ServerDefinition&)>& edit) {
  MutexLock order(change_mu_);
  {
    MutexLock lock(mu_);
    auto next = std::make_shared<ServerDefinition>(*definition_);
    if (!edit(*next)) return;
    definition_ = std::move(next);
  }
  for (auto& s : LiveSessions()) s->NotifyListChanged(kind);
}

void Server::SetTools(std::vector<Tool> tools) {
  Change(ListKind::kTools, [&](ServerDefinition& d) {
    d.tools = std::move(tools);
    return true;
  });
}

void Server::AddTool(Tool tool) {
  Change(ListKind::kTools, [&](ServerDefinition& d) {
    auto it = std::find_if(d.tools.begin(), d.tools.end(),
                           [&](const Tool& t) { return t.name == tool.name; });
    if (it != d.tools.end()) {
      *it = std::move(tool);
    } else {
      d.tools.push_back(std::move(tool));
    }
    return true;
  });
}

bool Server::RemoveTool(const std::string& name) {
  bool removed = false;
  Change(ListKind::kTools, [&](ServerDefinition& d) {
    removed = std::erase_if(d.tools, [&](const Tool& t) { return t.name == name; }) > 0;
    return removed;
  });
  return removed;
}

void Server::SetResources(std::vector<Resource> resources,
                          std::vector<ResourceTemplate> templates) {
  Change(ListKind::kResources, [&](ServerDefinition& d) {
    d.resources = std::move(resources);
    d.resource_templates = std::move(templates);
    return true;
  });
}

void Server::SetPrompts(std::vector<Prompt> prompts) {
  Change(ListKind::kPrompts, [&](ServerDefinition& d) {
    d.prompts = std::move(prompts);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------

ServerSession::ServerSession(Server& server, Sink standalone)
    : server_(server), standalone_(std::move(standalone)) {}

ServerSession::~ServerSession() { Close(); }

void ServerSession::Close() {
  closed_ = true;
  // Waits for notifications already being written; later ones see closed_.
  { std::unique_lock sending(standalone_send_mu_); }
  MutexLock lock(mu_);
  for (auto& [id, source] : running_) source.request_stop();
  for (auto& [id, pending] : pending_) {
    pending->done = true;
    pending->response.error = RpcError{kInternalError, "session closed", nullptr};
  }
  pending_cv_.notify_all();
}

std::string ServerSession::protocol_version() const {
  MutexLock lock(mu_);
  return protocol_version_;
}

bool ServerSession::batches_allowed() const {
  MutexLock lock(mu_);
  return BatchesAllowed(protocol_version_);
}

bool ServerSession::subscribed(const std::string& uri) const {
  MutexLock lock(mu_);
  return subscriptions_.count(uri) > 0;
}

void ServerSession::SetStandaloneSink(Sink sink) {
  MutexLock lock(mu_);
  standalone_ = std::move(sink);
}

void ServerSession::NotifyStandalone(std::string_view method, Json params) {
  Sink sink;
  {
    MutexLock lock(mu_);
    sink = standalone_;
  }
  std::shared_lock sending(standalone_send_mu_);
  if (sink && !closed_) sink(MakeNotification(method, std::move(params)));
}

void ServerSession::NotifyListChanged(ListKind kind) {
  if (!initialized_ || !(list_changed_declared_ & (1u << static_cast<unsigned>(kind)))) return;
  const char* method = kind == ListKind::kTools       ? "notifications/tools/list_changed"
                       : kind == ListKind::kResources ? "notifications/resources/list_changed"
                                                      : "notifications/prompts/list_changed";
  NotifyStandalone(method, nullptr);
}

void ServerSession::HandleMessage(const Message& m, const Sink& reply,
                                  const std::function<void()>& close_stream) {
  if (closed_) return;
  if (m.is_response()) {
    MutexLock lock(mu_);
    auto it = pending_.find(IdKey(m.id));
    if (it == pending_.end()) {
      spdlog::debug("mcp server: response to unknown request {}", DumpJson(m.id));
      return;
    }
    it->second->done = true;
    it->second->response = m;
    pending_.erase(it);
    pending_cv_.notify_all();
    return;
  }
  if (m.is_notification()) {
    if (m.method == "notifications/initialized") {
      initialized_ = true;
    } else if (m.method == "notifications/cancelled") {
      if (m.params.is_object() && m.params.contains("requestId")) {
        MutexLock lock(mu_);
        auto it = running_.find(IdKey(m.params["requestId"]));
        if (it != running_.end()) it->second.request_stop();
      }
    }
    // Other notifications (roots/list_changed, progress) need no action from a generic server.
    return;
  }
  std::stop_source cancel;
  std::string key = IdKey(m.id);
  {
    MutexLock lock(mu_);
    if (running_.count(key)) {
      reply(MakeError(m.id, kInvalidRequest,
                      "Invalid Request: id " + DumpJson(m.id) + " is already in use"));
      return;
    }
    running_.emplace(key, cancel);
  }
  Json response = HandleRequest(m, reply, cancel.get_token(), close_stream);
  {
    MutexLock lock(mu_);
    running_.erase(key);
  }
  // A cancelled request gets no response (the client has stopped waiting for it).
  if (!cancel.stop_requested() && !closed_) reply(response);
}

Json ServerSession::HandleRequest(const Message& m, const Sink& reply, std::stop_token cancel,
                                  const std::function<void()>& close_stream) {
  auto snapshot = server_.definition();
  const ServerDefinition& def = *snapshot;
  const Json empty = Json::object();
  const Json& params = m.params.is_object() ? m.params : empty;
  if (!m.params.is_null() && !m.params.is_object()) {
    return MakeError(m.id, kInvalidParams, "Invalid params: " + m.method + " takes an object");
  }
  auto answer = [&](Result<Json> r) {
    if (r) return MakeResult(m.id, std::move(*r));
    RpcError e = StatusToError(r.error());
    return MakeError(m.id, e);
  };
  const std::string& method = m.method;
  if (method == "initialize") return answer(Initialize(params));
  if (method == "ping") return MakeResult(m.id, Json::object());
  if (method == "tools/list") {
    Json items = Json::array();
    for (const auto& t : def.tools) items.push_back(ToolToJson(t));
    return answer(Page(params, items, server_.options().page_size, "tools"));
  }
  if (method == "tools/call") {
    Json meta = params.contains("_meta") ? params["_meta"] : Json::object();
    return answer(CallTool(params, meta, reply, cancel, close_stream));
  }
  if (method == "resources/list") {
    Json items = Json::array();
    for (const auto& r : def.resources) {
      Json j{{"uri", r.uri}, {"name", r.name}, {"mimeType", r.mime_type}};
      if (!r.description.empty()) j["description"] = r.description;
      items.push_back(std::move(j));
    }
    return answer(Page(params, items, server_.options().page_size, "resources"));
  }
  if (method == "resources/templates/list") {
    Json items = Json::array();
    for (const auto& r : def.resource_templates) {
      Json j{{"uriTemplate", r.uri_template}, {"name", r.name}, {"mimeType", r.mime_type}};
      if (!r.description.empty()) j["description"] = r.description;
      items.push_back(std::move(j));
    }
    return answer(Page(params, items, server_.options().page_size, "resourceTemplates"));
  }
  if (method == "resources/read") {
    auto r = ReadResource(params);
    if (!r && r.error().code() == Code::kNotFound) {
      return MakeError(m.id, kResourceNotFound, r.error().message(),
                       Json{{"uri", params.value("uri", Json(nullptr))}});
    }
    return answer(std::move(r));
  }
  if (method == "resources/subscribe" || method == "resources/unsubscribe") {
    auto uri = GetString(params, "uri", method + " params");
    if (!uri) return answer(uri.error());
    MutexLock lock(mu_);
    if (method == "resources/subscribe") {
      subscriptions_.insert(*uri);
    } else {
      subscriptions_.erase(*uri);
    }
    return MakeResult(m.id, Json::object());
  }
  if (method == "prompts/list") {
    Json items = Json::array();
    for (const auto& p : def.prompts) {
      Json args = Json::array();
      for (const auto& a : p.arguments) {
        Json aj{{"name", a.name}, {"required", a.required}};
        if (!a.description.empty()) aj["description"] = a.description;
        args.push_back(std::move(aj));
      }
      Json j{{"name", p.name}, {"arguments", std::move(args)}};
      if (!p.title.empty()) j["title"] = p.title;
      if (!p.description.empty()) j["description"] = p.description;
      items.push_back(std::move(j));
    }
    return answer(Page(params, items, server_.options().page_size, "prompts"));
  }
  if (method == "prompts/get") return answer(GetPrompt(params));
  if (method == "completion/complete") return answer(Complete(params));
  if (method == "logging/setLevel") {
    auto level = GetString(params, "level", "logging/setLevel params");
    if (!level) return answer(level.error());
    int rank = LogLevelRank(*level);
    if (rank < 0) {
      return MakeError(
          m.id, kInvalidParams,
          "Invalid params: unknown level '" + *level +
              "'; expected debug, info, notice, warning, error, critical, alert or emergency");
    }
    log_rank_ = rank;
    return MakeResult(m.id, Json::object());
  }
  return MakeError(m.id, kMethodNotFound, "Method not found: " + method);
}

Result<Json> ServerSession::Initialize(const Json& params) {
  auto snapshot = server_.definition();
  const ServerDefinition& def = *snapshot;
  std::string requested = params.value("protocolVersion", "");
  if (!params.contains("protocolVersion") || !params["protocolVersion"].is_string()) {
    return InvalidArgument("initialize: \"protocolVersion\" (a string) is required");
  }
  // The client's version when we speak it; otherwise our newest, and the client decides.
  std::string version =
      IsSupportedProtocolVersion(requested) ? requested : std::string(kLatestProtocolVersion);
  {
    MutexLock lock(mu_);
    protocol_version_ = version;
    if (params.contains("capabilities") && params["capabilities"].is_object()) {
      client_capabilities_ = params["capabilities"];
    }
  }
  Json caps = Json::object();
  caps["logging"] = Json::object();
  caps["completions"] = Json::object();
  unsigned declared = 0;
  if (!def.tools.empty() || def.dynamic_tools) {
    caps["tools"] = Json{{"listChanged", true}};
    declared |= 1u << static_cast<unsigned>(ListKind::kTools);
  }
  if (!def.resources.empty() || !def.resource_templates.empty() || def.dynamic_resources) {
    caps["resources"] = Json{{"subscribe", true}, {"listChanged", true}};
    declared |= 1u << static_cast<unsigned>(ListKind::kResources);
  }
  if (!def.prompts.empty() || def.dynamic_prompts) {
    caps["prompts"] = Json{{"listChanged", true}};
    declared |= 1u << static_cast<unsigned>(ListKind::kPrompts);
  }
  list_changed_declared_ = declared;
  Json info{{"name", def.name}, {"version", def.version}};
  if (!def.title.empty()) info["title"] = def.title;
  Json out{{"protocolVersion", version}, {"capabilities", caps}, {"serverInfo", info}};
  if (!def.instructions.empty()) out["instructions"] = def.instructions;
  return out;
}

Result<Json> ServerSession::CallTool(const Json& params, const Json& meta, const Sink& reply,
                                     std::stop_token cancel,
                                     const std::function<void()>& close_stream) {
  NAUT_ASSIGN_OR_RETURN(std::string name, GetString(params, "name", "tools/call params"));
  // The snapshot keeps this tool's handler alive even if the tool is removed meanwhile.
  auto snapshot = server_.definition();
  const auto& tools = snapshot->tools;
  auto it = std::find_if(tools.begin(), tools.end(), [&](const Tool& t) { return t.name == name; });
  if (it == tools.end()) return InvalidArgument("Unknown tool: " + name);
  Json arguments = params.contains("arguments") ? params["arguments"] : Json::object();
  if (arguments.is_null()) arguments = Json::object();
  if (!arguments.is_object()) {
    return Json(ToolResultToJson(ToolResult::Error("Invalid arguments for tool " + name +
                                                   ": arguments must be an object, got " +
                                                   std::string(JsonTypeName(arguments)))));
  }
  if (Status st = ValidateJson(arguments, it->input_schema, "arguments"); !st.ok()) {
    return Json(ToolResultToJson(
        ToolResult::Error("Invalid arguments for tool " + name + ": " + st.message())));
  }
  if (!it->handler) return Unimplemented("tool " + name + " has no handler");

  ToolContext ctx;
  ctx.cancel = cancel;
  {
    MutexLock lock(mu_);
    ctx.client_capabilities = client_capabilities_;
  }
  if (meta.is_object() && meta.contains("progressToken")) {
    const Json& token = meta["progressToken"];
    ctx.progress = [this, token, reply](double done, double total, const std::string& message) {
      if (closed_) return;
      Json p{{"progressToken", token}, {"progress", done}};
      if (total >= 0) p["total"] = total;
      if (!message.empty()) p["message"] = message;
      reply(MakeNotification("notifications/progress", std::move(p)));
    };
  }
  ctx.log = [this, reply, name](const std::string& level, const Json& data) {
    int rank = LogLevelRank(level);
    if (closed_ || rank < log_rank_) return;
    reply(MakeNotification(
        "notifications/message",
        Json{{"level", rank < 0 ? "info" : level}, {"logger", name}, {"data", data}}));
  };
  ctx.request = [this, reply, cancel](const std::string& method, const Json& p) {
    return SendClientRequest(method, p, reply, cancel);
  };

  if (close_stream) ctx.close_stream = close_stream;

  ToolResult result;
  try {
    std::unique_lock<Mutex> serial;
    if (server_.options().serialize_tool_calls) serial = std::unique_lock(tool_mu_);
    result = it->handler(arguments, ctx);
  } catch (const std::exception& e) {
    // Handlers should not throw; if one does, the client gets an answer and the server lives.
    spdlog::error("mcp server: tool {} threw: {}", name, e.what());
    result = ToolResult::Error("tool " + name + " failed: " + e.what());
  }
  if (it->output_schema && result.structured && !result.is_error) {
    if (Status st = ValidateJson(*result.structured, *it->output_schema, "structuredContent");
        !st.ok()) {
      return Internal("tool " + name +
                      " produced output that does not match its outputSchema: " + st.message());
    }
  }
  return ToolResultToJson(result);
}

Result<Json> ServerSession::SendClientRequest(const std::string& method, const Json& params,
                                              const Sink& reply, std::stop_token cancel) {
  if (closed_) return Unavailable("session closed");
  Json id = "srv-" + std::to_string(next_id_++);
  auto pending = std::make_shared<Pending>();
  {
    MutexLock lock(mu_);
    pending_[IdKey(id)] = pending;
  }
  reply(MakeRequest(id, method, params));
  MutexLock lock(mu_);
  bool done = pending_cv_.wait_for(lock, cancel, server_.options().client_request_timeout,
                                   [&] { return pending->done; });
  if (!done) {
    pending_.erase(IdKey(id));
    lock.unlock();
    reply(MakeNotification("notifications/cancelled",
                           Json{{"requestId", id}, {"reason", "timed out or cancelled"}}));
    if (cancel.stop_requested()) return Cancelled(method + ": cancelled");
    return DeadlineExceeded(method + ": the client did not answer in time");
  }
  if (pending->response.error) return ErrorToStatus(method, *pending->response.error);
  return pending->response.result;
}

Result<Json> ServerSession::ReadResource(const Json& params) {
  NAUT_ASSIGN_OR_RETURN(std::string uri, GetString(params, "uri", "resources/read params"));
  auto snapshot = server_.definition();
  const ServerDefinition& def = *snapshot;
  Result<ResourceContents> contents = NotFound("Resource not found: " + uri);
  bool found = false;
  for (const auto& r : def.resources) {
    if (r.uri == uri && r.read) {
      contents = r.read();
      found = true;
      break;
    }
  }
  if (!found) {
    for (const auto& t : def.resource_templates) {
      std::map<std::string, std::string> vars;
      if (t.read && MatchUriTemplate(t.uri_template, uri, &vars)) {
        contents = t.read(uri, vars);
        break;
      }
    }
  }
  if (!contents) return contents.error();
  if (contents->uri.empty()) contents->uri = uri;
  return Json{{"contents", Json::array({ResourceContentsToJson(*contents)})}};
}

Result<Json> ServerSession::GetPrompt(const Json& params) {
  NAUT_ASSIGN_OR_RETURN(std::string name, GetString(params, "name", "prompts/get params"));
  auto snapshot = server_.definition();
  const auto& prompts = snapshot->prompts;
  auto it =
      std::find_if(prompts.begin(), prompts.end(), [&](const Prompt& p) { return p.name == name; });
  if (it == prompts.end()) return InvalidArgument("Unknown prompt: " + name);
  std::map<std::string, std::string> args;
  if (params.contains("arguments") && params["arguments"].is_object()) {
    for (const auto& [k, v] : params["arguments"].items()) {
      if (!v.is_string())
        return InvalidArgument("prompt " + name + ": argument '" + k + "' must be a string");
      args[k] = v.get<std::string>();
    }
  }
  for (const auto& a : it->arguments) {
    if (a.required && !args.count(a.name)) {
      return InvalidArgument("prompt " + name + ": missing required argument '" + a.name + "'");
    }
  }
  if (!it->get) return Unimplemented("prompt " + name + " has no handler");
  NAUT_ASSIGN_OR_RETURN(PromptResult r, it->get(args));
  Json out{{"messages", r.messages}};
  if (!r.description.empty()) out["description"] = r.description;
  return out;
}

Result<Json> ServerSession::Complete(const Json& params) {
  if (!params.contains("ref") || !params["ref"].is_object())
    return InvalidArgument("completion/complete: \"ref\" (an object) is required");
  if (!params.contains("argument") || !params["argument"].is_object()) {
    return InvalidArgument("completion/complete: \"argument\" (an object) is required");
  }
  const Json& arg = params["argument"];
  std::string name = arg.value("name", "");
  std::string value =
      arg.contains("value") && arg["value"].is_string() ? arg["value"].get<std::string>() : "";
  Json context = params.contains("context") ? params["context"] : Json::object();
  std::vector<std::string> values;
  auto snapshot = server_.definition();
  const CompletionHandler& complete = snapshot->complete;
  if (complete) {
    NAUT_ASSIGN_OR_RETURN(values, complete(params["ref"], name, value, context));
  }
  // The specification caps one answer at 100 values.
  size_t total = values.size();
  if (values.size() > 100) values.resize(100);
  return Json{{"completion",
               Json{{"values", values}, {"total", total}, {"hasMore", total > values.size()}}}};
}

}  // namespace naut::mcp

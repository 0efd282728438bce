#include "mcp/hub.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/cancel.h"
#include "mcp/http_client.h"
#include "mcp/stdio.h"

namespace naut::mcp {

using Clock = std::chrono::steady_clock;

std::string_view ServerStateName(ServerState state) {
  switch (state) {
    case ServerState::kDisabled:
      return "disabled";
    case ServerState::kNotStarted:
      return "not started";
    case ServerState::kConnected:
      return "connected";
    case ServerState::kDown:
      return "down";
  }
  return "?";
}

HubOptions HubOptionsFrom(const Config& config) {
  HubOptions o;
  o.call_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(config.mcp.call_timeout_s * 1000));
  o.connect_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(config.mcp.connect_timeout_s * 1000));
  return o;
}

Result<std::unique_ptr<ClientTransport>> MakeTransport(const McpServerConfig& config) {
  if (config.is_http()) {
    HttpClientOptions o;
    o.url = config.url;
    o.headers = config.headers;
    return std::unique_ptr<ClientTransport>(std::make_unique<HttpClientTransport>(config.name, o));
  }
  if (config.command.empty())
    return InvalidArgument("mcp server '" + config.name + "' has neither command nor url");
  return std::unique_ptr<ClientTransport>(
      std::make_unique<StdioClientTransport>(config.name, SpawnOptionsFor(config)));
}

ClientManager::ClientManager(std::vector<McpServerConfig> servers, HubOptions options)
    : options_(std::move(options)) {
  if (!options_.make_transport) options_.make_transport = MakeTransport;
  options_.client.request_timeout = options_.call_timeout;
  options_.client.connect_timeout = options_.connect_timeout;
  for (auto& s : servers) {
    std::string name = s.name;
    Entry e;
    e.config = std::move(s);
    if (e.config.disabled) {
      e.state = ServerState::kDisabled;
    } else if (HasToolNameSeparator(name) || name.empty()) {
      e.state = ServerState::kDown;
      e.detail =
          "server name '" + name +
          "' must be non-empty and must not contain \"__\" (tool names are <server>__<tool>)";
      e.next_attempt = Clock::time_point::max();
    }
    if (entries_.emplace(name, std::move(e)).second) order_.push_back(name);
  }
}

ClientManager::~ClientManager() {
  if (supervisor_.joinable()) {
    supervisor_.request_stop();
    supervisor_.join();
  }
  std::vector<std::shared_ptr<Client>> clients;
  {
    MutexLock lock(mu_);
    for (auto& [name, e] : entries_)
      if (e.client) clients.push_back(std::move(e.client));
  }
  for (auto& c : clients) c->Close();
}

void ClientManager::NoteDown(Entry& e, const Status& why) {
  e.state = ServerState::kDown;
  e.detail = why.message();
  // Short-lived connections count as failures too, so a crash loop backs off.
  if (e.connected_at != Clock::time_point{} &&
      Clock::now() - e.connected_at > std::chrono::seconds(30))
    e.failures = 0;
  ++e.failures;
  auto delay = options_.backoff_initial * (1LL << std::min(e.failures - 1, 16));
  if (delay > options_.backoff_max) delay = options_.backoff_max;
  e.next_attempt = Clock::now() + delay;
}

Result<std::shared_ptr<Client>> ClientManager::Connect(Entry& e) {
  MutexLock lock(mu_);
  // Another thread is connecting this server: wait for it rather than start a second process.
  cv_.wait(lock, [&] { return !e.connecting; });
  if (e.client && e.client->connected()) return e.client;
  if (e.state == ServerState::kDisabled)
    return FailedPrecondition("mcp server '" + e.config.name + "' is disabled");
  if (e.client) {
    NoteDown(e, e.client->closed_reason());
    e.client.reset();
  }
  auto now = Clock::now();
  if (now < e.next_attempt) {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(e.next_attempt - now).count();
    std::string when = e.next_attempt == Clock::time_point::max()
                           ? "it will not be retried"
                           : "next restart in " + std::to_string(wait) + " ms";
    return Unavailable("mcp server '" + e.config.name + "' is down (" + e.detail + "); " + when);
  }
  bool restart = e.state == ServerState::kDown;
  e.connecting = true;
  McpServerConfig config = e.config;
  lock.unlock();
  Result<std::shared_ptr<Client>> client = Unavailable("not connected");
  auto transport = options_.make_transport(config);
  if (!transport) {
    client = transport.error();
  } else {
    auto c = Client::Connect(std::move(*transport), options_.client);
    if (c) {
      client = std::shared_ptr<Client>(std::move(*c));
    } else {
      client = c.error();
    }
  }
  lock.lock();
  e.connecting = false;
  cv_.notify_all();
  if (restart) ++e.restarts;
  if (!client) {
    e.connected_at = {};
    NoteDown(e, client.error());
    spdlog::warn("mcp: server '{}' failed to start: {}", e.config.name, client.error().message());
    return client.error().WithContext("mcp server '" + e.config.name + "'");
  }
  e.client = *client;
  e.state = ServerState::kConnected;
  e.connected_at = Clock::now();
  const Json& info = (*client)->server_info();
  e.detail = info.value("name", std::string("?")) + " " + info.value("version", std::string());
  return e.client;
}

void ClientManager::ConnectAll() {
  std::vector<std::thread> threads;
  for (const auto& name : order_) {
    {
      MutexLock lock(mu_);
      if (entries_[name].state == ServerState::kDisabled) continue;
    }
    threads.emplace_back([this, name] { (void)Session(name); });
  }
  for (auto& t : threads) t.join();
}

void ClientManager::StartSupervisor(std::chrono::milliseconds period) {
  if (supervisor_.joinable()) return;
  supervisor_ = std::jthread([this, period](std::stop_token stop) {
    while (SleepFor(period, stop)) {
      for (const auto& name : order_) {
        bool wanted;
        {
          MutexLock lock(mu_);
          const Entry& e = entries_[name];
          wanted = e.state != ServerState::kDisabled && e.state != ServerState::kNotStarted &&
                   !(e.client && e.client->connected()) && Clock::now() >= e.next_attempt &&
                   !e.connecting;
        }
        if (wanted && !stop.stop_requested()) (void)Session(name);
      }
    }
  });
}

std::vector<ServerStatus> ClientManager::Statuses() const {
  std::vector<ServerStatus> out;
  MutexLock lock(mu_);
  for (const auto& name : order_) {
    const Entry& e = entries_.at(name);
    ServerStatus s;
    s.name = name;
    if (e.config.is_http()) {
      s.target = e.config.url;
    } else {
      s.target = e.config.command;
      for (const auto& a : e.config.args) s.target += " " + a;
    }
    s.state = e.state;
    s.detail = e.detail;
    s.restarts = e.restarts;
    if (e.client && !e.client->connected()) {
      s.state = ServerState::kDown;
      s.detail = e.client->closed_reason().message();
    }
    if (e.client && s.state == ServerState::kConnected)
      s.protocol_version = e.client->protocol_version();
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::shared_ptr<Client>> ClientManager::Session(const std::string& server) {
  Entry* entry = nullptr;
  {
    MutexLock lock(mu_);
    auto it = entries_.find(server);
    if (it != entries_.end()) entry = &it->second;
  }
  if (entry == nullptr) {
    std::string known;
    for (const auto& n : order_) known += (known.empty() ? "" : ", ") + n;
    return NotFound("no mcp server named '" + server +
                    "' (configured: " + (known.empty() ? "none" : known) + ")");
  }
  return Connect(*entry);
}

Result<std::vector<ToolInfo>> ClientManager::ListTools(const std::string& server) {
  NAUT_ASSIGN_OR_RETURN(auto client, Session(server));
  RequestOptions ro;
  return client->ListTools(false, ro);
}

std::vector<QualifiedTool> ClientManager::ListTools() {
  std::vector<QualifiedTool> out;
  for (const auto& name : order_) {
    {
      MutexLock lock(mu_);
      if (entries_[name].state == ServerState::kDisabled) continue;
    }
    auto tools = ListTools(name);
    if (!tools) {
      spdlog::warn("mcp: tools of '{}' unavailable: {}", name, tools.error().message());
      continue;
    }
    for (auto& t : *tools) {
      std::string q = JoinToolName(name, t.name);
      out.push_back({std::move(q), name, std::move(t)});
    }
  }
  return out;
}

Result<std::pair<std::string, std::string>> ClientManager::SplitToolName(
    const std::string& qualified) {
  auto parts = naut::SplitToolName(qualified);
  if (!parts || parts->server.empty() || parts->tool.empty()) {
    return InvalidArgument("tool name '" + qualified + "' is not of the form <server>__<tool>");
  }
  return std::make_pair(std::move(parts->server), std::move(parts->tool));
}

Result<ToolResult> ClientManager::CallTool(const std::string& qualified, const Json& arguments,
                                           const RequestOptions& options) {
  NAUT_ASSIGN_OR_RETURN(auto names, SplitToolName(qualified));
  NAUT_ASSIGN_OR_RETURN(auto client, Session(names.first));
  auto r = client->CallTool(names.second, arguments, options);
  if (!r && !client->connected()) {
    MutexLock lock(mu_);
    Entry& e = entries_[names.first];
    if (e.client == client) {
      NoteDown(e, client->closed_reason());
      e.client.reset();
    }
  }
  return r;
}

}  // namespace naut::mcp

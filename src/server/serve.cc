#include "server/serve.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <thread>

#include "envs/registry.h"
#include "mcp/http_server.h"
#include "mcp/jsonrpc.h"
#include "mcp/server.h"
#include "server/api/api.h"
#include "server/guard.h"
#include "server/v1/model_server.h"
#include "server/web/static_files.h"

namespace naut::server {

using namespace std::chrono_literals;

struct Serve::Impl {
  ServeOptions options;
  Config config;
  httplib::Server http;
  std::unique_ptr<Guard> guard;
  std::unique_ptr<Api> api;
  std::unique_ptr<mcp::Server> mcp_server;
  std::unique_ptr<mcp::HttpServer> mcp_http;
  std::unique_ptr<ModelServer> models;
  std::string model_note;
  std::thread thread;
  std::atomic<bool> listen_returned{false};
  int port = -1;
  bool stopped = false;
};

Serve::Serve(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Serve::~Serve() { Stop(); }

Result<std::unique_ptr<Serve>> Serve::Open(const Config& config, ServeOptions options) {
  if (!IsLoopbackHost(options.host) && options.token.empty()) {
    return InvalidArgument("serve: binding " + options.host +
                           " (not loopback) needs a token (--token)");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->config = config;
  Impl& s = *impl;
  const ServeOptions& o = s.options;

  // Every /v1 slot and queued request holds a connection thread while it waits.
  int threads = std::max(o.threads, o.model.empty() ? 8 : o.parallel + o.queue + 8);
  s.http.new_task_queue = [threads] {
    return new httplib::ThreadPool(static_cast<size_t>(threads));
  };
  s.http.set_payload_max_length(16 * 1024 * 1024);
  s.http.set_read_timeout(30, 0);
  s.http.set_write_timeout(30, 0);
  s.guard = std::make_unique<Guard>(GuardOptions{.host = o.host,
                                                 .token = o.token,
                                                 .allowed_hosts = o.allowed_hosts,
                                                 .allowed_origins = o.allowed_origins,
                                                 .rate_per_s = o.rate_per_s,
                                                 .burst = o.burst});
  Guard* guard = s.guard.get();
  s.http.set_pre_routing_handler([guard](const httplib::Request& req, httplib::Response& res) {
    return guard->Check(req, res);
  });
  s.http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown error";
        try {
          std::rethrow_exception(std::move(ep));
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        JsonError(res, 500, "Internal error: " + what);
      });
  // Answers httplib makes itself (404 for a method no route takes, 413, 400) get a JSON body.
  s.http.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        JsonError(res, res.status,
                  "HTTP " + std::to_string(res.status) + " for " + req.method + " " + req.path);
        return httplib::Server::HandlerResponse::Handled;
      }));

  // /mcp: a built-in MCP server on this port.
  std::string mcp_path;
  if (!o.mcp_server.empty()) {
    NAUT_ASSIGN_OR_RETURN(const envs::BuiltinServer* entry, envs::FindBuiltinServer(o.mcp_server));
    auto definition = entry->make(config);
    if (!definition) return definition.error().WithContext("serve: mcp server " + o.mcp_server);
    s.mcp_server = std::make_unique<mcp::Server>(std::move(*definition));
    mcp::HttpServerOptions mcp_options;
    mcp_options.host = o.host;
    mcp_options.allowed_hosts = o.allowed_hosts;
    mcp_options.allowed_origins = o.allowed_origins;
    s.mcp_http = std::make_unique<mcp::HttpServer>(*s.mcp_server, mcp_options);
    NAUT_RETURN_IF_ERROR(s.mcp_http->Mount(s.http));
    mcp_path = mcp_options.path;
  }

  // /v1 (and llama-server's /health, /props, /slots, /metrics): the embedded engine serving
  // a GGUF, when one is given.
  if (!o.model.empty()) {
    NAUT_ASSIGN_OR_RETURN(s.models, ModelServer::Open({.model_path = o.model,
                                                       .threads = o.model_threads,
                                                       .context_size = o.ctx_size,
                                                       .parallel = o.parallel,
                                                       .queue_size = o.queue,
                                                       .chat_format = o.chat_format,
                                                       .chat_template = o.chat_template,
                                                       .pooling = o.pooling,
                                                       .kv_cache = o.kv_cache}));
    s.models->Mount(s.http);
  } else {
    s.model_note =
        "no model is served at /v1: start serve with --model FILE.gguf (or set [server] model)";
    for (const char* path : {"/v1/.*", "/health", "/props", "/slots", "/metrics"}) {
      auto not_served = [&s](const httplib::Request&, httplib::Response& res) {
        JsonError(res, 501, "Not Implemented: " + s.model_note);
      };
      s.http.Get(path, not_served);
      s.http.Post(path, not_served);
    }
  }

  s.api = std::make_unique<Api>(ApiOptions{.config = config,
                                           .run_command = o.run_command,
                                           .mcp_path = mcp_path,
                                           .mcp_server = o.mcp_server,
                                           .model_server = o.model,
                                           .model_server_note = s.model_note});
  s.api->Mount(s.http);
  MountStaticFiles(s.http);
  return std::unique_ptr<Serve>(new Serve(std::move(impl)));
}

Status Serve::Start() {
  Impl& s = *impl_;
  if (s.port >= 0) return FailedPrecondition("serve: already started");
  int port = s.options.port;
  if (port == 0) {
    port = s.http.bind_to_any_port(s.options.host);
  } else if (!s.http.bind_to_port(s.options.host, port)) {
    port = -1;
  }
  if (port < 0) {
    return Unavailable("serve: cannot listen on " + s.options.host + ":" +
                       std::to_string(s.options.port) + " (address in use or not a local address)");
  }
  s.port = port;
  s.thread = std::thread([&s] {
    s.http.listen_after_bind();
    s.listen_returned = true;
  });
  return Status::Ok();
}

void Serve::Stop() {
  if (!impl_ || impl_->stopped) return;
  Impl& s = *impl_;
  s.stopped = true;
  // Streams first: an open SSE or MCP stream holds a request thread that httplib's stop waits
  // for.
  if (s.api) s.api->Stop();
  if (s.mcp_http) s.mcp_http->Stop();
  // Cancels what /v1 generates, so the request threads waiting on it return.
  if (s.models) s.models->Stop();
  if (s.thread.joinable()) {
    // stop() is ignored until the listen loop runs; repeat it until the loop has returned.
    while (!s.listen_returned) {
      s.http.stop();
      std::this_thread::sleep_for(1ms);
    }
    s.thread.join();
  }
  s.api.reset();  // stops runs this server started
  s.models.reset();
}

Status Serve::WaitModelLoaded() {
  return impl_->models ? impl_->models->WaitLoaded() : Status::Ok();
}

int Serve::port() const { return impl_->port; }

std::string Serve::url() const {
  std::string host = impl_->options.host;
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(impl_->port);
}

std::string Serve::mcp_path() const { return impl_->mcp_http ? "/mcp" : ""; }
bool Serve::serves_models() const { return impl_->models != nullptr; }
std::string Serve::model_note() const { return impl_->model_note; }

}  // namespace naut::server

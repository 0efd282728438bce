#include "mcp/http_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <random>
#include <utility>

#include "core/ids.h"
#include "core/mutex.h"
#include "mcp/protocol.h"

namespace naut::mcp {
namespace {

using namespace std::chrono_literals;

// One SSE stream's events, kept so that a client that lost the connection (or was asked to
// reconnect) can replay them with Last-Event-ID.
struct EventStream {
  std::string id;  // set before the stream is shared, then read-only
  Mutex mu;
  std::condition_variable_any cv;
  std::vector<std::string> events GUARDED_BY(mu);  // data of event i, id "<stream id>_<i>"
  size_t first GUARDED_BY(mu) = 0;       // index of events[0] (old standalone events are dropped)
  bool finished GUARDED_BY(mu) = false;  // the last response is in
  uint64_t disconnects GUARDED_BY(mu) = 0;  // bumped when the server asks the connection to close
  bool attached GUARDED_BY(mu) = false;     // a connection is writing this stream
};

struct HttpSession {
  std::string id;
  std::shared_ptr<ServerSession> session;
  Mutex mu;
  std::map<std::string, std::shared_ptr<EventStream>> streams GUARDED_BY(mu);
  std::deque<std::string> finished_order GUARDED_BY(mu);  // for eviction
  std::shared_ptr<EventStream> standalone = std::make_shared<EventStream>();
  uint64_t next_stream GUARDED_BY(mu) = 1;
};

constexpr size_t kKeptFinishedStreams = 64;
constexpr size_t kKeptStandaloneEvents = 1000;

std::string SseEvent(const std::string& id, const std::string& data) {
  return "event: message\nid: " + id + "\ndata: " + data + "\n\n";
}

void Push(EventStream& s, const Json& message) {
  MutexLock lock(s.mu);
  s.events.push_back(DumpJson(message));
  if (s.id == "standalone" && s.events.size() > kKeptStandaloneEvents) {
    s.events.erase(s.events.begin());
    ++s.first;
  }
  s.cv.notify_all();
}

std::string HostOnly(std::string host) {
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    return close == std::string::npos ? host : host.substr(0, close + 1);
  }
  size_t colon = host.rfind(':');
  if (colon != std::string::npos) host = host.substr(0, colon);
  return host;
}

bool IsLoopbackName(const std::string& host) {
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]" || host == "::1";
}

}  // namespace

struct HttpServer::Impl {
  Server& server;
  HttpServerOptions options;
  httplib::Server http;
  std::atomic<bool> stopping{false};
  std::atomic<bool> listen_returned{false};
  int port = -1;
  Mutex mu;
  std::map<std::string, std::shared_ptr<HttpSession>> sessions GUARDED_BY(mu);
  int workers GUARDED_BY(mu) = 0;  // request threads still running (Stop waits for them)
  std::condition_variable_any workers_cv;

  bool mounted = false;  // routes live on a caller's server (Mount)

  Impl(Server& s, HttpServerOptions o) : server(s), options(std::move(o)) {}

  // Adds this endpoint's routes to `on`.
  void Register(httplib::Server& on);
  // The owned server's thread pool, limits, routes and exception handler (Start).
  void ConfigureStandalone();

  static void JsonError(httplib::Response& res, int status, int code, const std::string& message,
                        const Json& id = nullptr) {
    res.status = status;
    res.set_content(DumpJson(MakeError(id, code, message)), "application/json");
  }

  // DNS rebinding protection: a browser page on another site must not reach this server.
  bool CheckOrigin(const httplib::Request& req, httplib::Response& res) {
    bool loopback_bind = IsLoopbackName(options.host);
    if (req.has_header("Host")) {
      std::string host = HostOnly(req.get_header_value("Host"));
      bool ok = IsLoopbackName(host) || !loopback_bind;
      for (const auto& h : options.allowed_hosts) ok = ok || h == host;
      if (!ok) {
        JsonError(res, 403, kInvalidRequest,
                  "Forbidden: Host '" + host + "' is not allowed for this local server");
        return false;
      }
    }
    if (req.has_header("Origin")) {
      std::string origin = req.get_header_value("Origin");
      bool ok = false;
      for (const auto& o : options.allowed_origins) ok = ok || o == origin;
      for (const char* scheme : {"http://", "https://"}) {
        std::string_view sv(origin);
        if (sv.substr(0, std::strlen(scheme)) == scheme) {
          std::string host = HostOnly(std::string(sv.substr(std::strlen(scheme))));
          ok = ok || IsLoopbackName(host) ||
               (!loopback_bind && host == HostOnly(req.get_header_value("Host")));
        }
      }
      if (!ok) {
        JsonError(res, 403, kInvalidRequest, "Forbidden: Origin '" + origin + "' is not allowed");
        return false;
      }
    }
    if (req.has_header("MCP-Protocol-Version")) {
      std::string v = req.get_header_value("MCP-Protocol-Version");
      if (!IsSupportedProtocolVersion(v)) {
        JsonError(res, 400, kInvalidRequest,
                  "Bad Request: unsupported MCP-Protocol-Version '" + v + "'");
        return false;
      }
    }
    return true;
  }

  std::shared_ptr<HttpSession> FindSession(const httplib::Request& req, httplib::Response& res) {
    if (!req.has_header("Mcp-Session-Id")) {
      JsonError(res, 400, kInvalidRequest, "Bad Request: Mcp-Session-Id header is required");
      return nullptr;
    }
    std::string id = req.get_header_value("Mcp-Session-Id");
    MutexLock lock(mu);
    auto it = sessions.find(id);
    if (it == sessions.end()) {
      JsonError(res, 404, kInvalidRequest, "Session not found: " + id);
      return nullptr;
    }
    return it->second;
  }

  std::shared_ptr<HttpSession> NewSession() {
    auto hs = std::make_shared<HttpSession>();
    hs->id = NewId();
    hs->standalone->id = "standalone";
    std::weak_ptr<EventStream> standalone = hs->standalone;
    hs->session = server.CreateSession([standalone](const Json& m) {
      if (auto s = standalone.lock()) Push(*s, m);
    });
    MutexLock lock(mu);
    sessions[hs->id] = hs;
    return hs;
  }

  // Writes `stream` from event index `from` until it is finished, the server asks this
  // connection to close, the client goes away, or the server stops.
  void WriteStream(std::shared_ptr<EventStream> stream, size_t from, httplib::DataSink& sink,
                   bool priming) {
    auto write = [&](const std::string& text) { return sink.write(text.data(), text.size()); };
    uint64_t disconnects;
    {
      MutexLock lock(stream->mu);
      disconnects = stream->disconnects;
      stream->attached = true;
    }
    bool ok = true;
    if (priming) {
      // The priming event gives the client an id to resume from before any message arrives.
      ok = write("id: " + stream->id + "_p\nretry: " + std::to_string(options.sse_retry_ms) +
                 "\ndata: \n\n");
    }
    size_t next = from;
    while (ok && !stopping) {
      std::vector<std::pair<size_t, std::string>> batch;
      bool finished, disconnect;
      {
        MutexLock lock(stream->mu);
        stream->cv.wait_for(lock, 1s, [&]() REQUIRES(stream->mu) {
          return stream->first + stream->events.size() > next || stream->finished ||
                 stream->disconnects != disconnects || stopping;
        });
        if (next < stream->first) next = stream->first;
        for (size_t i = next; i < stream->first + stream->events.size(); ++i) {
          batch.emplace_back(i, stream->events[i - stream->first]);
        }
        finished = stream->finished;
        disconnect = stream->disconnects != disconnects;
      }
      for (auto& [i, data] : batch) {
        ok = ok && write(SseEvent(stream->id + "_" + std::to_string(i), data));
        if (ok) next = i + 1;
      }
      if (!ok) break;
      if (disconnect) {
        MutexLock lock(stream->mu);
        if (!(stream->finished && next == stream->first + stream->events.size())) break;
      }
      if (finished) {
        MutexLock lock(stream->mu);
        if (next == stream->first + stream->events.size()) break;
      }
      if (batch.empty() && !sink.is_writable()) break;
      if (batch.empty() && !finished) ok = write(": keep-alive\n\n");
    }
    {
      MutexLock lock(stream->mu);
      stream->attached = false;
    }
    sink.done();
  }

  // A POST carries client messages: checked (headers, session), decoded, then answered by
  // initialize, 202 for notifications alone, one JSON body, or an SSE stream.
  void Post(const httplib::Request& req, httplib::Response& res) {
    if (!CheckOrigin(req, res)) return;
    bool sse_ok = false;
    if (!CheckPostHeaders(req, res, sse_ok)) return;
    // Batches are only decoded when the session (or the header) says 2025-03-26.
    std::shared_ptr<HttpSession> hs;
    bool has_session_header = req.has_header("Mcp-Session-Id");
    std::string version = req.get_header_value("MCP-Protocol-Version");
    if (has_session_header) {
      hs = FindSession(req, res);
      if (!hs) return;
      if (version.empty()) version = hs->session->protocol_version();
    }
    Decoded decoded = Decode(req.body, BatchesAllowed(version));
    if (decoded.messages.empty()) {
      res.status = 400;
      Json body = decoded.error_replies.size() == 1 ? decoded.error_replies[0]
                                                    : Json(decoded.error_replies);
      res.set_content(DumpJson(body), "application/json");
      return;
    }
    bool is_initialize = decoded.messages.size() == 1 && decoded.messages[0].is_request() &&
                         decoded.messages[0].method == "initialize";
    if (is_initialize) {
      Initialize(hs, decoded.messages[0], res);
      return;
    }
    if (!hs) {
      JsonError(res, 400, kInvalidRequest,
                "Bad Request: Mcp-Session-Id header is required (initialize first)");
      return;
    }
    int requests = 0;
    for (const auto& m : decoded.messages) requests += m.is_request();
    if (requests == 0) {
      for (const auto& m : decoded.messages) hs->session->HandleMessage(m, [](const Json&) {});
      res.status = 202;
      return;
    }
    if (decoded.batch || !sse_ok) {
      AnswerInBody(*hs, decoded, res);
    } else {
      AnswerAsStream(hs, decoded.messages, requests, res);
    }
  }

  // Accept must allow JSON or SSE (`sse_ok` says whether it allows SSE); a body must be JSON.
  static bool CheckPostHeaders(const httplib::Request& req, httplib::Response& res, bool& sse_ok) {
    std::string accept = req.get_header_value("Accept");
    sse_ok = accept.find("text/event-stream") != std::string::npos;
    if (!accept.empty() && !sse_ok && accept.find("application/json") == std::string::npos &&
        accept.find("*/*") == std::string::npos) {
      JsonError(res, 406, kInvalidRequest,
                "Not Acceptable: Accept must include application/json or text/event-stream");
      return false;
    }
    std::string content_type = req.get_header_value("Content-Type");
    if (!content_type.empty() && content_type.find("application/json") == std::string::npos) {
      JsonError(res, 415, kInvalidRequest,
                "Unsupported Media Type: Content-Type must be application/json");
      return false;
    }
    return true;
  }

  // `initialize` starts a session; it must not come within one (`hs` set).
  void Initialize(const std::shared_ptr<HttpSession>& hs, const Message& initialize,
                  httplib::Response& res) {
    if (hs) {
      JsonError(res, 400, kInvalidRequest,
                "Bad Request: initialize must not carry an Mcp-Session-Id", initialize.id);
      return;
    }
    std::shared_ptr<HttpSession> created = NewSession();
    Json response;
    created->session->HandleMessage(initialize, [&](const Json& m) { response = m; });
    res.set_header("Mcp-Session-Id", created->id);
    res.set_content(DumpJson(response), "application/json");
  }

  // One JSON body: every request runs here, in order; what else they send goes to the
  // standalone stream.
  void AnswerInBody(HttpSession& hs, const Decoded& decoded, httplib::Response& res) {
    Json replies = Json::array();
    for (const Json& e : decoded.error_replies) replies.push_back(e);
    Mutex replies_mu;
    for (const auto& m : decoded.messages) {
      hs.session->HandleMessage(m, [&](const Json& out) {
        if (out.contains("id") && !out.contains("method")) {
          MutexLock lock(replies_mu);
          replies.push_back(out);
        } else {
          hs.session->NotifyStandalone(out.value("method", ""), out.value("params", Json(nullptr)));
        }
      });
    }
    Json body = decoded.batch ? replies : (replies.empty() ? Json(nullptr) : replies[0]);
    if (body.is_null()) {
      res.status = 202;
      return;
    }
    res.set_content(DumpJson(body), "application/json");
  }

  // An SSE stream for this POST's requests; a worker thread runs them and feeds it, and the
  // stream is kept for resumption until kKeptFinishedStreams newer ones have finished.
  void AnswerAsStream(const std::shared_ptr<HttpSession>& hs, std::vector<Message> messages,
                      int requests, httplib::Response& res) {
    auto stream = std::make_shared<EventStream>();
    {
      MutexLock lock(hs->mu);
      stream->id = std::to_string(hs->next_stream++);
      hs->streams[stream->id] = stream;
    }
    auto pending = std::make_shared<std::atomic<int>>(requests);
    {
      MutexLock lock(mu);
      ++workers;
    }
    std::thread([this, hs, stream, pending, messages = std::move(messages)] {
      Sink sink = [stream, pending](const Json& out) {
        Push(*stream, out);
        if (out.contains("id") && !out.contains("method") && --*pending == 0) {
          MutexLock lock(stream->mu);
          stream->finished = true;
          stream->cv.notify_all();
        }
      };
      auto close_stream = [stream] {
        MutexLock lock(stream->mu);
        ++stream->disconnects;
        stream->cv.notify_all();
      };
      for (const auto& m : messages) hs->session->HandleMessage(m, sink, close_stream);
      {
        // Cancelled requests get no response; the stream still ends.
        MutexLock lock(stream->mu);
        stream->finished = true;
        stream->cv.notify_all();
      }
      {
        MutexLock lock(hs->mu);
        hs->finished_order.push_back(stream->id);
        while (hs->finished_order.size() > kKeptFinishedStreams) {
          hs->streams.erase(hs->finished_order.front());
          hs->finished_order.pop_front();
        }
      }
      MutexLock lock(mu);
      --workers;
      workers_cv.notify_all();
    }).detach();
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream",
                                     [this, stream](size_t, httplib::DataSink& sink) {
                                       WriteStream(stream, 0, sink, true);
                                       return true;
                                     });
  }

  void Get(const httplib::Request& req, httplib::Response& res) {
    if (!CheckOrigin(req, res)) return;
    std::string accept = req.get_header_value("Accept");
    if (accept.find("text/event-stream") == std::string::npos) {
      JsonError(res, 406, kInvalidRequest, "Not Acceptable: GET needs Accept: text/event-stream");
      return;
    }
    auto hs = FindSession(req, res);
    if (!hs) return;
    std::shared_ptr<EventStream> stream = hs->standalone;
    size_t from = 0;
    bool resume = false;
    if (req.has_header("Last-Event-ID")) {
      std::string last = req.get_header_value("Last-Event-ID");
      size_t sep = last.rfind('_');
      std::string sid = sep == std::string::npos ? last : last.substr(0, sep);
      std::string index = sep == std::string::npos ? "" : last.substr(sep + 1);
      if (sid != "standalone") {
        MutexLock lock(hs->mu);
        auto it = hs->streams.find(sid);
        if (it == hs->streams.end()) {
          JsonError(res, 404, kInvalidRequest,
                    "Not Found: no stream to resume for Last-Event-ID '" + last + "'");
          return;
        }
        stream = it->second;
      }
      resume = true;
      if (index != "p" && !index.empty() &&
          index.find_first_not_of("0123456789") == std::string::npos && index.size() < 12) {
        from = std::stoull(index) + 1;
      }
    }
    if (!resume) {
      MutexLock lock(stream->mu);
      if (stream->attached) {
        JsonError(res, 409, kInvalidRequest,
                  "Conflict: this session already has a standalone SSE stream");
        return;
      }
      // Only messages sent from now on go to a new standalone stream.
      from = stream->first + stream->events.size();
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_header("Mcp-Session-Id", hs->id);
    res.set_chunked_content_provider("text/event-stream",
                                     [this, stream, from](size_t, httplib::DataSink& sink) {
                                       WriteStream(stream, from, sink, false);
                                       return true;
                                     });
  }

  void Delete(const httplib::Request& req, httplib::Response& res) {
    if (!CheckOrigin(req, res)) return;
    auto hs = FindSession(req, res);
    if (!hs) return;
    hs->session->Close();
    {
      MutexLock lock(mu);
      sessions.erase(hs->id);
    }
    res.status = 200;
  }
};

HttpServer::HttpServer(Server& server, HttpServerOptions options)
    : impl_(std::make_unique<Impl>(server, std::move(options))) {}

void HttpServer::Impl::Register(httplib::Server& on) {
  const std::string& path = options.path;
  on.Post(path, [this](const httplib::Request& req, httplib::Response& res) { Post(req, res); });
  on.Get(path, [this](const httplib::Request& req, httplib::Response& res) { Get(req, res); });
  on.Delete(path,
            [this](const httplib::Request& req, httplib::Response& res) { Delete(req, res); });
}

void HttpServer::Impl::ConfigureStandalone() {
  int threads = std::max(4, options.threads);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http.set_payload_max_length(kMaxMessageBytes);
  http.set_keep_alive_max_count(1000);
  Register(http);
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown error";
        try {
          std::rethrow_exception(std::move(ep));
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        Impl::JsonError(res, 500, kInternalError, "Internal error: " + what);
      });
}

Status HttpServer::Mount(httplib::Server& http) {
  if (impl_->port >= 0 || impl_->mounted)
    return FailedPrecondition("mcp http endpoint already started or mounted");
  impl_->mounted = true;
  impl_->Register(http);
  return Status::Ok();
}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() {
  NAUT_RETURN_IF_ERROR(impl_->port >= 0 || impl_->mounted
                           ? FailedPrecondition("http server already started or mounted")
                           : Status::Ok());
  impl_->ConfigureStandalone();
  int port = impl_->options.port;
  if (port == 0) {
    port = impl_->http.bind_to_any_port(impl_->options.host);
  } else if (!impl_->http.bind_to_port(impl_->options.host, port)) {
    port = -1;
  }
  if (port < 0) {
    return Unavailable("cannot listen on " + impl_->options.host + ":" +
                       std::to_string(impl_->options.port) +
                       " (address in use or not a local address)");
  }
  impl_->port = port;
  impl_->listen_returned = false;
  thread_ = std::thread([this] {
    impl_->http.listen_after_bind();
    impl_->listen_returned = true;
  });
  return Status::Ok();
}

Status HttpServer::Run() {
  NAUT_RETURN_IF_ERROR(Start());
  if (thread_.joinable()) thread_.join();
  return Status::Ok();
}

void HttpServer::Stop() {
  if (!impl_) return;
  impl_->stopping = true;
  std::vector<std::shared_ptr<HttpSession>> sessions;
  {
    MutexLock lock(impl_->mu);
    for (auto& [id, s] : impl_->sessions) sessions.push_back(s);
  }
  for (auto& s : sessions) s->session->Close();
  if (thread_.joinable()) {
    // httplib's stop() does nothing until the listen loop has marked itself running, which
    // may be later than a Stop right after Start: repeat it until the loop has returned.
    while (!impl_->listen_returned) {
      impl_->http.stop();
      std::this_thread::sleep_for(1ms);
    }
    thread_.join();
  }
  // Request threads use the Server; they end soon after their sessions are closed.
  MutexLock lock(impl_->mu);
  impl_->workers_cv.wait(lock, [&]() REQUIRES(impl_->mu) { return impl_->workers == 0; });
}

int HttpServer::port() const { return impl_->port; }

std::string HttpServer::url() const {
  std::string host = impl_->options.host;
  if (host == "0.0.0.0") host = "127.0.0.1";
  return "http://" + host + ":" + std::to_string(impl_->port) + impl_->options.path;
}

Result<std::pair<std::string, int>> ParseHostPort(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    return InvalidArgument("'" + text + "' is not HOST:PORT (e.g. 127.0.0.1:8080)");
  }
  std::string host = text.substr(0, colon);
  std::string port_text = text.substr(colon + 1);
  if (host.empty()) host = "127.0.0.1";
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos) {
    return InvalidArgument("port '" + port_text + "' in '" + text +
                           "' is not a number from 0 to 65535");
  }
  int port = std::stoi(port_text);
  if (port > 65535)
    return InvalidArgument("port " + port_text + " in '" + text + "' is above 65535");
  return std::make_pair(host, port);
}

}  // namespace naut::mcp

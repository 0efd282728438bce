#pragma once
// Tests' way to run the model server: a real httplib server on a loopback port chosen by the
// kernel, with ModelServer mounted, stopped by the destructor; and small HTTP helpers.

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/json.h"
#include "server/v1/model_server.h"

namespace naut::server::testing {

class V1TestServer {
 public:
  explicit V1TestServer(ModelServerOptions options) {
    auto s = ModelServer::Open(std::move(options));
    if (!s.ok()) {
      status_ = s.error();
      return;
    }
    server_ = std::move(*s);
    status_ = server_->WaitLoaded();
    // Every waiting request holds a worker thread; more than slots + queue so that the queue,
    // not httplib, is what refuses.
    http_.new_task_queue = [] { return new httplib::ThreadPool(32); };
    http_.set_payload_max_length(1 << 20);
    server_->Mount(http_);
    port_ = http_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { http_.listen_after_bind(); });
    while (!http_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~V1TestServer() {
    if (server_) server_->Stop();
    http_.stop();
    if (thread_.joinable()) thread_.join();
  }
  const Status& status() const { return status_; }
  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(600, 0);
    return c;
  }

 private:
  Status status_;
  std::unique_ptr<ModelServer> server_;
  httplib::Server http_;
  int port_ = 0;
  std::thread thread_;
};

struct Reply {
  int status = 0;
  std::string body;
  Json json;  // null when the body is not JSON
};

// An answer as a Reply (status 0 when there was none).
inline Reply ToReply(const httplib::Result& r) {
  Reply out;
  if (!r) return out;
  out.status = r->status;
  out.body = r->body;
  auto j = ParseJson(r->body, "reply");
  if (j.ok()) out.json = std::move(*j);
  return out;
}

inline Reply PostJson(const V1TestServer& s, const std::string& path, const std::string& body) {
  auto c = s.Client();
  return ToReply(c.Post(path.c_str(), body, "application/json"));
}

inline Reply Get(const V1TestServer& s, const std::string& path) {
  auto c = s.Client();
  return ToReply(c.Get(path.c_str()));
}

// The data events of a streamed reply, parsed ("[DONE]" kept as a string).
struct StreamReply {
  int status = 0;
  std::vector<Json> events;
  bool done = false;  // saw data: [DONE]
};

// Streams `body` to `path`; `keep_going` sees each event and may stop reading (closing the
// connection) by returning false.
inline StreamReply PostStream(const V1TestServer& s, const std::string& path,
                              const std::string& body,
                              const std::function<bool(const Json&)>& keep_going = {}) {
  auto c = s.Client();
  StreamReply out;
  std::string buf;
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body;
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    buf.append(data, n);
    size_t end;
    while ((end = buf.find("\n\n")) != std::string::npos) {
      std::string event = buf.substr(0, end);
      buf.erase(0, end + 2);
      if (event.rfind("data: ", 0) != 0) continue;
      std::string data = event.substr(6);
      if (data == "[DONE]") {
        out.done = true;
        continue;
      }
      auto j = ParseJson(data, "event");
      if (!j.ok()) continue;
      out.events.push_back(*j);
      if (keep_going && !keep_going(*j)) return false;
    }
    return true;
  };
  auto r = c.send(req);
  if (r) out.status = r->status;
  return out;
}

// The text of a streamed answer: content deltas (chat) or text pieces (completions).
inline std::string StreamedText(const StreamReply& r) {
  std::string text;
  for (const Json& e : r.events) {
    if (!e.contains("choices") || e["choices"].empty()) continue;
    const Json& ch = e["choices"][0];
    if (ch.contains("delta") && ch["delta"].contains("content") &&
        ch["delta"]["content"].is_string())
      text += ch["delta"]["content"].get<std::string>();
    if (ch.contains("text") && ch["text"].is_string()) text += ch["text"].get<std::string>();
  }
  return text;
}

}  // namespace naut::server::testing

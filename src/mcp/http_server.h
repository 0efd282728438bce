#pragma once
// Streamable HTTP server transport (MCP 2025-03-26 and later): one endpoint (default /mcp)
// taking POST (client messages), GET (a standalone SSE stream, or resumption of a request's
// stream with Last-Event-ID) and DELETE (end a session).
//
// - Sessions: initialize creates one and answers with an Mcp-Session-Id header; later
//   requests must carry it (400 without, 404 for an unknown or ended session).
// - MCP-Protocol-Version: any supported version is accepted; an unsupported one is 400.
// - Requests are answered on an SSE stream when the client accepts text/event-stream (so
//   progress, log messages and the server's own requests reach it during the call), else as
//   one JSON body. SSE events carry ids and a retry hint; a stream the client lost (or the
//   server closed early, ToolContext::close_stream) resumes with GET + Last-Event-ID.
// - DNS rebinding: Host and Origin must name a loopback host unless listed in
//   allowed_hosts / allowed_origins. Binds 127.0.0.1 unless configured otherwise.
// - Bad bodies: one over kMaxMessageBytes is refused with 413 before it is read; one that is
//   not JSON or nests deeper than kMaxJsonDepth gets 400 with a parse error (-32700). Either
//   way the server goes on serving every session.
//
// Two ways to serve: standalone (Start / Run: this object owns an httplib server, its port and
// its thread pool), or mounted (Mount: the routes are added to an httplib server the caller
// owns, so MCP shares a port with other endpoints, as `neuronaut serve` does; the caller binds,
// listens, limits bodies, and calls Stop before stopping its server so open SSE streams end).
//
// Thread-safety: Start/Mount/Stop from one owner thread; requests are served on the server's
// own thread pool (or the caller's, when mounted).

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "mcp/server.h"

namespace httplib {
class Server;
}

namespace naut::mcp {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port
  std::string path = "/mcp";
  std::vector<std::string> allowed_hosts;    // besides localhost, 127.0.0.1, [::1] (port ignored)
  std::vector<std::string> allowed_origins;  // full origins, e.g. "https://app.example"
  int sse_retry_ms = 1000;                   // the retry hint sent on SSE streams
  int threads = 32;                          // concurrent connections (SSE streams hold one each)
};

class HttpServer {
 public:
  HttpServer(Server& server, HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving on a background thread. Fails naming the address when the port
  // is taken or the host cannot be bound.
  Status Start();
  // Serves on the calling thread until Stop (from another thread or a signal handler thread).
  Status Run();
  // Adds POST/GET/DELETE `options.path` to `http` (which must outlive this object); the Host
  // and Origin checks use `options.host` as the address `http` is bound to. Start and Run are
  // refused afterwards. Fails when already started or mounted.
  Status Mount(httplib::Server& http);
  // Ends every session and open stream and waits for request threads; then (standalone) stops
  // listening. Idempotent.
  void Stop();

  int port() const;
  std::string url() const;  // http://127.0.0.1:PORT/mcp

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

// "127.0.0.1:8080" / "localhost:0" / ":9000" -> host, port. Errors name the bad part.
Result<std::pair<std::string, int>> ParseHostPort(const std::string& text);

}  // namespace naut::mcp

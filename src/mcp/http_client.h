#pragma once
// Streamable HTTP client transport: each message is a POST to the server's endpoint; the
// answer is a JSON body, 202, or an SSE stream carrying the response and anything related.
// A stream that ends before its response (the server closed it to make the client poll, or
// the network dropped it) is resumed with GET + Last-Event-ID after the server's retry
// interval. Once notifications/initialized is accepted, a standalone GET stream receives the
// server's own messages (servers that answer 405 have none); that Send returns only after the
// server answered the GET (or after a few seconds), so that messages the server sends after
// the handshake, and a resumption GET of the first request, never race the standalone one.
// Mcp-Session-Id and MCP-Protocol-Version headers are sent once known; a 404 for our session ends
// the connection. A body or SSE event over kMaxMessageBytes, or nested deeper than
// kMaxJsonDepth, fails the request it answers (see Client::Request).
//
// Thread-safety: Send may be called from any thread; callbacks run on transport threads.

#include <atomic>
#include <condition_variable>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "core/mutex.h"
#include "mcp/transport.h"

namespace naut::mcp {

struct HttpClientOptions {
  std::string url;                             // http(s)://host:port/mcp
  std::map<std::string, std::string> headers;  // extra headers (e.g. Authorization)
  int max_resumptions = 5;                     // GET retries for one request stream
  int default_retry_ms = 1000;                 // when the server sends no retry hint
  bool standalone_stream = true;               // open the GET stream after initialize
};

class HttpClientTransport : public ClientTransport {
 public:
  HttpClientTransport(std::string name, HttpClientOptions options);
  ~HttpClientTransport() override;

  Status Start(std::function<void(const Json&)> on_message,
               std::function<void(const Status&)> on_closed) override;
  Status Send(const Json& message) override;
  void SetProtocolVersion(const std::string& version) override;
  void Close() override;
  std::string Describe() const override { return "http: " + options_.url; }

  std::string session_id() const;

 private:
  struct Exchange;  // one HTTP request/response
  // POSTs `message` and delivers what comes back; for requests also resumes the stream.
  void PostAndRead(Json message);
  // Runs one HTTP exchange; SSE events and JSON bodies are delivered as they arrive.
  Status Perform(Exchange& ex);
  // Parses one message of the server's and hands it to the client. One refused for its size or
  // depth is answered as RefuseMessage says, `request_id` (of the request whose POST carried
  // it; null on the standalone stream) standing in for an id that cannot be read. True when
  // the message, or the error standing in for it, answers `request_id`.
  bool Deliver(std::string_view data, const Json& request_id);
  void StandaloneLoop();
  // Starts StandaloneLoop and waits until its first GET has its response headers or ended.
  void StartStandalone();
  void Fail(const Status& why);
  // Takes the server's session id from a response, unless one is already set.
  void AdoptSession(const std::string& id) EXCLUDES(mu_);
  std::vector<std::string> Headers(bool with_session) const EXCLUDES(mu_);

  std::string name_;
  HttpClientOptions options_;
  std::function<void(const Json&)> on_message_;
  std::function<void(const Status&)> on_closed_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> failed_{false};

  mutable Mutex mu_;
  std::condition_variable_any cv_;
  std::string session_id_ GUARDED_BY(mu_);
  std::string protocol_version_ GUARDED_BY(mu_);
  int workers_ GUARDED_BY(mu_) = 0;  // running PostAndRead threads
  bool standalone_answered_ GUARDED_BY(mu_) = false;
  std::thread standalone_;
};

}  // namespace naut::mcp

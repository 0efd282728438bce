#pragma once
// The checks every request to `neuronaut serve` passes before it reaches a route: the page,
// /api, /mcp and /v1 alike. A refused request gets a JSON error and nothing else happens.
//
// - Host (DNS rebinding): on a loopback bind the Host header must name a loopback host
//   (localhost, 127.0.0.1, [::1]) or one of `allowed_hosts`; else 403.
// - Origin (cross-site requests, no CORS): a request that carries Origin must come from this
//   server's own origin (http://<Host>) or one of `allowed_origins`; else 403. No
//   Access-Control-Allow-* header is ever sent, so a foreign page cannot read an answer.
// - Token: on a non-loopback bind every /api, /mcp and /v1 request needs
//   `Authorization: Bearer <token>`; on any bind, so do the API's write actions (POST, PUT,
//   PATCH, DELETE under /api). Missing or wrong: 401. The page itself and its assets need none
//   (they hold no data).
// - Size: a body above `max_api_body` under /api, or above `max_body` anywhere, is 413, decided
//   from Content-Length before the body is read.
// - Rate: each client address gets `rate_per_s` requests a second with bursts of `burst`;
//   beyond that 429 with Retry-After.
// - Every answer carries a Content-Security-Policy that allows this origin only, and
//   X-Content-Type-Options: nosniff, X-Frame-Options: DENY, Referrer-Policy: no-referrer.
//
// Thread-safety: Check may be called from any number of request threads at once.

#include <httplib.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "core/mutex.h"

namespace naut::server {

struct GuardOptions {
  std::string host = "127.0.0.1";  // the address the server is bound to
  std::string token;               // empty: no token accepted (write actions are refused)
  std::vector<std::string> allowed_hosts;
  std::vector<std::string> allowed_origins;
  size_t max_api_body = 256 * 1024;
  size_t max_body = 16 * 1024 * 1024;
  double rate_per_s = 50;
  double burst = 200;
};

// Whether `host` (a bind address or a Host header's host part) is a loopback name.
bool IsLoopbackHost(const std::string& host);
// "127.0.0.1:8765" -> "127.0.0.1", "[::1]:80" -> "[::1]".
std::string HostPart(const std::string& host_header);

class Guard {
 public:
  explicit Guard(GuardOptions options) : options_(std::move(options)) {}

  // For httplib's pre-routing handler: Handled (with the refusal written) or Unhandled.
  httplib::Server::HandlerResponse Check(const httplib::Request& req, httplib::Response& res);

  // Whether `req` carries the token (constant-time comparison).
  bool HasToken(const httplib::Request& req) const;
  const GuardOptions& options() const { return options_; }

 private:
  bool TakeRateToken(const std::string& client);

  GuardOptions options_;
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point last;
  };
  Mutex mu_;
  std::map<std::string, Bucket> buckets_ GUARDED_BY(mu_);
};

// Writes {"error": {"status": N, "message": M}} with that status.
void JsonError(httplib::Response& res, int status, const std::string& message);

}  // namespace naut::server

#include "server/guard.h"

#include <algorithm>

#include "core/json.h"

namespace naut::server {
namespace {

constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

bool StartsWith(const std::string& s, std::string_view prefix) {
  return s.size() >= prefix.size() && std::string_view(s).substr(0, prefix.size()) == prefix;
}

bool UnderPrefix(const std::string& path, std::string_view prefix) {
  return path == prefix || StartsWith(path, std::string(prefix) + "/");
}

bool IsWrite(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

}  // namespace

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]" || host == "::1" ||
         StartsWith(host, "127.");
}

std::string HostPart(const std::string& host_header) {
  if (!host_header.empty() && host_header.front() == '[') {
    size_t close = host_header.find(']');
    return close == std::string::npos ? host_header : host_header.substr(0, close + 1);
  }
  size_t colon = host_header.rfind(':');
  return colon == std::string::npos ? host_header : host_header.substr(0, colon);
}

void JsonError(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(DumpJson(Json{{"error", {{"status", status}, {"message", message}}}}),
                  "application/json");
}

bool Guard::HasToken(const httplib::Request& req) const {
  if (options_.token.empty()) return false;
  std::string auth = req.get_header_value("Authorization");
  const std::string_view bearer = "Bearer ";
  if (!StartsWith(auth, bearer)) return false;
  std::string_view given = std::string_view(auth).substr(bearer.size());
  const std::string& want = options_.token;
  // Constant time in the token's length: the answer's timing tells nothing of how much matched.
  unsigned diff = given.size() == want.size() ? 0 : 1;
  for (size_t i = 0; i < want.size(); ++i) {
    diff |= static_cast<unsigned>(want[i]) ^
            static_cast<unsigned>(i < given.size() ? given[i] : static_cast<char>(~want[i]));
  }
  return diff == 0;
}

bool Guard::TakeRateToken(const std::string& client) {
  auto now = std::chrono::steady_clock::now();
  MutexLock lock(mu_);
  auto [it, inserted] = buckets_.try_emplace(client);
  Bucket& b = it->second;
  if (inserted) {
    b.tokens = options_.burst;
  } else {
    double seconds = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(options_.burst, b.tokens + seconds * options_.rate_per_s);
  }
  b.last = now;
  // Forget idle clients so that the table stays small.
  if (buckets_.size() > 4096) {
    for (auto i = buckets_.begin(); i != buckets_.end();) {
      i = now - i->second.last > std::chrono::minutes(1) && i != it ? buckets_.erase(i) : ++i;
    }
  }
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

httplib::Server::HandlerResponse Guard::Check(const httplib::Request& req, httplib::Response& res) {
  using R = httplib::Server::HandlerResponse;
  res.set_header("Content-Security-Policy", kContentSecurityPolicy);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Referrer-Policy", "no-referrer");

  if (!TakeRateToken(req.remote_addr)) {
    res.set_header("Retry-After", "1");
    JsonError(res, 429, "Too Many Requests: more than the rate limit from " + req.remote_addr);
    return R::Handled;
  }
  bool loopback_bind = IsLoopbackHost(options_.host);
  std::string host = HostPart(req.get_header_value("Host"));
  if (loopback_bind) {
    bool ok = IsLoopbackHost(host) ||
              std::find(options_.allowed_hosts.begin(), options_.allowed_hosts.end(), host) !=
                  options_.allowed_hosts.end();
    if (!ok) {
      JsonError(res, 403, "Forbidden: Host '" + host + "' is not allowed for this local server");
      return R::Handled;
    }
  }
  if (req.has_header("Origin")) {
    std::string origin = req.get_header_value("Origin");
    std::string own = "http://" + req.get_header_value("Host");
    bool ok = origin == own ||
              std::find(options_.allowed_origins.begin(), options_.allowed_origins.end(), origin) !=
                  options_.allowed_origins.end();
    if (!ok) {
      JsonError(res, 403, "Forbidden: Origin '" + origin + "' is not this server's origin");
      return R::Handled;
    }
  }
  const std::string& path = req.path;
  bool api = UnderPrefix(path, "/api");
  // llama-server's /props, /slots and /metrics tell what the model server holds and does;
  // /health stays open, as llama-server keeps it.
  bool guarded = api || UnderPrefix(path, "/mcp") || UnderPrefix(path, "/v1") || path == "/props" ||
                 path == "/slots" || path == "/metrics";
  bool needs_token = (guarded && !loopback_bind) || (api && IsWrite(req.method));
  if (needs_token && !HasToken(req)) {
    res.set_header("WWW-Authenticate", "Bearer");
    JsonError(res, 401,
              options_.token.empty()
                  ? "Unauthorized: this server was started without a token, so it takes no "
                    "write actions"
                  : "Unauthorized: send the server's token as 'Authorization: Bearer <token>' "
                    "(printed by `neuronaut serve`, kept in <home>/serve.token)");
    return R::Handled;
  }
  if (req.has_header("Content-Length")) {
    std::string text = req.get_header_value("Content-Length");
    size_t length = 0;
    bool number = !text.empty() && text.size() < 19 &&
                  text.find_first_not_of("0123456789") == std::string::npos;
    if (number) length = std::stoull(text);
    size_t limit = api ? options_.max_api_body : options_.max_body;
    if (!number || length > limit) {
      JsonError(res, 413,
                "Payload Too Large: bodies under " + std::string(api ? "/api" : "this server") +
                    " are limited to " + std::to_string(limit) + " bytes");
      return R::Handled;
    }
  }
  return R::Unhandled;
}

}  // namespace naut::server

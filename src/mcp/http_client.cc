#include "mcp/http_client.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "core/cancel.h"
#include "mcp/jsonrpc.h"

namespace naut::mcp {
namespace {

void GlobalInit() {
  static const bool kInit = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)kInit;
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n' || s.back() == ' ')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

}  // namespace

struct HttpClientTransport::Exchange {
  HttpClientTransport* self = nullptr;
  std::string method = "POST";
  std::string body;
  std::string last_event_id_header;  // GET resumption
  bool with_session = true;
  long connect_timeout_s = 10;
  long total_timeout_s = 0;   // 0: none (streams may be long)
  bool ignore_close = false;  // the closing DELETE runs after closed_ is set
  bool stop_after_response = false;

  long status = 0;
  std::string content_type;
  std::string session_id;
  std::string raw;  // JSON or error bodies
  bool sse = false;
  bool decided = false;
  // SSE parsing
  std::string line_buf;
  std::string data;
  bool has_data = false;
  std::string last_event_id;
  int retry_ms = -1;
  Json request_id;  // set for requests: the response ends our interest in the stream
  bool got_response = false;
  bool too_big = false;              // the body or an SSE event passed kMaxMessageBytes
  std::function<void()> on_headers;  // called when the final response headers are in

  // curl's callbacks: a header line, and a piece of the body. Returning less than `size`
  // makes curl stop the transfer.
  size_t OnHeader(std::string_view header);
  size_t OnBody(const char* p, size_t size);
  // One line of the SSE stream; false to stop reading.
  bool OnSseLine(std::string line);
};

size_t HttpClientTransport::Exchange::OnHeader(std::string_view header) {
  std::string line(header);
  if ((line == "\r\n" || line == "\n") && on_headers) on_headers();
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string key = Lower(line.substr(0, colon));
    std::string value = Trim(line.substr(colon + 1));
    if (key == "content-type") content_type = Lower(value);
    if (key == "mcp-session-id") session_id = value;
  }
  return header.size();
}

size_t HttpClientTransport::Exchange::OnBody(const char* p, size_t size) {
  if (!decided) {
    decided = true;
    sse = content_type.find("text/event-stream") != std::string::npos;
    // Adopted before any message of the body is delivered: the answer to `initialize` makes
    // the client send `notifications/initialized` at once, from another thread, and that
    // must carry the session id.
    if (!session_id.empty()) self->AdoptSession(session_id);
  }
  if (!sse) {
    if (raw.size() + size > kMaxMessageBytes) {
      too_big = true;
      return 0;
    }
    raw.append(p, size);
    return size;
  }
  line_buf.append(p, size);
  size_t nl;
  while ((nl = line_buf.find('\n')) != std::string::npos) {
    std::string line = line_buf.substr(0, nl);
    line_buf.erase(0, nl + 1);
    if (!OnSseLine(std::move(line))) return 0;
  }
  if (line_buf.size() > kMaxMessageBytes) {
    too_big = true;
    return 0;
  }
  return size;
}

bool HttpClientTransport::Exchange::OnSseLine(std::string line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) {
    if (has_data && !Trim(data).empty()) {
      if (self->Deliver(data, request_id)) got_response = true;
      // A resumed GET stream may stay open; once our response is in, it has served us.
      if (got_response && stop_after_response) return false;
    }
    data.clear();
    has_data = false;
    return true;
  }
  if (line[0] == ':') return true;
  size_t colon = line.find(':');
  std::string field = line.substr(0, colon);
  std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
  if (!value.empty() && value[0] == ' ') value.erase(0, 1);
  if (field == "data") {
    if (has_data) data += "\n";
    data += value;
    has_data = true;
    if (data.size() > kMaxMessageBytes) {
      too_big = true;
      return false;
    }
  } else if (field == "id") {
    last_event_id = value;
  } else if (field == "retry") {
    if (!value.empty() && value.size() < 9 &&
        value.find_first_not_of("0123456789") == std::string::npos) {
      retry_ms = std::stoi(value);
    }
  }
  return true;
}

HttpClientTransport::HttpClientTransport(std::string name, HttpClientOptions options)
    : name_(std::move(name)), options_(std::move(options)) {
  GlobalInit();
}

HttpClientTransport::~HttpClientTransport() { Close(); }

void HttpClientTransport::AdoptSession(const std::string& id) {
  MutexLock lock(mu_);
  if (session_id_.empty()) session_id_ = id;
}

std::string HttpClientTransport::session_id() const {
  MutexLock lock(mu_);
  return session_id_;
}

Status HttpClientTransport::Start(std::function<void(const Json&)> on_message,
                                  std::function<void(const Status&)> on_closed) {
  if (options_.url.rfind("http://", 0) != 0 && options_.url.rfind("https://", 0) != 0) {
    return InvalidArgument("mcp server '" + name_ + "': url '" + options_.url +
                           "' is not an http(s) URL");
  }
  on_message_ = std::move(on_message);
  on_closed_ = std::move(on_closed);
  return Status::Ok();
}

std::vector<std::string> HttpClientTransport::Headers(bool with_session) const {
  std::vector<std::string> h;
  for (const auto& [k, v] : options_.headers) h.push_back(k + ": " + v);
  MutexLock lock(mu_);
  if (with_session && !session_id_.empty()) h.push_back("Mcp-Session-Id: " + session_id_);
  if (!protocol_version_.empty()) h.push_back("MCP-Protocol-Version: " + protocol_version_);
  return h;
}

bool HttpClientTransport::Deliver(std::string_view data, const Json& request_id) {
  if (closed_) return false;
  auto answers = [&](const Json& m) {
    return !request_id.is_null() && m.is_object() && m.contains("id") && m["id"] == request_id &&
           !m.contains("method");
  };
  auto parsed = ParseJson(data, "message from mcp server '" + name_ + "'", kMaxMessageBytes);
  if (!parsed) {
    spdlog::warn("mcp: {}", parsed.error().message());  // the message names the server
    if (parsed.error().code() != Code::kResourceExhausted) return false;
    Refusal refusal = RefuseMessage(data, parsed.error());
    if (!refusal.to_server.is_null()) (void)Send(refusal.to_server);
    if (refusal.to_client.is_null()) return false;
    if (refusal.to_client["id"].is_null() && !request_id.is_null())
      refusal.to_client["id"] = request_id;
    on_message_(refusal.to_client);
    return answers(refusal.to_client);
  }
  bool answered = false;
  if (parsed->is_array()) {
    for (const Json& m : *parsed) {
      answered = answered || answers(m);
      on_message_(m);
    }
  } else {
    answered = answers(*parsed);
    on_message_(*parsed);
  }
  return answered;
}

Status HttpClientTransport::Perform(Exchange& ex) {
  CURL* curl = curl_easy_init();
  if (!curl) return Internal("curl_easy_init failed");
  struct curl_slist* headers = nullptr;
  for (const auto& h : Headers(ex.with_session)) headers = curl_slist_append(headers, h.c_str());
  if (ex.method == "POST") {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: application/json, text/event-stream");
  } else if (ex.method == "GET") {
    headers = curl_slist_append(headers, "Accept: text/event-stream");
  }
  if (!ex.last_event_id_header.empty()) {
    headers = curl_slist_append(headers, ("Last-Event-ID: " + ex.last_event_id_header).c_str());
  }
  curl_easy_setopt(curl, CURLOPT_URL, options_.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, ex.connect_timeout_s);
  if (ex.total_timeout_s > 0) curl_easy_setopt(curl, CURLOPT_TIMEOUT, ex.total_timeout_s);
  if (ex.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, ex.body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(ex.body.size()));
  } else if (ex.method == "DELETE") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "DELETE");
  }
  using HeaderFn = size_t (*)(char*, size_t, size_t, void*);
  HeaderFn on_header = [](char* p, size_t size, size_t n, void* user) -> size_t {
    return static_cast<Exchange*>(user)->OnHeader(std::string_view(p, size * n));
  };
  HeaderFn on_body = [](char* p, size_t size, size_t n, void* user) -> size_t {
    return static_cast<Exchange*>(user)->OnBody(p, size * n);
  };
  using ProgressFn = int (*)(void*, curl_off_t, curl_off_t, curl_off_t, curl_off_t);
  ProgressFn on_progress = [](void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> int {
    auto* e = static_cast<Exchange*>(user);
    return e->self->closed_ && !e->ignore_close ? 1 : 0;
  };
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &ex);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &ex);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &ex);
  ex.self = this;
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &ex.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && ex.got_response)) {
    if (closed_) return Cancelled("connection closed");
    if (ex.too_big) {
      return ResourceExhausted("message from mcp server '" + name_ + "': more than " +
                               std::to_string(kMaxMessageBytes) + " bytes");
    }
    return Unavailable("mcp server '" + name_ + "' (" + options_.url +
                       "): " + curl_easy_strerror(rc));
  }
  return Status::Ok();
}

void HttpClientTransport::Fail(const Status& why) {
  if (closed_ || failed_.exchange(true)) return;
  on_closed_(why);
}

void HttpClientTransport::PostAndRead(Json message) {
  Exchange ex;
  ex.body = DumpJson(message);
  bool is_request = message.contains("method") && message.contains("id");
  if (is_request) ex.request_id = message["id"];
  bool had_session = !session_id().empty();
  auto fail_request = [&](const std::string& why) {
    if (is_request && !closed_) on_message_(MakeError(message["id"], kInternalError, why));
  };
  Status st = Perform(ex);
  if (!st.ok()) {
    fail_request(st.message());
    return;
  }
  if (!ex.session_id.empty()) AdoptSession(ex.session_id);
  if (ex.status == 404 && had_session) {
    fail_request("the server ended our session (HTTP 404)");
    Fail(Unavailable("mcp server '" + name_ + "': session expired (HTTP 404)"));
    return;
  }
  if (ex.status >= 400 || ex.status < 200) {
    std::string body = ex.raw.size() > 300 ? ex.raw.substr(0, 300) + "..." : ex.raw;
    // A JSON-RPC error body for our request is the real answer.
    auto parsed = ParseJson(ex.raw, "http error body", kMaxMessageBytes);
    if (is_request && parsed && parsed->is_object() && parsed->contains("error") &&
        parsed->contains("id") && (*parsed)["id"] == message["id"]) {
      on_message_(*parsed);
      return;
    }
    fail_request("HTTP " + std::to_string(ex.status) + " from " + options_.url +
                 (body.empty() ? "" : ": " + body));
    return;
  }
  if (ex.status == 202 || (!ex.sse && Trim(ex.raw).empty())) {
    if (is_request)
      fail_request("HTTP " + std::to_string(ex.status) + " without a response to the request");
    return;
  }
  if (!ex.sse) {
    if (!Deliver(ex.raw, message["id"]))
      fail_request("the server's answer holds no response to the request");
    return;
  }
  // The stream ended without our response: resume it after the retry interval.
  for (int attempt = 0; is_request && !ex.got_response && attempt < options_.max_resumptions;
       ++attempt) {
    if (ex.last_event_id.empty()) {
      fail_request(
          "the server's SSE stream ended before the response and cannot be resumed (no event id)");
      return;
    }
    int wait = ex.retry_ms >= 0 ? ex.retry_ms : options_.default_retry_ms;
    for (int slept = 0; slept < wait && !closed_; slept += 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(10, wait - slept)));
    }
    if (closed_) return;
    Exchange again;
    again.method = "GET";
    again.request_id = ex.request_id;
    again.last_event_id_header = ex.last_event_id;
    again.stop_after_response = true;
    again.retry_ms = ex.retry_ms;
    st = Perform(again);
    if (!st.ok() || again.status >= 400) {
      if (again.status == 404 && had_session) {
        fail_request("the server ended our session (HTTP 404)");
        return;
      }
      continue;
    }
    ex.got_response = again.got_response;
    if (!again.last_event_id.empty()) ex.last_event_id = again.last_event_id;
    if (again.retry_ms >= 0) ex.retry_ms = again.retry_ms;
  }
  if (is_request && !ex.got_response)
    fail_request("the server's SSE stream ended before the response");
}

Status HttpClientTransport::Send(const Json& message) {
  if (closed_ || failed_) return Unavailable("mcp server '" + name_ + "' is not connected");
  bool is_request = message.contains("method") && message.contains("id");
  if (!is_request) {
    // Notifications and our answers to the server's requests: a short synchronous POST.
    Exchange ex;
    ex.body = DumpJson(message);
    ex.total_timeout_s = 30;
    NAUT_RETURN_IF_ERROR(Perform(ex));
    if (ex.status >= 400) {
      return Unavailable("mcp server '" + name_ + "': HTTP " + std::to_string(ex.status) +
                         " for a notification");
    }
    if (message.value("method", "") == "notifications/initialized") StartStandalone();
    if (!ex.raw.empty() && !ex.sse) {
      // Some servers answer notifications with a body; anything that is a message is delivered.
      auto parsed = ParseJson(ex.raw, "body", kMaxMessageBytes);
      if (parsed && (parsed->contains("method") || parsed->is_array())) Deliver(ex.raw, nullptr);
    }
    return Status::Ok();
  }
  {
    MutexLock lock(mu_);
    ++workers_;
  }
  std::thread([this, message] {
    PostAndRead(message);
    MutexLock lock(mu_);
    --workers_;
    cv_.notify_all();
  }).detach();
  return Status::Ok();
}

void HttpClientTransport::SetProtocolVersion(const std::string& version) {
  MutexLock lock(mu_);
  protocol_version_ = version;
}

void HttpClientTransport::StartStandalone() {
  if (!options_.standalone_stream || standalone_.joinable() || closed_) return;
  standalone_ = std::thread([this] { StandaloneLoop(); });
  MutexLock lock(mu_);
  cv_.wait_for(lock, std::chrono::seconds(5),
               [&]() REQUIRES(mu_) { return standalone_answered_ || closed_; });
}

void HttpClientTransport::StandaloneLoop() {
  std::string last_id;
  int retry = options_.default_retry_ms;
  auto answered = [this] {
    MutexLock lock(mu_);
    standalone_answered_ = true;
    cv_.notify_all();
  };
  for (int failures = 0; !closed_ && failures < 3;) {
    Exchange ex;
    ex.method = "GET";
    ex.last_event_id_header = last_id;
    ex.on_headers = answered;
    Status st = Perform(ex);
    answered();
    if (closed_) return;
    if (st.ok() && (ex.status == 405 || ex.status == 404 || ex.status == 400 || ex.status == 406)) {
      spdlog::debug("mcp server '{}': no standalone stream (HTTP {})", name_, ex.status);
      return;
    }
    if (!st.ok() || ex.status >= 300 || !ex.sse) {
      ++failures;
    } else {
      failures = 0;
    }
    if (!ex.last_event_id.empty()) last_id = ex.last_event_id;
    if (ex.retry_ms >= 0) retry = ex.retry_ms;
    int wait = retry << std::min(failures, 6);
    for (int slept = 0; slept < wait && !closed_; slept += 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

void HttpClientTransport::Close() {
  if (closed_.exchange(true)) return;
  {
    MutexLock lock(mu_);
    cv_.notify_all();  // a StartStandalone still waiting gives up
  }
  if (standalone_.joinable()) standalone_.join();
  {
    MutexLock lock(mu_);
    cv_.wait(lock, [&]() REQUIRES(mu_) { return workers_ == 0; });
  }
  std::string sid = session_id();
  if (!sid.empty() && !failed_) {
    // Tell the server the session is over (best effort).
    Exchange ex;
    ex.method = "DELETE";
    ex.total_timeout_s = 2;
    ex.connect_timeout_s = 2;
    ex.ignore_close = true;
    (void)Perform(ex);
  }
}

}  // namespace naut::mcp

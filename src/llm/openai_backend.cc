#include "llm/openai_backend.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <stop_token>

#include "core/cancel.h"
#include "llm/openai_wire.h"

namespace naut::llm {

namespace {

using Clock = std::chrono::steady_clock;

// The most a model server may send in one body or one stream event: far above a long answer,
// room for a large batch of embeddings.
constexpr size_t kMaxResponseBytes = 64 << 20;

// Every JSON a model server sends is read here: within kMaxResponseBytes and kMaxJsonDepth
// (core/json.h), so a hostile or broken server gets a typed bad-response error, never a crash.
LlmResult<Json> ParseReply(std::string_view text, const std::string& what) {
  auto parsed = ParseJson(text, what, kMaxResponseBytes);
  if (parsed) return std::move(*parsed);
  if (parsed.error().code() == Code::kResourceExhausted)
    return LlmError{LlmError::Kind::kBadResponse, parsed.error().message()};
  return LlmError{LlmError::Kind::kBadResponse,
                  what + " is not JSON: '" + std::string(text.substr(0, 120)) + "'"};
}

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  int status = 0;
  std::string body;
  std::string retry_after;
  std::string content_type;
  const std::function<bool(std::string_view)>* on_body = nullptr;
  bool stopped_by_reader = false;
  size_t body_cap = kMaxResponseBytes;
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    size_t sp = line.find(' ');
    if (sp != std::string_view::npos)
      t->status = std::atoi(std::string(line.substr(sp + 1, 3)).c_str());
    t->retry_after.clear();
    t->content_type.clear();
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  std::string value(line.substr(colon + 1));
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front())))
    value.erase(0, 1);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.pop_back();
  if (name == "retry-after") t->retry_after = value;
  if (name == "content-type") t->content_type = value;
  return size * n;
}

size_t OnWrite(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view chunk(data, size * n);
  if (t->on_body && *t->on_body && t->status >= 200 && t->status < 300) {
    if (!(*t->on_body)(chunk)) {
      t->stopped_by_reader = true;
      return 0;  // aborts the transfer
    }
    return chunk.size();
  }
  if (t->body.size() + chunk.size() > t->body_cap) return 0;
  t->body.append(chunk);
  return chunk.size();
}

}  // namespace

std::string EndpointRoot(std::string base_url) {
  while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
  if (base_url.size() >= 3 && base_url.compare(base_url.size() - 3, 3, "/v1") == 0)
    base_url.resize(base_url.size() - 3);
  return base_url;
}

// A multi handle with its one easy handle: the multi handle owns the connection cache, so the
// pair is kept together and reused to keep connections alive.
struct OpenAiBackend::Handle {
  CURLM* multi = nullptr;
  CURL* easy = nullptr;
  Handle() : multi(curl_multi_init()), easy(curl_easy_init()) {}
  ~Handle() {
    if (easy) curl_easy_cleanup(easy);
    if (multi) curl_multi_cleanup(multi);
  }
};

OpenAiBackend::OpenAiBackend(EndpointOptions options) : options_(std::move(options)) {
  GlobalInit();
  root_ = EndpointRoot(options_.base_url);
}

OpenAiBackend::~OpenAiBackend() = default;

std::unique_ptr<OpenAiBackend::Handle> OpenAiBackend::Borrow() {
  {
    MutexLock lock(mu_);
    if (!idle_.empty()) {
      auto h = std::move(idle_.back());
      idle_.pop_back();
      return h;
    }
  }
  return std::make_unique<Handle>();
}

void OpenAiBackend::Return(std::unique_ptr<Handle> h) {
  MutexLock lock(mu_);
  if (idle_.size() < 16) idle_.push_back(std::move(h));
}

LlmResult<OpenAiBackend::HttpReply> OpenAiBackend::Http(
    const std::string& method, const std::string& path, const std::string& body,
    std::stop_token cancel, std::chrono::milliseconds timeout,
    const std::function<bool(std::string_view)>& on_body, bool sse) {
  auto fail = [&](LlmError::Kind kind, std::string message) {
    LlmError e{kind, std::move(message)};
    e.endpoint = options_.base_url;
    return e;
  };
  if (cancel.stop_requested()) return fail(LlmError::Kind::kCancelled, "cancelled before sending");
  auto handle = Borrow();
  if (!handle->multi || !handle->easy)
    return fail(LlmError::Kind::kNetwork, "libcurl could not create a handle");
  CURL* easy = handle->easy;
  curl_easy_reset(easy);
  Transfer t;
  t.on_body = &on_body;
  std::string url = root_ + path;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  if (sse) headers = curl_slist_append(headers, "Accept: text/event-stream");
  std::string auth;
  if (!options_.api_key.empty()) {
    auth = "Authorization: Bearer " + options_.api_key;
    headers = curl_slist_append(headers, auth.c_str());
  }
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(std::max<int64_t>(1, timeout.count())));
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, OnWrite);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);
  if (method == "POST") {
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  } else {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
  }

  CURLM* multi = handle->multi;
  curl_multi_add_handle(multi, easy);
  CURLcode result = CURLE_OK;
  bool cancelled = false;
  {
    // Wakes curl_multi_poll so a cancel takes effect now, not at the next poll timeout.
    std::stop_callback wake(cancel, [multi] { curl_multi_wakeup(multi); });
    int running = 1;
    while (true) {
      CURLMcode mc = curl_multi_perform(multi, &running);
      if (mc != CURLM_OK) {
        result = CURLE_FAILED_INIT;
        break;
      }
      if (running == 0) break;
      if (cancel.stop_requested()) {
        cancelled = true;
        break;
      }
      curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
    }
    if (!cancelled) {
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
        if (msg->msg == CURLMSG_DONE) result = msg->data.result;
      }
    }
  }
  curl_multi_remove_handle(multi, easy);
  curl_slist_free_all(headers);
  Return(std::move(handle));

  if (cancelled) return fail(LlmError::Kind::kCancelled, "cancelled during " + method + " " + path);
  if (t.stopped_by_reader)
    return HttpReply{t.status, std::move(t.body), t.retry_after, t.content_type};
  switch (result) {
    case CURLE_OK:
      break;
    case CURLE_OPERATION_TIMEDOUT:
      return fail(LlmError::Kind::kTimeout, method + " " + path + " took longer than " +
                                                std::to_string(timeout.count()) + " ms");
    case CURLE_WRITE_ERROR:
      return fail(LlmError::Kind::kBadResponse,
                  "response body larger than " + std::to_string(t.body_cap) + " bytes");
    default:
      return fail(LlmError::Kind::kNetwork, method + " " + url + ": " + curl_easy_strerror(result));
  }
  return HttpReply{t.status, std::move(t.body), std::move(t.retry_after),
                   std::move(t.content_type)};
}

ChatResult OpenAiBackend::ChatOnce(const ChatRequest& request, const CallOptions& options,
                                   bool* delivered) {
  const bool stream = static_cast<bool>(options.on_delta);
  std::string body =
      DumpJson(RequestToWire(request, options_.model, stream, options_.tool_history));
  auto timeout = options.timeout.value_or(options_.timeout);
  auto start = Clock::now();
  auto with_endpoint = [&](LlmError e) {
    e.endpoint = options_.base_url;
    return e;
  };

  if (!stream) {
    auto reply = Http("POST", "/v1/chat/completions", body, options.cancel, timeout);
    if (!reply) return reply.error();
    if (reply->status < 200 || reply->status >= 300) {
      return with_endpoint(ErrorFromHttp(reply->status, reply->body, reply->retry_after));
    }
    auto json = ParseReply(reply->body, "response");
    if (!json) return with_endpoint(json.error());
    auto parsed = ParseCompletion(*json);
    if (!parsed) return with_endpoint(parsed.error());
    parsed->timings.total_ms = MsSince(start);
    parsed->endpoint = options_.base_url;
    return parsed;
  }

  SseParser sse;
  StreamAccumulator acc;
  std::optional<LlmError> stream_error;
  bool done = false;
  double first_token_ms = 0;
  std::function<bool(std::string_view)> reader = [&](std::string_view bytes) {
    for (auto& ev : sse.Feed(bytes)) {
      if (ev.data == "[DONE]") {
        done = true;
        return false;
      }
      auto chunk = ParseReply(ev.data, "stream event");
      if (!chunk) {
        stream_error = chunk.error();
        return false;
      }
      StreamDelta delta;
      if (auto err = acc.Apply(*chunk, delta)) {
        stream_error = *err;
        return false;
      }
      if (!delta.content.empty() || !delta.reasoning.empty() || delta.tool_call_started) {
        if (first_token_ms == 0) first_token_ms = MsSince(start);
        if (delivered) *delivered = true;
        options.on_delta(delta);
      }
    }
    if (sse.pending() > kMaxResponseBytes) {
      stream_error =
          LlmError{LlmError::Kind::kBadResponse,
                   "stream event larger than " + std::to_string(kMaxResponseBytes) + " bytes"};
      return false;
    }
    return true;
  };
  auto reply =
      Http("POST", "/v1/chat/completions", body, options.cancel, timeout, reader, /*sse=*/true);
  if (!reply) return reply.error();
  if (reply->status < 200 || reply->status >= 300) {
    return with_endpoint(ErrorFromHttp(reply->status, reply->body, reply->retry_after));
  }
  if (stream_error) return with_endpoint(*stream_error);
  ChatResponse response = acc.Finish();
  if (!done && response.finish_reason == FinishReason::kUnknown) {
    return with_endpoint(
        {LlmError::Kind::kNetwork, "the stream ended before the answer was complete (no [DONE])"});
  }
  response.timings.total_ms = MsSince(start);
  response.timings.first_token_ms = first_token_ms;
  response.endpoint = options_.base_url;
  return response;
}

ChatResult OpenAiBackend::Chat(const ChatRequest& request, const CallOptions& options) {
  int retries = options.max_retries.value_or(options_.max_retries);
  std::chrono::milliseconds backoff = options_.backoff_initial;
  for (int attempt = 0;; ++attempt) {
    bool delivered = false;
    ChatResult r = ChatOnce(request, options, &delivered);
    if (r.ok() || !r.error().transient() || attempt >= retries) return r;
    auto wait = r.error().retry_after.value_or(backoff);
    wait = std::min(wait, options_.backoff_max * 4);
    spdlog::warn("{}; retrying in {} ms (attempt {} of {})", r.error().ToString(), wait.count(),
                 attempt + 2, retries + 1);
    if (!SleepFor(wait, options.cancel))
      return LlmError{LlmError::Kind::kCancelled, "cancelled while waiting to retry"};
    if (delivered && options.on_delta) options.on_delta(StreamDelta{.restart = true});
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
}

LlmResult<bool> OpenAiBackend::Health(std::chrono::milliseconds timeout) {
  auto reply = Http("GET", "/health", "", {}, timeout);
  if (!reply) return reply.error();
  if (reply->status == 200) return true;
  LlmError e{reply->status == 503 ? LlmError::Kind::kUnavailable : LlmError::Kind::kServer,
             reply->status == 503 ? "loading the model"
                                  : "GET /health answered HTTP " + std::to_string(reply->status)};
  e.http_status = reply->status;
  e.endpoint = options_.base_url;
  return e;
}

LlmResult<std::vector<std::string>> OpenAiBackend::ListModels(std::chrono::milliseconds timeout) {
  auto reply = Http("GET", "/v1/models", "", {}, timeout);
  if (!reply) return reply.error();
  if (reply->status != 200) return ErrorFromHttp(reply->status, reply->body, reply->retry_after);
  auto parsed = ParseReply(reply->body, "/v1/models");
  if (!parsed) return parsed.error();
  const Json& j = *parsed;
  if (!j.is_object() || !j.contains("data") || !j["data"].is_array()) {
    return LlmError{LlmError::Kind::kBadResponse, "/v1/models did not answer {\"data\": [...]}"};
  }
  std::vector<std::string> out;
  for (const auto& m : j["data"]) {
    if (m.is_object() && m.contains("id") && m["id"].is_string())
      out.push_back(m["id"].get<std::string>());
  }
  return out;
}

LlmResult<ServerInfo> OpenAiBackend::Info(std::chrono::milliseconds timeout) {
  ServerInfo info;
  auto props = Http("GET", "/props", "", {}, timeout);
  if (!props) return props.error();
  if (props->status == 200) {
    // /props is optional (llama-server has it): what cannot be read is skipped.
    auto parsed = ParseReply(props->body, "/props");
    const Json j = parsed ? std::move(*parsed) : Json();
    if (j.is_object()) {
      if (j.contains("default_generation_settings") &&
          j["default_generation_settings"].is_object()) {
        const Json& g = j["default_generation_settings"];
        if (g.contains("n_ctx") && g["n_ctx"].is_number())
          info.context_size = g["n_ctx"].get<int64_t>();
      }
      if (j.contains("total_slots") && j["total_slots"].is_number())
        info.total_slots = j["total_slots"].get<int>();
      if (j.contains("model_alias") && j["model_alias"].is_string())
        info.model = j["model_alias"].get<std::string>();
      if (info.model.empty() && j.contains("model_path") && j["model_path"].is_string()) {
        info.model = std::filesystem::path(j["model_path"].get<std::string>()).filename().string();
      }
    }
  }
  if (info.model.empty()) {
    auto models = ListModels(timeout);
    if (!models) return models.error();
    if (!models->empty()) info.model = models->front();
  }
  return info;
}

LlmResult<SlotLoad> OpenAiBackend::Slots(std::chrono::milliseconds timeout) {
  auto reply = Http("GET", "/slots", "", {}, timeout);
  if (!reply) return reply.error();
  if (reply->status != 200) {
    return LlmError{LlmError::Kind::kUnavailable,
                    "GET /slots answered HTTP " + std::to_string(reply->status)};
  }
  auto parsed = ParseReply(reply->body, "/slots");
  if (!parsed) return parsed.error();
  const Json& j = *parsed;
  if (!j.is_array()) return LlmError{LlmError::Kind::kBadResponse, "/slots is not a JSON array"};
  SlotLoad load;
  for (const auto& s : j) {
    ++load.total;
    bool busy = s.is_object() &&
                ((s.contains("is_processing") && s["is_processing"].is_boolean() &&
                  s["is_processing"].get<bool>()) ||
                 (s.contains("state") && s["state"].is_number() && s["state"].get<int>() != 0));
    if (busy) ++load.busy;
  }
  return load;
}

LlmResult<int64_t> OpenAiBackend::CountTokens(const std::string& text,
                                              std::chrono::milliseconds timeout) {
  auto reply = Http("POST", "/tokenize", DumpJson(Json{{"content", text}}), {}, timeout);
  if (!reply) return reply.error();
  if (reply->status != 200) return ErrorFromHttp(reply->status, reply->body, reply->retry_after);
  auto parsed = ParseReply(reply->body, "/tokenize");
  if (!parsed) return parsed.error();
  const Json& j = *parsed;
  if (!j.is_object() || !j.contains("tokens") || !j["tokens"].is_array()) {
    return LlmError{LlmError::Kind::kBadResponse, "/tokenize did not answer {\"tokens\": [...]}"};
  }
  return static_cast<int64_t>(j["tokens"].size());
}

LlmResult<std::vector<std::vector<float>>> OpenAiBackend::Embed(
    const std::vector<std::string>& inputs, const std::string& model, std::stop_token cancel) {
  Json body{{"model", model.empty() ? options_.model : model}, {"input", inputs}};
  auto reply = Http("POST", "/v1/embeddings", DumpJson(body), cancel, options_.timeout);
  if (!reply) return reply.error();
  if (reply->status != 200) return ErrorFromHttp(reply->status, reply->body, reply->retry_after);
  auto parsed = ParseReply(reply->body, "/v1/embeddings");
  if (!parsed) return parsed.error();
  const Json& j = *parsed;
  if (!j.is_object() || !j.contains("data") || !j["data"].is_array() ||
      j["data"].size() != inputs.size()) {
    return LlmError{LlmError::Kind::kBadResponse,
                    "/v1/embeddings did not answer one {\"embedding\": [...]} per input (" +
                        std::to_string(inputs.size()) + ")"};
  }
  std::vector<std::vector<float>> out(inputs.size());
  for (const auto& d : j["data"]) {
    size_t index =
        d.contains("index") && d["index"].is_number_unsigned() ? d["index"].get<size_t>() : 0;
    if (index >= out.size() || !d.contains("embedding") || !d["embedding"].is_array()) {
      return LlmError{LlmError::Kind::kBadResponse,
                      "/v1/embeddings entry without a valid index or embedding"};
    }
    for (const auto& v : d["embedding"]) {
      if (!v.is_number())
        return LlmError{LlmError::Kind::kBadResponse, "embedding holds a non-number"};
      out[index].push_back(v.get<float>());
    }
  }
  return out;
}

}  // namespace naut::llm

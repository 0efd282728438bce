#pragma once
// Chat types and the ChatModel interface: what the agent sends to a model and what it gets back.
//
// Everything here is a plain value (safe to copy and move between threads). Errors are typed
// (LlmError::Kind) the way goose's providers/errors.rs types them, so that callers can act on
// them: shrink the context on kContextLengthExceeded, wait on kRateLimited, fail over on
// kNetwork / kServer, and show the model a correction (never crash) on kBadResponse.

#include <chrono>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <variant>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace naut::llm {

enum class Role { kSystem, kUser, kAssistant, kTool };
std::string_view RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);

// One function call the model asked for. `arguments` is the parsed object (after repair);
// `arguments_text` is what the model wrote, kept for traces and for sending the call back.
struct ToolCall {
  std::string id;
  std::string name;
  Json arguments = Json::object();
  std::string arguments_text;
  friend bool operator==(const ToolCall&, const ToolCall&) = default;
};

struct Message {
  Role role = Role::kUser;
  std::string content;
  std::vector<ToolCall> tool_calls;  // assistant messages only
  std::string tool_call_id;          // tool messages: the call this answers
  std::string name;                  // tool messages: the tool's name (some servers want it)

  static Message System(std::string text) { return {Role::kSystem, std::move(text), {}, {}, {}}; }
  static Message User(std::string text) { return {Role::kUser, std::move(text), {}, {}, {}}; }
  static Message Assistant(std::string text, std::vector<ToolCall> calls = {}) {
    return {Role::kAssistant, std::move(text), std::move(calls), {}, {}};
  }
  static Message ToolResult(std::string call_id, std::string name, std::string text) {
    return {Role::kTool, std::move(text), {}, std::move(call_id), std::move(name)};
  }
};

// A function the model may call, in OpenAI `tools` shape. `parameters` is a JSON Schema;
// pass it through SanitizeToolSchema (schema_sanitizer.h) before it reaches a server.
struct ToolSpec {
  std::string name;
  std::string description;
  Json parameters = Json{{"type", "object"}, {"properties", Json::object()}};
};

struct ToolChoice {
  enum class Mode { kAuto, kNone, kRequired, kFunction } mode = Mode::kAuto;
  std::string function;  // for kFunction
};

struct ResponseFormat {
  enum class Type { kText, kJsonObject, kJsonSchema } type = Type::kText;
  std::string name = "response";
  Json schema;  // for kJsonSchema
};

struct Sampling {
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int> top_k;
  std::optional<double> min_p;
  std::optional<double> repeat_penalty;
  std::optional<int64_t> seed;
  std::optional<int> max_tokens;
};

struct ChatRequest {
  std::string model;  // empty: the backend's configured model
  std::vector<Message> messages;
  std::vector<ToolSpec> tools;
  ToolChoice tool_choice;
  ResponseFormat response_format;
  Sampling sampling;
  std::vector<std::string> stop;
  bool cache_prompt = true;  // llama-server: reuse the KV cache for a shared prefix
};

enum class FinishReason { kStop, kLength, kToolCalls, kContentFilter, kUnknown };
std::string_view FinishReasonName(FinishReason reason);
FinishReason ParseFinishReason(std::string_view name);

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t cached_tokens = 0;  // part of prompt_tokens served from the server's prompt cache
  int64_t completion_tokens = 0;
};

// Times measured by the client (and by the server when it reports `timings`).
struct Timings {
  double total_ms = 0;          // request sent to last byte received
  double first_token_ms = 0;    // streaming: request sent to first content/tool delta
  double server_prompt_ms = 0;  // llama-server timings.prompt_ms, 0 when absent
  double server_predicted_ms = 0;
};

struct ChatResponse {
  std::string content;
  std::string reasoning;  // reasoning_content, when the server separates it
  std::vector<ToolCall> tool_calls;
  FinishReason finish_reason = FinishReason::kUnknown;
  Usage usage;
  Timings timings;
  std::string model;     // as the server named it
  std::string endpoint;  // base URL that answered

  // Generation speed: the server's own figure when it reports timings, else measured here
  // over the streamed part (or the whole request when not streamed). 0 when unknown.
  double TokensPerSecond() const;
};

// What a streaming callback receives, in order. `restart` is set when a pool retried the
// request on another endpoint after a failure mid-stream: discard what was shown so far.
struct StreamDelta {
  std::string content;
  std::string reasoning;
  bool tool_call_started = false;  // a tool call began (its name is in tool_name)
  std::string tool_name;
  bool restart = false;
};
using StreamCallback = std::function<void(const StreamDelta&)>;

struct CallOptions {
  StreamCallback on_delta;  // set: stream (SSE); unset: one JSON response
  std::stop_token cancel;
  // Per-call overrides of the backend's defaults.
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<int> max_retries;
};

struct LlmError {
  enum class Kind {
    kContextLengthExceeded,  // the prompt does not fit: compact and retry
    kRateLimited,            // 429 or every slot busy; retry_after says when to try again
    kNetwork,                // could not connect, connection reset, stream cut
    kTimeout,                // no complete answer within the time limit
    kServer,                 // 5xx
    kAuthentication,         // 401 / 403
    kBadRequest,             // other 4xx: the request itself is wrong
    kBadResponse,            // the answer is not what the protocol promises
    kCancelled,
    kUnavailable,            // no endpoint can take the request (all down, or binary missing)
  };
  Kind kind = Kind::kServer;
  std::string message;
  int http_status = 0;
  std::optional<std::chrono::milliseconds> retry_after;
  std::string endpoint;

  // Worth retrying (on this endpoint after a pause, or on another one).
  bool transient() const {
    return kind == Kind::kRateLimited || kind == Kind::kNetwork || kind == Kind::kServer ||
           kind == Kind::kTimeout || kind == Kind::kUnavailable;
  }
  std::string ToString() const;  // "llm rate limited (HTTP 429, retry after 2s) at http://...: ..."
  Status ToStatus() const;
};
std::string_view LlmErrorKindName(LlmError::Kind kind);

// A value or an LlmError; shaped like core's Result<T>.
template <typename T>
class [[nodiscard]] LlmResult {
 public:
  LlmResult(T value) : v_(std::move(value)) {}    // NOLINT(google-explicit-constructor)
  LlmResult(LlmError e) : v_(std::move(e)) {}     // NOLINT(google-explicit-constructor)
  bool ok() const { return v_.index() == 0; }
  bool has_value() const { return ok(); }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const LlmError& error() const { return std::get<1>(v_); }
  Status status() const { return ok() ? Status::Ok() : error().ToStatus(); }

 private:
  std::variant<T, LlmError> v_;
};

using ChatResult = LlmResult<ChatResponse>;

// A chat model: one OpenAI-compatible server, a pool of them, or the embedded engine.
// Implementations are safe to call from several threads at once unless they say otherwise.
class ChatModel {
 public:
  virtual ~ChatModel() = default;
  // Sends `request`; streams deltas to options.on_delta when set. Returns once the answer is
  // complete, failed, timed out or was cancelled through options.cancel.
  virtual ChatResult Chat(const ChatRequest& request, const CallOptions& options) = 0;
  // A short name for logs ("openai http://127.0.0.1:8080", "pool of 3").
  virtual std::string Describe() const = 0;
};

}  // namespace naut::llm

namespace naut::internal {
template <typename T>
Status ToStatus(const ::naut::llm::LlmResult<T>& r) {
  return r.status();
}
}  // namespace naut::internal

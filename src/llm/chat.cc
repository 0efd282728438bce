#include "llm/chat.h"

#include <fmt/format.h>

namespace naut::llm {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kSystem:
      return "system";
    case Role::kUser:
      return "user";
    case Role::kAssistant:
      return "assistant";
    case Role::kTool:
      return "tool";
  }
  return "user";
}

std::optional<Role> ParseRole(std::string_view name) {
  if (name == "system" || name == "developer") return Role::kSystem;
  if (name == "user") return Role::kUser;
  if (name == "assistant") return Role::kAssistant;
  if (name == "tool") return Role::kTool;
  return std::nullopt;
}

std::string_view FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kToolCalls:
      return "tool_calls";
    case FinishReason::kContentFilter:
      return "content_filter";
    case FinishReason::kUnknown:
      return "unknown";
  }
  return "unknown";
}

FinishReason ParseFinishReason(std::string_view name) {
  if (name == "stop" || name == "eos") return FinishReason::kStop;
  if (name == "length") return FinishReason::kLength;
  if (name == "tool_calls" || name == "function_call") return FinishReason::kToolCalls;
  if (name == "content_filter") return FinishReason::kContentFilter;
  return FinishReason::kUnknown;
}

double ChatResponse::TokensPerSecond() const {
  if (usage.completion_tokens <= 0) return 0;
  double ms = timings.server_predicted_ms;
  if (ms <= 0) ms = timings.total_ms - timings.first_token_ms;
  if (ms <= 0) ms = timings.total_ms;
  return ms > 0 ? static_cast<double>(usage.completion_tokens) * 1000.0 / ms : 0;
}

std::string_view LlmErrorKindName(LlmError::Kind kind) {
  using K = LlmError::Kind;
  switch (kind) {
    case K::kContextLengthExceeded:
      return "context length exceeded";
    case K::kRateLimited:
      return "rate limited";
    case K::kNetwork:
      return "network error";
    case K::kTimeout:
      return "timed out";
    case K::kServer:
      return "server error";
    case K::kAuthentication:
      return "authentication failed";
    case K::kBadRequest:
      return "request rejected";
    case K::kBadResponse:
      return "bad response";
    case K::kCancelled:
      return "cancelled";
    case K::kUnavailable:
      return "unavailable";
  }
  return "error";
}

std::string LlmError::ToString() const {
  std::string s = "llm " + std::string(LlmErrorKindName(kind));
  std::string detail;
  if (http_status != 0) detail = "HTTP " + std::to_string(http_status);
  if (retry_after) {
    detail += (detail.empty() ? "" : ", ") +
              fmt::format("retry after {:.1f}s", retry_after->count() / 1000.0);
  }
  if (!detail.empty()) s += " (" + detail + ")";
  if (!endpoint.empty()) s += " at " + endpoint;
  if (!message.empty()) s += ": " + message;
  return s;
}

Status LlmError::ToStatus() const {
  Code code = Code::kUnavailable;
  switch (kind) {
    case Kind::kContextLengthExceeded:
    case Kind::kRateLimited:
      code = Code::kResourceExhausted;
      break;
    case Kind::kNetwork:
    case Kind::kServer:
    case Kind::kUnavailable:
      code = Code::kUnavailable;
      break;
    case Kind::kTimeout:
      code = Code::kDeadlineExceeded;
      break;
    case Kind::kAuthentication:
      code = Code::kPermissionDenied;
      break;
    case Kind::kBadRequest:
      code = Code::kInvalidArgument;
      break;
    case Kind::kBadResponse:
      code = Code::kDataLoss;
      break;
    case Kind::kCancelled:
      code = Code::kCancelled;
      break;
  }
  return {code, ToString()};
}

}  // namespace naut::llm

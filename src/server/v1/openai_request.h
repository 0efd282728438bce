#pragma once
// Request bodies of /v1/chat/completions, /v1/completions and /v1/embeddings, parsed into typed
// requests, and the OpenAI-shaped error body every refusal carries. Anything that is not what the
// OpenAI API (with llama-server's extras: top_k, min_p, repeat_penalty, n_predict, ignore_eos)
// allows is refused with a message naming the field and what was expected. Pure functions.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/json.h"
#include "llm/chat.h"

namespace naut::server {

struct ApiError {
  int status = 400;
  std::string type = "invalid_request_error";  // OpenAI's error.type
  std::string message;
};
// {"error": {"code": status, "message": ..., "type": ...}}, as llama-server writes it.
Json ErrorJson(const ApiError& e);

struct V1Request {
  bool chat = true;          // /v1/chat/completions; false: /v1/completions
  llm::ChatRequest request;  // messages (chat) or none, sampling, stop, tools, formats, model
  std::string prompt;        // /v1/completions
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool parallel_tool_calls = false;
  bool ignore_eos = false;  // llama-server's: generate past end-of-generation tokens
};

std::variant<V1Request, ApiError> ParseChatCompletionBody(std::string_view body);
std::variant<V1Request, ApiError> ParseCompletionBody(std::string_view body);

// /v1/embeddings: `input` is a string, an array of strings, an array of token ids or an array
// of arrays of token ids (as OpenAI allows); `encoding_format` is "float" (the default) or
// "base64" (little-endian float32s, what the official clients ask for).
struct EmbeddingsRequest {
  std::vector<std::variant<std::string, std::vector<int32_t>>> inputs;
  bool base64 = false;
  std::string model;
};
inline constexpr size_t kMaxEmbeddingInputs = 2048;  // OpenAI's own limit per request
std::variant<EmbeddingsRequest, ApiError> ParseEmbeddingsBody(std::string_view body);

}  // namespace naut::server

#pragma once
// Builds the ChatModel the configuration asks for ([llm] section, LLM_BACKEND, LLM_BASE_URL,
// LLM_MODEL):
//   backend = "openai"    one OpenAI-compatible server at base_url, or an EndpointPool when
//                         [llm] endpoints lists more
//   backend = "llamacpp"  a managed llama-server (llama_server.h) for the GGUF in models_dir or
//                         [llm] model, reached through the same HTTP client
//   backend = "embedded"  not built by this module (the engine module sits above llm);
//                         Unimplemented here, with a message saying so
// The returned model owns whatever it started and stops it when destroyed.

#include <memory>
#include <vector>

#include "core/config.h"
#include "llm/chat.h"
#include "llm/endpoint_pool.h"

namespace naut::llm {

// base_url followed by [llm] endpoints, duplicates removed, with the [llm] timeouts and key.
std::vector<EndpointOptions> EndpointsFromConfig(const LlmConfig& config);

Result<std::unique_ptr<ChatModel>> MakeChatModel(const LlmConfig& config);

}  // namespace naut::llm

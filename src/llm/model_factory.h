#pragma once
// Builds the ChatModel the configuration asks for ([llm] section, LLM_BACKEND, LLM_BASE_URL,
// LLM_MODEL):
//   backend = "openai"    one OpenAI-compatible server at base_url, or an EndpointPool when
//                         [llm] endpoints lists more (EndpointsFromConfig), tried up to once
//                         per endpoint plus [llm] max_retries times
//   backend = "llamacpp"  a managed llama-server (llama_server.h) for the GGUF FindGguf picks
//                         from [llm] model and models_dir, [llm] context_size for each of
//                         [llm] slots (--parallel when more than one), reached through the
//                         same HTTP client
//   backend = "embedded"  the in-process engine (embedded_backend.h) with that GGUF, [llm]
//                         context_size, threads, slots, chat_format and chat_template
// Errors: no llama-server (looked for before the model), no GGUF, a model the engine cannot
// load, or an unknown backend (InvalidArgument naming the three).
// The returned model owns whatever it started and stops it when destroyed. A pool writes what
// happens to its endpoints to `pool_journal` when one is given (pool_journal.h).

#include <filesystem>
#include <memory>
#include <vector>

#include "core/config.h"
#include "llm/chat.h"
#include "llm/endpoint_pool.h"

namespace naut::llm {

// base_url followed by [llm] endpoints, duplicates removed, with the [llm] timeouts and key.
std::vector<EndpointOptions> EndpointsFromConfig(const LlmConfig& config);

Result<std::unique_ptr<ChatModel>> MakeChatModel(const LlmConfig& config,
                                                 const std::filesystem::path& pool_journal = {});

}  // namespace naut::llm

#pragma once
// A client of one OpenAI-compatible server (llama-server, Ollama, vLLM, LM Studio, a Paddler
// balancer): /v1/chat/completions plain and streamed, /v1/models, /v1/embeddings, and
// llama-server's /health, /props, /slots and /tokenize where the server has them.
//
// Built on libcurl rather than cpp-httplib because a chat stream must be cancellable at any
// moment and bounded in time: the multi interface lets a std::stop_callback wake the transfer
// (curl_multi_wakeup) so cancellation takes effect mid-stream at once, and libcurl separates
// connect and total timeouts and keeps connections alive between requests.
//
// Thread-safety: every method may be called from several threads at once; each call borrows
// its own curl handle from a small internal pool (which keeps connections warm).

#include <chrono>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "core/mutex.h"
#include "llm/chat.h"
#include "llm/openai_wire.h"

namespace naut::llm {

struct EndpointOptions {
  std::string base_url = "http://127.0.0.1:8080";  // with or without a trailing /v1
  std::string api_key;                             // sent as "Authorization: Bearer <key>"
  std::string model;                               // used when a request names none
  std::chrono::milliseconds timeout{600'000};      // whole request, streaming included
  std::chrono::milliseconds connect_timeout{5'000};
  int max_retries = 3;  // transient errors only (network, 5xx, 429, timeout)
  std::chrono::milliseconds backoff_initial{250};
  std::chrono::milliseconds backoff_max{8'000};
  ToolHistory tool_history = ToolHistory::kNative;  // how earlier tool calls are sent
};

// What /props (llama-server) or /v1/models says about the server.
struct ServerInfo {
  std::string model;
  int64_t context_size = 0;  // 0: the server did not say
  int total_slots = 0;       // 0: the server did not say
};

struct SlotLoad {
  int total = 0;
  int busy = 0;
};

class OpenAiBackend : public ChatModel {
 public:
  explicit OpenAiBackend(EndpointOptions options);
  ~OpenAiBackend() override;

  // Retries transient failures with exponential backoff (honouring Retry-After). A stream
  // that fails after deltas were delivered is retried too, announced with a `restart` delta.
  ChatResult Chat(const ChatRequest& request, const CallOptions& options) override;
  // One attempt, no retries (the endpoint pool does its own retrying across endpoints).
  // `delivered` is set once a delta reached options.on_delta.
  ChatResult ChatOnce(const ChatRequest& request, const CallOptions& options,
                      bool* delivered = nullptr);
  std::string Describe() const override { return "openai " + options_.base_url; }

  // GET /health: ok when 200. kUnavailable with "loading" when the server answers 503.
  LlmResult<bool> Health(std::chrono::milliseconds timeout = std::chrono::seconds(3));
  // GET /props, falling back to /v1/models.
  LlmResult<ServerInfo> Info(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // GET /slots (llama-server with --slots; 501 or 404 elsewhere -> kUnavailable).
  LlmResult<SlotLoad> Slots(std::chrono::milliseconds timeout = std::chrono::seconds(3));
  LlmResult<std::vector<std::string>> ListModels(
      std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // POST /tokenize: the number of tokens `text` is for this server's model.
  LlmResult<int64_t> CountTokens(const std::string& text,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // POST /v1/embeddings, one vector per input, in order.
  LlmResult<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& inputs,
                                                   const std::string& model,
                                                   std::stop_token cancel = {});

  const std::string& base_url() const { return options_.base_url; }
  const EndpointOptions& options() const { return options_; }

  struct HttpReply {
    int status = 0;
    std::string body;
    std::string retry_after;
    std::string content_type;
  };
  // One HTTP exchange. `on_body` (when set) receives the body as it arrives for a 2xx reply
  // and may return false to stop the transfer. Network failures, timeouts and cancellation
  // come back as LlmErrors; HTTP error statuses come back as replies.
  LlmResult<HttpReply> Http(const std::string& method, const std::string& path,
                            const std::string& body, std::stop_token cancel,
                            std::chrono::milliseconds timeout,
                            const std::function<bool(std::string_view)>& on_body = nullptr,
                            bool sse = false);

 private:
  struct Handle;
  std::unique_ptr<Handle> Borrow() EXCLUDES(mu_);
  void Return(std::unique_ptr<Handle> h) EXCLUDES(mu_);

  EndpointOptions options_;
  std::string root_;  // base URL without /v1
  Mutex mu_;
  std::vector<std::unique_ptr<Handle>> idle_ GUARDED_BY(mu_);
};

// "http://h:1/v1/" -> "http://h:1".
std::string EndpointRoot(std::string base_url);

}  // namespace naut::llm

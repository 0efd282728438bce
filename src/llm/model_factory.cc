#include "llm/model_factory.h"

#include <algorithm>

#include "llm/embedded_backend.h"
#include "llm/llama_server.h"
#include "llm/openai_backend.h"

namespace naut::llm {

namespace {

// A managed llama-server and the client that talks to it, destroyed together.
class ManagedLlamaModel : public ChatModel {
 public:
  ManagedLlamaModel(std::unique_ptr<LlamaServer> server, EndpointOptions options)
      : server_(std::move(server)), backend_(std::move(options)) {}
  ChatResult Chat(const ChatRequest& request, const CallOptions& options) override {
    return backend_.Chat(request, options);
  }
  std::string Describe() const override { return "llamacpp (managed) " + server_->base_url(); }

 private:
  std::unique_ptr<LlamaServer> server_;
  OpenAiBackend backend_;
};

EndpointOptions Endpoint(const LlmConfig& config, const std::string& url) {
  EndpointOptions e;
  e.base_url = url;
  e.api_key = config.api_key;
  e.model = config.model;
  e.timeout = std::chrono::milliseconds(static_cast<int64_t>(config.timeout_s * 1000));
  e.max_retries = config.max_retries;
  e.tool_history = config.tool_history == "text" ? ToolHistory::kText : ToolHistory::kNative;
  return e;
}

}  // namespace

std::vector<EndpointOptions> EndpointsFromConfig(const LlmConfig& config) {
  std::vector<std::string> urls = {config.base_url};
  for (const auto& u : config.endpoints) {
    if (std::find_if(urls.begin(), urls.end(), [&](const std::string& x) {
          return EndpointRoot(x) == EndpointRoot(u);
        }) == urls.end()) {
      urls.push_back(u);
    }
  }
  std::vector<EndpointOptions> out;
  out.reserve(urls.size());
  for (const auto& u : urls) out.push_back(Endpoint(config, u));
  return out;
}

Result<std::unique_ptr<ChatModel>> MakeChatModel(const LlmConfig& config,
                                                 const std::filesystem::path& pool_journal) {
  if (config.backend == "openai") {
    auto endpoints = EndpointsFromConfig(config);
    if (endpoints.size() == 1) return std::unique_ptr<ChatModel>(new OpenAiBackend(endpoints[0]));
    PoolOptions pool;
    pool.endpoints = std::move(endpoints);
    pool.max_attempts = static_cast<int>(pool.endpoints.size()) + config.max_retries;
    pool.journal = pool_journal;
    return std::unique_ptr<ChatModel>(new EndpointPool(std::move(pool)));
  }
  if (config.backend == "llamacpp") {
    LlamaServerOptions o;
    o.binary = config.llama_server;
    NAUT_RETURN_IF_ERROR(FindLlamaServer(o.binary));  // before looking for models: the likelier fix
    NAUT_ASSIGN_OR_RETURN(o.model, FindGguf(config.model, config.models_dir));
    o.context_size = config.context_size;
    // One slot passes no --parallel: llama-server keeps its own default.
    if (config.slots > 1) o.parallel = config.slots;
    NAUT_ASSIGN_OR_RETURN(auto server, LlamaServer::Start(o));
    EndpointOptions e = Endpoint(config, server->base_url());
    e.model = o.model.stem().string();
    return std::unique_ptr<ChatModel>(new ManagedLlamaModel(std::move(server), e));
  }
  if (config.backend == "embedded") {
    EmbeddedOptions o;
    NAUT_ASSIGN_OR_RETURN(auto path, FindGguf(config.model, config.models_dir));
    o.model_path = path.string();
    o.context_size = config.context_size;
    o.threads = config.threads;
    o.slots = config.slots;
    o.chat_format = config.chat_format;
    o.chat_template = config.chat_template;
    NAUT_ASSIGN_OR_RETURN(o.kv_type, engine::ParseKvType(config.kv_cache));
    NAUT_ASSIGN_OR_RETURN(auto backend, EmbeddedBackend::Load(o));
    return std::unique_ptr<ChatModel>(std::move(backend));
  }
  return InvalidArgument("unknown llm backend '" + config.backend +
                         "'; expected openai, llamacpp or embedded");
}

}  // namespace naut::llm

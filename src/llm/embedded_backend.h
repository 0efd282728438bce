#pragma once
// ChatModel over the in-process GGUF engine (src/engine): no server, same interface as the
// HTTP backends. The chat is rendered in the model's prompt format (chat_format.h), tokenized
// with special tokens, evaluated with prefix reuse (an agent turn that extends the previous
// prompt evaluates only the new suffix; Usage::cached_tokens says how many were reused) and
// sampled until an end-of-generation token, a stop string or max_tokens. Tool calls come back
// in the content, in the format the prompt taught, for ToolCallParser to read (tool calls
// with constrained decoding are not built yet).
//
// Thread-safety: Chat may be called from several threads; calls run one at a time on the one
// context (a second caller waits).

#include <memory>
#include <mutex>
#include <string>

#include "core/status.h"
#include "engine/model.h"
#include "llm/chat.h"
#include "llm/chat_format.h"

namespace naut::llm {

struct EmbeddedOptions {
  std::string model_path;
  int context_size = 4096;  // capped at the model's training context
  int threads = 0;          // 0: every core
  std::string chat_format;  // empty: detected from tokenizer.chat_template
};

class EmbeddedBackend : public ChatModel {
 public:
  // Loads the model (memory-mapped) and allocates the context. Errors name the file.
  static Result<std::unique_ptr<EmbeddedBackend>> Load(const EmbeddedOptions& options);

  ChatResult Chat(const ChatRequest& request, const CallOptions& options) override;
  std::string Describe() const override;

  ChatFormat format() const { return format_; }
  int context_size() const { return ctx_->n_ctx(); }

 private:
  EmbeddedBackend() = default;

  std::string path_;
  std::unique_ptr<engine::Model> model_;
  std::mutex mu_;  // guards ctx_
  std::unique_ptr<engine::Context> ctx_;
  ChatFormat format_ = ChatFormat::kChatMl;
};

}  // namespace naut::llm

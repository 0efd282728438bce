#pragma once
// ChatModel over the in-process GGUF engine (src/engine): no server, same interface as the
// HTTP backends. The chat is rendered with the model's own Jinja chat template
// (`tokenizer.chat_template`, or the file EmbeddedOptions::chat_template names) the way
// transformers renders it (chat_template.h); a file without a template, or whose template does
// not parse or cannot render a chat, gets the built-in format its template's markers name
// (chat_format.h), and EmbeddedOptions::chat_format picks a built-in format outright. The
// prompt is tokenized with special tokens, evaluated with prefix reuse (an agent turn that
// extends the previous prompt evaluates only the new suffix; Usage::cached_tokens says how
// many were reused) and sampled until an end-of-generation token, a stop string or
// max_tokens. Tool calls come back in the content, in the format the prompt taught, for
// ToolCallParser to read (tool calls with constrained decoding are not built yet). A chat the
// template refuses (raise_exception) is written in the built-in format when there is one, else
// answered with kBadRequest and the template's message.
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
#include "llm/chat_template.h"

namespace naut::llm {

struct EmbeddedOptions {
  std::string model_path;
  int context_size = 4096;    // capped at the model's training context
  int threads = 0;            // 0: every core
  std::string chat_format;    // a built-in format by name; empty: the model's chat template
  std::string chat_template;  // a Jinja file to use instead of the GGUF's template
};

class EmbeddedBackend : public ChatModel {
 public:
  // Loads the model (memory-mapped) and allocates the context. Errors name the file.
  static Result<std::unique_ptr<EmbeddedBackend>> Load(const EmbeddedOptions& options);

  ChatResult Chat(const ChatRequest& request, const CallOptions& options) override;
  std::string Describe() const override;

  // The built-in format: the one in use when there is no usable Jinja template, else the
  // fallback for chats the template refuses (see has_format()).
  ChatFormat format() const { return format_; }
  bool has_format() const { return has_format_; }
  // Whether prompts are written by a Jinja chat template, and which.
  const ChatTemplate* chat_template() const { return template_.get(); }
  // "chat template from the model's tokenizer.chat_template", "chat template from FILE", or
  // "chat format NAME" for a built-in format.
  std::string PromptFormat() const;
  int context_size() const { return ctx_->n_ctx(); }

 private:
  EmbeddedBackend() = default;
  Status ChoosePromptFormat(const EmbeddedOptions& options);
  // The prompt text for a request, or kBadRequest with the template's message.
  LlmResult<std::string> Prompt(const ChatRequest& request) const;

  std::string path_;
  std::unique_ptr<engine::Model> model_;
  std::mutex mu_;  // guards ctx_
  std::unique_ptr<engine::Context> ctx_;
  std::unique_ptr<const ChatTemplate> template_;
  std::string template_origin_;  // "the model's tokenizer.chat_template" or the file
  bool strip_bos_ = false;       // the tokenizer adds BOS itself; the template writes it too
  ChatFormat format_ = ChatFormat::kChatMl;
  bool has_format_ = false;
};

}  // namespace naut::llm

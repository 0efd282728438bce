#pragma once
// Turns an OpenAI chat into the prompt text the loaded model was trained on, and says which
// grammar its output must follow, making the same choices as llm::EmbeddedBackend (the
// model's Jinja chat template, or a built-in format when the file has no usable template or
// the template refuses the chat; tool calls in the form the prompt teaches, constrained by
// tool_grammar.h; response_format held to JSON).
//
// Thread-safety: immutable after Create; Prompt and OutputGrammarFor may run on many threads.

#include <memory>
#include <optional>
#include <string>

#include "core/status.h"
#include "engine/model.h"
#include "llm/chat.h"
#include "llm/chat_format.h"
#include "llm/chat_template.h"
#include "llm/tool_grammar.h"

namespace naut::server {

class PromptWriter {
 public:
  // `chat_format` names a built-in format to use outright; `chat_template` a Jinja file to use
  // instead of the model's. Errors name the file.
  static Result<std::unique_ptr<PromptWriter>> Create(const engine::Model& model,
                                                      const std::string& chat_format,
                                                      const std::string& chat_template);

  // The prompt for the request (tools left out under tool_choice none); InvalidArgument with
  // the template's message when it refuses the chat and no built-in format applies.
  Result<std::string> Prompt(const llm::ChatRequest& request) const;
  // The grammar the answer must follow, none, or InvalidArgument (a schema the grammar cannot
  // express, a tool_choice that cannot be enforced).
  Result<std::optional<llm::OutputGrammar>> OutputGrammarFor(const llm::ChatRequest& request,
                                                             bool parallel_tool_calls) const;

  // "chat template from ...", or "chat format NAME".
  std::string Describe() const;
  const std::string& template_source() const { return template_source_; }
  llm::ToolCallStyle tool_call_style() const { return tool_style_; }

 private:
  PromptWriter() = default;

  std::unique_ptr<const llm::ChatTemplate> template_;
  std::string template_origin_, template_source_;
  bool strip_bos_ = false;  // the tokenizer adds BOS itself; the template writes it too
  llm::ChatFormat format_ = llm::ChatFormat::kChatMl;
  bool has_format_ = false;
  llm::ToolCallStyle tool_style_ = llm::ToolCallStyle::kUnknown;
  bool reasoning_ = false;
};

}  // namespace naut::server

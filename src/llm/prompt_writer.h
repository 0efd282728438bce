#pragma once
// Turns a chat into the prompt text a loaded GGUF model was trained on, and says which grammar
// its output must follow: the one choice the embedded backend (embedded_backend.h) and the
// /v1 model server (server/v1) both make. The prompt is the model's Jinja chat template
// (`tokenizer.chat_template`, or the file `chat_template` names), rendered as transformers
// renders it; a file without a template, or whose template does not parse, gets the built-in
// format its markers name (chat_format.h); `chat_format` picks a built-in format outright. A
// chat the template refuses (raise_exception) is written in the built-in format when there is
// one, else refused with the template's message. Tool calls are constrained in the form the
// prompt teaches (tool_grammar.h); response_format is held to JSON.
//
// Thread-safety: immutable after Create; Prompt and OutputGrammarFor may run on many threads.

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "core/status.h"
#include "engine/model.h"
#include "llm/chat.h"
#include "llm/chat_format.h"
#include "llm/chat_template.h"
#include "llm/tool_grammar.h"

namespace naut::llm {

class PromptWriter {
 public:
  // `chat_format` names a built-in format to use outright; `chat_template` a Jinja file to use
  // instead of the model's (setting both is InvalidArgument). `label` (the model's path) starts
  // the log lines. Errors name the file.
  static Result<std::unique_ptr<PromptWriter>> Create(const engine::Model& model,
                                                      const std::string& chat_format,
                                                      const std::string& chat_template,
                                                      std::string label);

  // The prompt for the request (tools left out under tool_choice none); InvalidArgument with
  // the template's message when it refuses the chat and no built-in format applies.
  Result<std::string> Prompt(const ChatRequest& request) const;
  // The grammar the answer must follow, or none; InvalidArgument for a schema the grammar
  // cannot express or a tool_choice that cannot be enforced. `constrain_tool_calls` false
  // leaves tool calls free (response_format is still held).
  Result<std::optional<OutputGrammar>> OutputGrammarFor(const ChatRequest& request,
                                                        bool parallel_tool_calls,
                                                        bool constrain_tool_calls = true) const;

  // "chat template from ...", or "chat format NAME".
  std::string Describe() const;
  const std::string& template_source() const { return template_source_; }
  // The Jinja template in use, or null when prompts are written in a built-in format.
  const ChatTemplate* chat_template() const { return template_.get(); }
  // The built-in format: the one in use when there is no usable template, else the fallback
  // for chats the template refuses (see has_format()).
  ChatFormat format() const { return format_; }
  bool has_format() const { return has_format_; }
  // The tool-call form the prompts teach, which the tool-call grammar follows.
  ToolCallStyle tool_call_style() const { return tool_style_; }

 private:
  PromptWriter() = default;

  std::string label_;
  std::unique_ptr<const ChatTemplate> template_;
  std::string template_origin_, template_source_;
  bool strip_bos_ = false;  // the tokenizer adds BOS itself; the template writes it too
  ChatFormat format_ = ChatFormat::kChatMl;
  bool has_format_ = false;
  ToolCallStyle tool_style_ = ToolCallStyle::kUnknown;
  bool reasoning_ = false;  // the template writes <think>: the model reasons before it answers
  mutable std::atomic<bool> told_unconstrained_{false};  // the unknown tool-call form was logged
};

}  // namespace naut::llm

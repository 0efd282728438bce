#pragma once
// A model's own chat template (Jinja, from the GGUF's `tokenizer.chat_template` or a file)
// applied to a chat the way transformers' apply_chat_template applies it: the messages in
// OpenAI shape (tool calls as {"id", "type": "function", "function": {"name", "arguments"}}
// with `arguments` an object; tool results with "tool_call_id" and "name"), the tools as
// {"type": "function", "function": {...}}, `add_generation_prompt` true, and the vocabulary's
// BOS and EOS texts as bos_token / eos_token.
//
// Not every template can show everything a chat holds. Create() probes the template once with
// small chats and Apply() works around what it cannot show, as llama.cpp does: a template
// without a system role gets the system text at the top of the first user message; a template
// that ignores `tools` gets them described in the system text, with the call format
// ToolCallParser reads; tool calls and tool results it drops are written as text. Tool call
// ids are given as 9 letters and digits (Mistral's templates refuse others), the same id for a
// call and its result.
//
// Thread-safety: immutable after Create; Apply may run on several threads at once.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "llm/chat.h"
#include "llm/jinja.h"

namespace naut::llm {

struct ChatTemplateTokens {
  std::string bos;  // bos_token, "" when the vocabulary has none
  std::string eos;
};

class ChatTemplate {
 public:
  struct Capabilities {
    bool system_role = false;
    bool tools = false;
    bool tool_calls = false;
    bool tool_responses = false;
  };

  // Parses `source` and probes it. Fails (naming `name`) when it does not parse or cannot
  // render a one-message chat that shows the message.
  static Result<ChatTemplate> Create(std::string_view source, ChatTemplateTokens tokens,
                                     std::string name = "chat template");

  // The prompt for `messages` and `tools`, ending with the assistant turn's opening. Errors
  // are the template's (jinja.h's codes; kFailedPrecondition when it refuses the chat).
  Result<std::string> Apply(const std::vector<Message>& messages,
                            const std::vector<ToolSpec>& tools,
                            const JinjaRenderOptions& options = {}) const;

  const Capabilities& capabilities() const { return caps_; }
  const ChatTemplateTokens& tokens() const { return tokens_; }
  const std::string& name() const { return jinja_.name(); }

 private:
  explicit ChatTemplate(JinjaTemplate jinja) : jinja_(std::move(jinja)) {}
  Result<std::string> Render(const nlohmann::ordered_json& messages,
                             const nlohmann::ordered_json& tools,
                             const JinjaRenderOptions& options) const;

  JinjaTemplate jinja_;
  ChatTemplateTokens tokens_;
  Capabilities caps_;
  bool hermes_tools_ = false;  // a ChatML family template: teach <tool_call> when polyfilling
};

// The variables transformers passes besides the caller's: `tools` and `documents` are None
// and `add_generation_prompt` false when absent; bos_token / eos_token from `tokens` when
// absent and known. Members already in `variables` are kept as they are.
nlohmann::ordered_json WithTransformersDefaults(nlohmann::ordered_json variables,
                                                const ChatTemplateTokens& tokens);

// OpenAI-shaped JSON of a chat, as chat templates expect it.
nlohmann::ordered_json ChatMessagesJson(const std::vector<Message>& messages);
nlohmann::ordered_json ChatToolsJson(const std::vector<ToolSpec>& tools);

// `id` if it is 9 ASCII letters and digits, else 9 such characters derived from it.
std::string NineCharToolCallId(const std::string& id);

}  // namespace naut::llm

#pragma once
// Built-in prompt formats for the embedded engine: turns a chat (messages and tool specs) into
// the text a model was trained on, for the common families below. A GGUF carries its chat
// template as Jinja (`tokenizer.chat_template`), which ChatTemplate (chat_template.h) renders;
// these formats are the fallback when a file has no template, or one that cannot be used, and
// are recognised by the markers the template writes. A template that matches none is refused
// with a message saying so, never guessed.
//
//   ChatML     Qwen 2/2.5/3, Hermes, many fine-tunes   <|im_start|>role\n...<|im_end|>
//   Llama 3    Llama 3.x                               <|start_header_id|>role<|end_header_id|>
//   Mistral    Mistral Small 3, Nemo, Ministral (v7 with [SYSTEM_PROMPT]; older [INST] only)
//   Gemma      Gemma 2/3                               <start_of_turn>user ... <end_of_turn>
//
// Tools are described the way each family's template does it, so the model writes calls in the
// form ToolCallParser (tool_calls.h) reads: <tool_call>{...}</tool_call>, [TOOL_CALLS][...],
// or a bare {"name": ..., "parameters": ...} object.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "llm/chat.h"

namespace naut::llm {

enum class ChatFormat { kChatMl, kLlama3, kMistralV7, kMistral, kGemma };
std::string_view ChatFormatName(ChatFormat format);
std::optional<ChatFormat> ParseChatFormat(std::string_view name);

// The family a Jinja chat template belongs to, or kUnimplemented naming what was seen.
Result<ChatFormat> DetectChatFormat(std::string_view t);

// The prompt text for `messages` ending with the assistant turn's opening, without the BOS
// token (the tokenizer adds it when the vocabulary asks for one). Special tokens appear as
// text and must be tokenized with special-token parsing on.
std::string RenderChat(ChatFormat format, const std::vector<Message>& messages,
                       const std::vector<ToolSpec>& tools);

// How a model is told to call tools when its prompt format has no way of its own: the Hermes
// form of the ChatML families (<tool_call>{"name": ..., "arguments": {...}}</tool_call>) or a
// bare JSON object. Both are forms ToolCallParser reads. Used by the built-in formats and by
// ChatTemplate (chat_template.h) for templates that ignore `tools`.
enum class ToolSyntax { kHermes, kJson };
// The text describing `tools` and how to call them.
std::string ToolPrompt(const std::vector<ToolSpec>& tools, ToolSyntax syntax);
// One call as the model would write it in that form.
std::string ToolCallText(const ToolCall& call, ToolSyntax syntax);

// Removes the reasoning block a thinking model writes before its answer ("<think>...</think>",
// the opening tag optional since templates often put it in the prompt) from `text` and returns
// the reasoning; `text` keeps the answer without leading whitespace. No "</think>": nothing
// changes and "" is returned.
std::string TakeReasoning(std::string* text);

}  // namespace naut::llm

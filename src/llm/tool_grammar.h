#pragma once
// Grammars (engine/grammar.h) that hold the embedded engine's output to what a request asks
// for: JSON for `response_format`, and a valid call of an offered tool, written in the form
// the prompt taught, for tool calls.
//
// Tool-call forms, each one ToolCallParser (tool_calls.h) reads:
//   kHermes        <tool_call>{"name": "f", "arguments": {...}}</tool_call>, or the bare
//                  object small models write when they drop the tags; Qwen 2/2.5, Hermes,
//                  ChatML families; triggers "<tool_call>" and {"name" (spaced forms too)
//   kMistral       [TOOL_CALLS][{"name": "f", "arguments": {...}}, ...]; trigger "[TOOL_CALLS]"
//   kMistralArgs   [TOOL_CALLS]f[ARGS]{...} (newer Mistral templates); trigger "[TOOL_CALLS]"
//   kJson          {"name": "f", "arguments" | "parameters": {...}} (Llama 3.x, Gemma, the
//                  polyfill for templates that ignore tools); triggers {"name" and its spaced
//                  forms, and <|python_tag|> where the template writes it
//   kUnknown       anything else (Qwen3-Coder's XML <function=...>, ...): not constrained
// Each call's arguments follow the tool's JSON Schema (json_grammar.h); a tool whose schema
// cannot be expressed keeps its name forced and takes any JSON object as arguments, with a
// note saying so. With tool_choice auto the grammar is lazy (free text until the trigger);
// required or a named function applies it from the first token.
//
// Pure functions; thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "llm/chat.h"
#include "llm/chat_format.h"

namespace naut::llm {

enum class ToolCallStyle { kUnknown, kHermes, kMistral, kMistralArgs, kJson };
std::string_view ToolCallStyleName(ToolCallStyle style);

// The form the built-in format teaches.
ToolCallStyle ToolCallStyleOf(ChatFormat format);
// The form a Jinja chat template teaches: its own when it shows `tools` (`native_tools`),
// else the one ChatTemplate's polyfill writes (Hermes for ChatML templates, else JSON).
ToolCallStyle ToolCallStyleOfTemplate(std::string_view source, bool native_tools);

struct OutputGrammar {
  std::string gbnf;
  std::vector<std::string> triggers;      // empty: from the first token
  std::vector<std::string> special_text;  // control tokens the grammar writes as text
  std::vector<std::string> notes;         // what is not constrained, and why
};

struct ToolGrammarOptions {
  // One call, or one or more (as llama-server's parallel_tool_calls; small models asked for one
  // call otherwise repeat it until max_tokens).
  bool parallel = false;
  // The model thinks first (its template writes <think>, as Qwen3's does): a forced call may
  // follow a <think>...</think> block (whose text cannot hold "</" before its end), and a lazy
  // ChatML grammar starts only at <tool_call>, not at a bare {"name" the reasoning may quote.
  bool reasoning = false;
};

// The grammar for a request's tool calls. kUnimplemented for kUnknown or when no tool is
// offered, kInvalidArgument for a tool_choice naming a function not offered.
Result<OutputGrammar> ToolCallGrammar(const std::vector<ToolSpec>& tools, const ToolChoice& choice,
                                      ToolCallStyle style, const ToolGrammarOptions& options = {});

// The grammar for response_format json_object / json_schema (InvalidArgument naming what the
// schema holds that a grammar cannot express).
Result<OutputGrammar> ResponseFormatGrammar(const ResponseFormat& format);

}  // namespace naut::llm

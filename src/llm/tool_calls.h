#pragma once
// Tool calls that survive local models. A model may answer with native `tool_calls`, or write
// its calls into the content in one of the formats chat templates teach it:
//   Mistral     [TOOL_CALLS][{"name": "f", "arguments": {...}}]   or   [TOOL_CALLS]f[ARGS]{...}
//   Hermes/Qwen <tool_call>{"name": "f", "arguments": {...}}</tool_call>   (one or several)
//   Qwen3-Coder <tool_call><function=f><parameter=k>value</parameter></function></tool_call>
//   Llama 3.x   <|python_tag|>{"name": "f", "parameters": {...}}   or <function=f>{...}</function>
//   fenced      ```json {"name": "f", "arguments": {...}} ```   (object or array)
//   bare JSON   {"name": "f", "arguments": {...}} / {"tool_calls": [...]} in the text (also
//               after Granite's <|tool_call|>)
// ToolCallParser finds them, repairs near-JSON (json_repair.h), resolves tool names (a missing
// `<server>__` prefix, case, '-' for '_'), validates arguments against each tool's schema with
// safe repairs ("5" -> 5 for an integer; core/json_schema.h), and turns whatever is still wrong
// into a short, specific correction for the model.
//
// Thread-safety: a ToolCallParser is immutable after construction; Parse may run on any
// number of threads at once.

#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "llm/chat.h"

namespace naut::llm {

struct ParsedToolCalls {
  std::vector<ToolCall> calls;        // valid calls, arguments validated and coerced
  std::string text;                   // the content with extracted calls removed, trimmed
  std::vector<std::string> problems;  // one sentence each, naming the tool and the argument
  std::vector<std::string> repairs;   // what was fixed silently (for traces)
  bool from_content = false;          // the calls were written into the content

  bool ok() const { return problems.empty(); }
  // The message to send back to the model when !ok(): the problems and what to do instead.
  std::string Correction() const;
};

class ToolCallParser {
 public:
  explicit ToolCallParser(std::vector<ToolSpec> tools);

  // Uses native tool_calls when present; otherwise looks for calls in the content. A call
  // repeated right after itself with the same arguments is kept once, with a problem saying so.
  ParsedToolCalls Parse(const ChatResponse& response) const;
  // Only the content (for models without native tool calling).
  ParsedToolCalls ParseContent(std::string_view content) const;

  const std::vector<ToolSpec>& tools() const { return tools_; }

 private:
  class ContentScan;  // ParseContent's reader, one format at a time
  void Accept(const std::string& name, Json arguments, const std::string& raw,
              const std::string& id, ParsedToolCalls& out) const;
  void AcceptObject(const Json& obj, const std::string& raw, ParsedToolCalls& out) const;
  const ToolSpec* Resolve(const std::string& name, std::string* note) const;

  std::vector<ToolSpec> tools_;
};

}  // namespace naut::llm

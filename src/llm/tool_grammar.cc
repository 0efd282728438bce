#include "llm/tool_grammar.h"

#include "engine/grammar.h"
#include "engine/json_grammar.h"

namespace naut::llm {

namespace {

bool Has(std::string_view text, std::string_view marker) {
  return text.find(marker) != std::string_view::npos;
}

std::string Lit(std::string_view text) { return engine::GbnfLiteral(text); }

// How a bare JSON call begins.
constexpr const char* kJsonTriggers[] = {"{\"name\"",     "{ \"name\"",      "{\n\"name\"",
                                         "{\n  \"name\"", "{\n    \"name\"", "{\n\t\"name\""};

}  // namespace

std::string_view ToolCallStyleName(ToolCallStyle style) {
  switch (style) {
    case ToolCallStyle::kHermes:
      return "hermes <tool_call>";
    case ToolCallStyle::kMistral:
      return "mistral [TOOL_CALLS][...]";
    case ToolCallStyle::kMistralArgs:
      return "mistral [TOOL_CALLS]name[ARGS]";
    case ToolCallStyle::kJson:
      return "json {\"name\": ...}";
    case ToolCallStyle::kUnknown:
      break;
  }
  return "unknown";
}

ToolCallStyle ToolCallStyleOf(ChatFormat format) {
  switch (format) {
    case ChatFormat::kChatMl:
      return ToolCallStyle::kHermes;
    case ChatFormat::kMistralV7:
    case ChatFormat::kMistral:
      return ToolCallStyle::kMistral;
    case ChatFormat::kLlama3:
    case ChatFormat::kGemma:
      return ToolCallStyle::kJson;
  }
  return ToolCallStyle::kUnknown;
}

ToolCallStyle ToolCallStyleOfTemplate(std::string_view source, bool native_tools) {
  if (!native_tools)
    return Has(source, "<|im_start|>") ? ToolCallStyle::kHermes : ToolCallStyle::kJson;
  // Qwen3-Coder and its kin write calls as XML (<function=f><parameter=k>...), a form with no
  // grammar here.
  if (Has(source, "<function=") || Has(source, "<parameter=")) return ToolCallStyle::kUnknown;
  if (Has(source, "<tool_call>")) return ToolCallStyle::kHermes;
  if (Has(source, "[TOOL_CALLS]")) {
    return Has(source, "[ARGS]") ? ToolCallStyle::kMistralArgs : ToolCallStyle::kMistral;
  }
  if (Has(source, "<|python_tag|>") || Has(source, "<|start_header_id|>"))
    return ToolCallStyle::kJson;
  return ToolCallStyle::kUnknown;
}

Result<OutputGrammar> ToolCallGrammar(const std::vector<ToolSpec>& tools, const ToolChoice& choice,
                                      ToolCallStyle style, const ToolGrammarOptions& options) {
  const bool parallel = options.parallel;
  if (style == ToolCallStyle::kUnknown) {
    return Unimplemented(
        "the chat template's tool-call format is not one the engine can constrain (it knows "
        "hermes <tool_call>, mistral [TOOL_CALLS] and json {\"name\": ...})");
  }
  std::vector<const ToolSpec*> offered;
  for (const ToolSpec& t : tools) {
    if (choice.mode != ToolChoice::Mode::kFunction || t.name == choice.function)
      offered.push_back(&t);
  }
  if (choice.mode == ToolChoice::Mode::kFunction && offered.empty()) {
    return InvalidArgument("tool_choice names function '" + choice.function +
                           "', which is not among the tools offered");
  }
  if (offered.empty()) return Unimplemented("no tools are offered");
  OutputGrammar out;
  engine::JsonGrammarBuilder b;
  // One alternative per tool: its name, then its arguments.
  std::vector<std::pair<std::string, std::string>> calls;  // name, arguments rule
  for (const ToolSpec* t : offered) {
    auto rule = b.AddSchema(t->parameters, "args-" + t->name);
    if (!rule.ok()) {
      out.notes.push_back("tool '" + t->name +
                          "': arguments not constrained beyond a JSON object (" +
                          rule.error().message() + ")");
      calls.emplace_back(t->name, "json-object");
    } else {
      calls.emplace_back(t->name, *rule);
    }
  }
  const std::string args_key = style == ToolCallStyle::kJson
                                   ? "(\"\\\"arguments\\\"\" | \"\\\"parameters\\\"\")"
                                   : "\"\\\"arguments\\\"\"";
  std::string alts;
  for (const auto& [name, args] : calls) {
    if (!alts.empty()) alts += " | ";
    if (style == ToolCallStyle::kMistralArgs) {
      alts += Lit(name) + " \"[ARGS]\" " + args;
    } else {
      alts += Lit(DumpJson(Json(name))) + " ws \",\" ws " + args_key + " ws \":\" ws " + args;
    }
  }
  b.AddRule("tool-call-body", alts);
  b.AddRule("tool-call-object", "\"{\" ws \"\\\"name\\\"\" ws \":\" ws tool-call-body ws \"}\"");
  switch (style) {
    case ToolCallStyle::kHermes:
      // Small ChatML models often drop the tags and write the bare object, which
      // ToolCallParser reads too: that form is held to a valid call as well.
      b.AddRule("tool-call", "\"<tool_call>\" ws tool-call-object ws \"</tool_call>\"");
      b.AddRule("root", parallel ? "tool-call (ws tool-call)* | tool-call-object"
                                 : "tool-call | tool-call-object");
      out.triggers = {"<tool_call>"};
      if (!options.reasoning) {
        out.triggers.insert(out.triggers.end(), std::begin(kJsonTriggers), std::end(kJsonTriggers));
      }
      break;
    case ToolCallStyle::kMistral:
      b.AddRule("root", parallel ? "\"[TOOL_CALLS]\" ws \"[\" ws tool-call-object (ws \",\" ws "
                                   "tool-call-object)* ws \"]\""
                                 : "\"[TOOL_CALLS]\" ws \"[\" ws tool-call-object ws \"]\"");
      out.triggers = {"[TOOL_CALLS]"};
      out.special_text = {"[TOOL_CALLS]"};
      break;
    case ToolCallStyle::kMistralArgs:
      b.AddRule("root", parallel ? "(\"[TOOL_CALLS]\" tool-call-body)+"
                                 : "\"[TOOL_CALLS]\" tool-call-body");
      out.triggers = {"[TOOL_CALLS]"};
      out.special_text = {"[TOOL_CALLS]", "[ARGS]"};
      break;
    case ToolCallStyle::kJson:
      b.AddRule("root", "(\"<|python_tag|>\" ws)? tool-call-object");
      out.triggers = {"<|python_tag|>"};
      out.triggers.insert(out.triggers.end(), std::begin(kJsonTriggers), std::end(kJsonTriggers));
      out.special_text = {"<|python_tag|>"};
      break;
    case ToolCallStyle::kUnknown:
      break;
  }
  if (choice.mode == ToolChoice::Mode::kRequired || choice.mode == ToolChoice::Mode::kFunction) {
    out.triggers.clear();
    if (options.reasoning) {
      // Forced from the first token, the call may still come after the model's thinking.
      b.AddRule("think", "\"<think>\" ([^<] | \"<\" [^/])* \"</think>\" ws");
      b.AddRule("call", b.Rule("root"));
      b.AddRule("root", "think? call");
    }
  }
  out.gbnf = b.Text();
  return out;
}

Result<OutputGrammar> ResponseFormatGrammar(const ResponseFormat& format) {
  OutputGrammar out;
  switch (format.type) {
    case ResponseFormat::Type::kText:
      return InvalidArgument("response_format text needs no grammar");
    case ResponseFormat::Type::kJsonObject:
      out.gbnf = engine::JsonObjectGrammar();
      return out;
    case ResponseFormat::Type::kJsonSchema: {
      auto g = engine::JsonSchemaToGrammar(format.schema);
      if (!g.ok())
        return g.error().WithContext("response_format json_schema '" + format.name + "'");
      out.gbnf = std::move(*g);
      return out;
    }
  }
  return InvalidArgument("unknown response_format");
}

}  // namespace naut::llm

#include "llm/chat_format.h"

namespace naut::llm {

namespace {

Json ToolJson(const ToolSpec& t) {
  return Json{{"type", "function"},
              {"function",
               {{"name", t.name}, {"description", t.description}, {"parameters", t.parameters}}}};
}

// The system messages joined, in order; the other messages keep their places.
std::string SystemText(const std::vector<Message>& messages) {
  std::string out;
  for (const Message& m : messages) {
    if (m.role != Role::kSystem) continue;
    if (!out.empty()) out += "\n\n";
    out += m.content;
  }
  return out;
}

// The name first, as models write a call and their templates render one (a Json object would
// sort "arguments" before it).
std::string CallJson(const ToolCall& c, const char* args_key) {
  return "{\"name\":" + DumpJson(Json(c.name)) + ",\"" + args_key + "\":" + DumpJson(c.arguments) +
         "}";
}

// Families without a tool syntax of their own are told to answer with a bare JSON object,
// which ToolCallParser reads.
std::string PlainToolPrompt(const std::vector<ToolSpec>& tools, const char* args_key) {
  std::string s =
      "You can call these functions. To call one, answer with only a JSON object of the form "
      "{\"name\": function name, \"" +
      std::string(args_key) + "\": dictionary of argument name and its value}.\n\n";
  for (const ToolSpec& t : tools) s += DumpJson(ToolJson(t)) + "\n";
  return s;
}

std::string HermesToolPrompt(const std::vector<ToolSpec>& tools) {
  std::string s =
      "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are "
      "provided with function signatures within <tools></tools> XML tags:\n<tools>";
  for (const ToolSpec& t : tools) s += "\n" + DumpJson(ToolJson(t));
  s += "\n</tools>\n\nFor each function call, return a json object with function name and "
       "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": "
       "<function-name>, \"arguments\": <args-json-object>}\n</tool_call>";
  return s;
}

std::string RenderChatMl(const std::vector<Message>& messages, const std::vector<ToolSpec>& tools) {
  std::string out;
  std::string system = SystemText(messages);
  if (!tools.empty()) {
    if (!system.empty()) system += "\n\n";
    system += HermesToolPrompt(tools);
  }
  if (!system.empty()) out += "<|im_start|>system\n" + system + "<|im_end|>\n";
  for (size_t i = 0; i < messages.size(); ++i) {
    const Message& m = messages[i];
    switch (m.role) {
      case Role::kSystem:
        break;
      case Role::kUser:
        out += "<|im_start|>user\n" + m.content + "<|im_end|>\n";
        break;
      case Role::kAssistant: {
        out += "<|im_start|>assistant\n" + m.content;
        for (size_t k = 0; k < m.tool_calls.size(); ++k) {
          if (k > 0 || !m.content.empty()) out += "\n";
          out += ToolCallText(m.tool_calls[k], ToolSyntax::kHermes);
        }
        out += "<|im_end|>\n";
        break;
      }
      case Role::kTool: {
        // Consecutive tool results share one user turn.
        if (i == 0 || messages[i - 1].role != Role::kTool) out += "<|im_start|>user";
        out += "\n<tool_response>\n" + m.content + "\n</tool_response>";
        if (i + 1 == messages.size() || messages[i + 1].role != Role::kTool) out += "<|im_end|>\n";
        break;
      }
    }
  }
  return out + "<|im_start|>assistant\n";
}

std::string RenderLlama3(const std::vector<Message>& messages, const std::vector<ToolSpec>& tools) {
  auto header = [](std::string_view role) {
    return "<|start_header_id|>" + std::string(role) + "<|end_header_id|>\n\n";
  };
  std::string out;
  std::string system = SystemText(messages);
  if (!tools.empty()) system = "Environment: ipython\n" + system;
  if (!system.empty()) out += header("system") + system + "<|eot_id|>";
  bool tools_told = tools.empty();
  for (const Message& m : messages) {
    switch (m.role) {
      case Role::kSystem:
        break;
      case Role::kUser:
        // As Llama 3.1's template does: the functions go into the first user message.
        out += header("user");
        if (!tools_told) {
          out += PlainToolPrompt(tools, "parameters") + "\n";
          tools_told = true;
        }
        out += m.content + "<|eot_id|>";
        break;
      case Role::kAssistant:
        out += header("assistant") + m.content;
        for (const ToolCall& c : m.tool_calls) out += CallJson(c, "parameters");
        out += "<|eot_id|>";
        break;
      case Role::kTool:
        out += header("ipython") + m.content + "<|eot_id|>";
        break;
    }
  }
  return out + header("assistant");
}

std::string RenderMistral(const std::vector<Message>& messages, const std::vector<ToolSpec>& tools,
                          bool v7) {
  std::string out;
  const std::string system = SystemText(messages);
  if (v7 && !system.empty()) out += "[SYSTEM_PROMPT]" + system + "[/SYSTEM_PROMPT]";
  size_t last_user = messages.size();
  for (size_t i = 0; i < messages.size(); ++i)
    if (messages[i].role == Role::kUser) last_user = i;
  bool first_user = true;
  for (size_t i = 0; i < messages.size(); ++i) {
    const Message& m = messages[i];
    switch (m.role) {
      case Role::kSystem:
        break;
      case Role::kUser: {
        if (i == last_user && !tools.empty()) {
          Json arr = Json::array();
          for (const ToolSpec& t : tools) arr.push_back(ToolJson(t));
          out += "[AVAILABLE_TOOLS]" + DumpJson(arr) + "[/AVAILABLE_TOOLS]";
        }
        std::string text = m.content;
        if (!v7 && first_user && !system.empty()) text = system + "\n\n" + text;
        first_user = false;
        out += "[INST]" + text + "[/INST]";
        break;
      }
      case Role::kAssistant: {
        out += m.content;
        if (!m.tool_calls.empty()) {
          Json arr = Json::array();
          for (const ToolCall& c : m.tool_calls) {
            Json call{{"name", c.name}, {"arguments", c.arguments}};
            if (!c.id.empty()) call["id"] = c.id;
            arr.push_back(std::move(call));
          }
          out += "[TOOL_CALLS]" + DumpJson(arr);
        }
        out += "</s>";
        break;
      }
      case Role::kTool:
        out += "[TOOL_RESULTS]" +
               DumpJson(Json{{"content", m.content}, {"call_id", m.tool_call_id}}) +
               "[/TOOL_RESULTS]";
        break;
    }
  }
  return out;
}

std::string RenderGemma(const std::vector<Message>& messages, const std::vector<ToolSpec>& tools) {
  std::string out;
  std::string preamble = SystemText(messages);
  if (!tools.empty()) {
    if (!preamble.empty()) preamble += "\n\n";
    preamble += PlainToolPrompt(tools, "arguments");
  }
  for (const Message& m : messages) {
    switch (m.role) {
      case Role::kSystem:
        break;
      case Role::kUser:
      case Role::kTool: {
        // Gemma has no system or tool role: the system text opens the first user turn.
        std::string text = m.content;
        if (!preamble.empty()) {
          text = preamble + "\n\n" + text;
          preamble.clear();
        }
        out += "<start_of_turn>user\n" + text + "<end_of_turn>\n";
        break;
      }
      case Role::kAssistant:
        out += "<start_of_turn>model\n" + m.content;
        for (const ToolCall& c : m.tool_calls) out += CallJson(c, "arguments");
        out += "<end_of_turn>\n";
        break;
    }
  }
  return out + "<start_of_turn>model\n";
}

}  // namespace

std::string_view ChatFormatName(ChatFormat format) {
  switch (format) {
    case ChatFormat::kChatMl:
      return "chatml";
    case ChatFormat::kLlama3:
      return "llama3";
    case ChatFormat::kMistralV7:
      return "mistral-v7";
    case ChatFormat::kMistral:
      return "mistral";
    case ChatFormat::kGemma:
      return "gemma";
  }
  return "unknown";
}

std::optional<ChatFormat> ParseChatFormat(std::string_view name) {
  for (ChatFormat f : {ChatFormat::kChatMl, ChatFormat::kLlama3, ChatFormat::kMistralV7,
                       ChatFormat::kMistral, ChatFormat::kGemma}) {
    if (ChatFormatName(f) == name) return f;
  }
  return std::nullopt;
}

Result<ChatFormat> DetectChatFormat(std::string_view t) {
  if (t.empty()) {
    return Unimplemented(
        "the model has no chat template (tokenizer.chat_template); name a chat format with "
        "chat_format = chatml | llama3 | mistral-v7 | mistral | gemma");
  }
  auto has = [&](std::string_view marker) { return t.find(marker) != std::string_view::npos; };
  if (has("<|im_start|>")) return ChatFormat::kChatMl;
  if (has("<|start_header_id|>")) return ChatFormat::kLlama3;
  if (has("[SYSTEM_PROMPT]")) return ChatFormat::kMistralV7;
  if (has("[INST]")) return ChatFormat::kMistral;
  if (has("<start_of_turn>")) return ChatFormat::kGemma;
  return Unimplemented(
      "the model's chat template is none of the built-in formats (chatml, llama3, mistral-v7, "
      "mistral, gemma); name a format with chat_format = ...");
}

std::string ToolPrompt(const std::vector<ToolSpec>& tools, ToolSyntax syntax) {
  return syntax == ToolSyntax::kHermes ? HermesToolPrompt(tools)
                                       : PlainToolPrompt(tools, "arguments");
}

std::string ToolCallText(const ToolCall& call, ToolSyntax syntax) {
  const std::string json = CallJson(call, "arguments");
  return syntax == ToolSyntax::kHermes ? "<tool_call>\n" + json + "\n</tool_call>" : json;
}

std::string TakeReasoning(std::string* text) {
  const size_t end = text->find("</think>");
  if (end == std::string::npos) return "";
  const size_t open = text->rfind("<think>", end);
  const size_t begin = open == std::string::npos ? 0 : open + 7;
  std::string reasoning = text->substr(begin, end - begin);
  const size_t first = text->find_first_not_of(" \t\r\n", end + 8);
  const std::string before = open == std::string::npos ? "" : text->substr(0, open);
  *text = before + (first == std::string::npos ? "" : text->substr(first));
  const size_t r0 = reasoning.find_first_not_of(" \t\r\n");
  const size_t r1 = reasoning.find_last_not_of(" \t\r\n");
  return r0 == std::string::npos ? "" : reasoning.substr(r0, r1 - r0 + 1);
}

std::string RenderChat(ChatFormat format, const std::vector<Message>& messages,
                       const std::vector<ToolSpec>& tools) {
  switch (format) {
    case ChatFormat::kChatMl:
      return RenderChatMl(messages, tools);
    case ChatFormat::kLlama3:
      return RenderLlama3(messages, tools);
    case ChatFormat::kMistralV7:
      return RenderMistral(messages, tools, /*v7=*/true);
    case ChatFormat::kMistral:
      return RenderMistral(messages, tools, /*v7=*/false);
    case ChatFormat::kGemma:
      return RenderGemma(messages, tools);
  }
  return {};
}

}  // namespace naut::llm

#include "llm/chat_template.h"

#include "core/json.h"
#include "llm/chat_format.h"

namespace naut::llm {

namespace {

using OJson = nlohmann::ordered_json;

OJson Ordered(const Json& j) {
  // DumpJson never throws (invalid UTF-8 is replaced), and what it writes parses.
  return OJson::parse(DumpJson(j));
}

bool Contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

constexpr std::string_view kProbeUser = "naut-probe-user-7Qx";
constexpr std::string_view kProbeSystem = "naut-probe-system-7Qx";
constexpr std::string_view kProbeTool = "naut_probe_tool_7Qx";
constexpr std::string_view kProbeCall = "naut_probe_call_7Qx";
constexpr std::string_view kProbeResult = "naut-probe-result-7Qx";

ToolCall ProbeCall() {
  ToolCall c;
  c.id = "call00001";
  c.name = std::string(kProbeCall);
  c.arguments = Json{{"x", 1}};
  c.arguments_text = R"({"x": 1})";
  return c;
}

// The workarounds Apply uses for what a template cannot show, one step each.

void WriteToolCallsAsText(std::vector<Message>& chat, ToolSyntax syntax) {
  for (Message& m : chat) {
    if (m.role != Role::kAssistant || m.tool_calls.empty()) continue;
    for (const ToolCall& c : m.tool_calls) {
      if (!m.content.empty()) m.content += "\n";
      m.content += ToolCallText(c, syntax);
    }
    m.tool_calls.clear();
  }
}

// Each result becomes a user turn; results and the user turns beside them are joined, so that
// templates which demand alternating roles take the chat.
void WriteToolResultsAsUserTurns(std::vector<Message>& chat, ToolSyntax syntax) {
  std::vector<Message> out;
  bool last_was_result = false;
  for (Message& m : chat) {
    const bool result = m.role == Role::kTool;
    if (result) {
      m = Message::User(
          syntax == ToolSyntax::kHermes
              ? "<tool_response>\n" + m.content + "\n</tool_response>"
              : DumpJson(Json{{"tool_response", {{"name", m.name}, {"content", m.content}}}}));
    }
    if (m.role == Role::kUser && !out.empty() && out.back().role == Role::kUser &&
        (result || last_was_result)) {
      out.back().content += "\n" + m.content;
    } else {
      out.push_back(std::move(m));
    }
    last_was_result = result;
  }
  chat = std::move(out);
}

void DescribeToolsInSystemTurn(std::vector<Message>& chat, const std::vector<ToolSpec>& tools,
                               ToolSyntax syntax) {
  std::string prompt = ToolPrompt(tools, syntax);
  while (!prompt.empty() && prompt.back() == '\n') prompt.pop_back();
  if (!chat.empty() && chat.front().role == Role::kSystem) {
    chat.front().content += "\n\n" + prompt;
  } else {
    chat.insert(chat.begin(), Message::System(prompt));
  }
}

void FoldSystemIntoFirstUserTurn(std::vector<Message>& chat) {
  std::string system;
  std::vector<Message> rest;
  for (Message& m : chat) {
    if (m.role == Role::kSystem) {
      if (!system.empty()) system += "\n\n";
      system += m.content;
    } else {
      rest.push_back(std::move(m));
    }
  }
  chat = std::move(rest);
  if (system.empty()) return;
  auto first_user = std::find_if(chat.begin(), chat.end(),
                                 [](const Message& m) { return m.role == Role::kUser; });
  if (first_user == chat.end()) {
    chat.insert(chat.begin(), Message::User(system));
  } else {
    first_user->content = system + "\n\n" + first_user->content;
  }
}

}  // namespace

std::string NineCharToolCallId(const std::string& id) {
  static constexpr char kAlphabet[] =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  bool ok = id.size() == 9;
  for (char c : id) ok = ok && std::isalnum(static_cast<unsigned char>(c)) != 0;
  if (ok) return id;
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char c : id) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  std::string out;
  for (int i = 0; i < 9; ++i) {
    out += kAlphabet[h % 62];
    h /= 62;
    if (h == 0) h = 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(i);
  }
  return out;
}

OJson ChatMessagesJson(const std::vector<Message>& messages) {
  OJson out = OJson::array();
  for (const Message& m : messages) {
    OJson o = OJson::object();
    o["role"] = std::string(RoleName(m.role));
    o["content"] = m.content;
    if (m.role == Role::kAssistant && !m.tool_calls.empty()) {
      OJson calls = OJson::array();
      for (const ToolCall& c : m.tool_calls) {
        OJson fn = OJson::object();
        fn["name"] = c.name;
        fn["arguments"] = c.arguments.is_object() ? Ordered(c.arguments) : OJson::object();
        OJson call = OJson::object();
        call["id"] = NineCharToolCallId(c.id);
        call["type"] = "function";
        call["function"] = std::move(fn);
        calls.push_back(std::move(call));
      }
      o["tool_calls"] = std::move(calls);
    }
    if (m.role == Role::kTool) {
      o["tool_call_id"] = NineCharToolCallId(m.tool_call_id);
      if (!m.name.empty()) o["name"] = m.name;
    }
    out.push_back(std::move(o));
  }
  return out;
}

OJson ChatToolsJson(const std::vector<ToolSpec>& tools) {
  OJson out = OJson::array();
  for (const ToolSpec& t : tools) {
    OJson fn = OJson::object();
    fn["name"] = t.name;
    fn["description"] = t.description;
    fn["parameters"] = Ordered(t.parameters);
    OJson tool = OJson::object();
    tool["type"] = "function";
    tool["function"] = std::move(fn);
    out.push_back(std::move(tool));
  }
  return out;
}

OJson WithTransformersDefaults(OJson variables, const ChatTemplateTokens& tokens) {
  if (!variables.contains("tools")) variables["tools"] = nullptr;
  if (!variables.contains("documents")) variables["documents"] = nullptr;
  if (!variables.contains("add_generation_prompt")) variables["add_generation_prompt"] = false;
  if (!variables.contains("bos_token") && !tokens.bos.empty()) variables["bos_token"] = tokens.bos;
  if (!variables.contains("eos_token") && !tokens.eos.empty()) variables["eos_token"] = tokens.eos;
  return variables;
}

Result<ChatTemplate> ChatTemplate::Create(std::string_view source, ChatTemplateTokens tokens,
                                          std::string name) {
  JinjaOptions options;
  options.name = std::move(name);
  NAUT_ASSIGN_OR_RETURN(JinjaTemplate jinja, JinjaTemplate::Parse(source, options));
  ChatTemplate t(std::move(jinja));
  t.tokens_ = std::move(tokens);
  t.hermes_tools_ = source.find("<|im_start|>") != std::string_view::npos;

  const JinjaRenderOptions probe_options;
  auto shows = [&](const std::vector<Message>& chat, const std::vector<ToolSpec>& tools,
                   std::string_view probe) {
    auto r = t.Render(ChatMessagesJson(chat), tools.empty() ? OJson() : ChatToolsJson(tools),
                      probe_options);
    return r.ok() && Contains(*r, probe);
  };
  const Message user = Message::User(std::string(kProbeUser));
  auto basic = t.Render(ChatMessagesJson({user}), OJson(), probe_options);
  if (!basic.ok()) return basic.error().WithContext("it cannot render a one-message chat");
  if (!Contains(*basic, kProbeUser)) {
    return InvalidArgument(t.name() + ": it does not show the messages of a chat");
  }
  t.caps_.system_role = shows({Message::System(std::string(kProbeSystem)), user}, {}, kProbeSystem);
  ToolSpec tool;
  tool.name = std::string(kProbeTool);
  tool.description = "probe";
  t.caps_.tools = shows({user}, {tool}, kProbeTool);
  const Message call = Message::Assistant("", {ProbeCall()});
  t.caps_.tool_calls = shows({user, call}, {}, kProbeCall);
  t.caps_.tool_responses =
      shows({user, call,
             Message::ToolResult("call00001", std::string(kProbeCall), std::string(kProbeResult))},
            {}, kProbeResult);
  return t;
}

Result<std::string> ChatTemplate::Render(const OJson& messages, const OJson& tools,
                                         const JinjaRenderOptions& options) const {
  OJson vars = OJson::object();
  vars["messages"] = messages;
  vars["tools"] = tools;  // null when there are none, as transformers passes them
  vars["add_generation_prompt"] = true;
  return jinja_.Render(WithTransformersDefaults(std::move(vars), tokens_), options);
}

Result<std::string> ChatTemplate::Apply(const std::vector<Message>& messages,
                                        const std::vector<ToolSpec>& tools,
                                        const JinjaRenderOptions& options) const {
  const ToolSyntax syntax = hermes_tools_ ? ToolSyntax::kHermes : ToolSyntax::kJson;
  std::vector<Message> chat = messages;
  if (!caps_.tool_calls) WriteToolCallsAsText(chat, syntax);
  if (!caps_.tool_responses) WriteToolResultsAsUserTurns(chat, syntax);
  const bool native_tools = tools.empty() || caps_.tools;
  if (!native_tools) DescribeToolsInSystemTurn(chat, tools, syntax);
  if (!caps_.system_role) FoldSystemIntoFirstUserTurn(chat);
  return Render(ChatMessagesJson(chat),
                native_tools && !tools.empty() ? ChatToolsJson(tools) : OJson(), options);
}

}  // namespace naut::llm

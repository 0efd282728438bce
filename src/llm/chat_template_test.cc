// ChatTemplate: a chat in OpenAI shape through a model's own template, what the probes find
// each template can show, and how the rest is written so that any template gets the whole chat.

#include "llm/chat_template.h"

#include <gtest/gtest.h>

namespace naut::llm {
namespace {

// SmolLM2's template: every message as ChatML, nothing about tools.
constexpr char kSmolLm2[] =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}";

// Gemma 2's: no system role, strictly alternating user/model turns.
constexpr char kGemma2[] =
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not "
    "supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != "
    "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}"
    "{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}";

// A Qwen 2.5-like template that shows everything.
constexpr char kQwenLike[] = R"({%- if tools %}
{{- '<|im_start|>system\n' }}{% if messages[0].role == 'system' %}{{ messages[0].content }}{% endif %}
{{- '\n<tools>' }}{% for tool in tools %}{{ '\n' ~ tool|tojson }}{% endfor %}{{ '\n</tools><|im_end|>\n' }}
{%- elif messages[0].role == 'system' %}
{{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
{%- if message.role == 'user' or (message.role == 'assistant' and not message.tool_calls) %}
{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
{%- elif message.role == 'assistant' %}
{{- '<|im_start|>assistant' }}{% for c in message.tool_calls %}
{{- '\n<tool_call>\n{"name": "' + c.function.name + '", "arguments": ' + c.function.arguments|tojson + '}\n</tool_call>' }}
{%- endfor %}{{ '<|im_end|>\n' }}
{%- elif message.role == 'tool' %}
{{- '<|im_start|>user\n<tool_response>\n' + message.content + '\n</tool_response><|im_end|>\n' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})";

// Mistral's templates refuse tool call ids that are not 9 letters and digits.
constexpr char kIdChecking[] =
    "{% for m in messages %}{% if m.tool_calls %}{% for c in m.tool_calls %}"
    "{% if c.id|length != 9 %}{{ raise_exception('Tool call IDs should be alphanumeric strings "
    "with length 9!') }}{% endif %}[CALL {{ c.id }} {{ c.function.name }}]{% endfor %}"
    "{% elif m.role == 'tool' %}[RESULT {{ m.tool_call_id }} {{ m.content }}]"
    "{% else %}[{{ m.role }}: {{ m.content }}]{% endif %}{% endfor %}";

ToolSpec Tool(const std::string& name) {
  ToolSpec t;
  t.name = name;
  t.description = "Press a button.";
  t.parameters = Json{{"type", "object"},
                      {"properties", {{"label", {{"type", "string"}}}}},
                      {"required", {"label"}}};
  return t;
}

ToolCall Call(const std::string& id, const std::string& name) {
  ToolCall c;
  c.id = id;
  c.name = name;
  c.arguments = Json{{"label", "Hunt"}};
  return c;
}

std::vector<Message> ToolChat() {
  return {Message::System("Play the game."),
          Message::User("Hunt once."),
          Message::Assistant("", {Call("call_0", "game__press")}),
          Message::ToolResult("call_0", "game__press", "A slime appears!"),
          Message::ToolResult("call_0", "game__press", "It attacks."),
          Message::User("Again.")};
}

TEST(ChatTemplateTest, ChatJsonIsOpenAiShaped) {
  const auto json = ChatMessagesJson(ToolChat());
  ASSERT_EQ(json.size(), 6u);
  EXPECT_EQ(
      json[2].dump(),
      R"({"role":"assistant","content":"","tool_calls":[{"id":")" + NineCharToolCallId("call_0") +
          R"(","type":"function","function":{"name":"game__press","arguments":{"label":"Hunt"}}}]})");
  EXPECT_EQ(json[3]["role"], "tool");
  EXPECT_EQ(json[3]["tool_call_id"], NineCharToolCallId("call_0"));
  EXPECT_EQ(json[3]["name"], "game__press");
  const auto tools = ChatToolsJson({Tool("game__press")});
  EXPECT_EQ(tools[0]["type"], "function");
  EXPECT_EQ(tools[0]["function"]["name"], "game__press");
  EXPECT_TRUE(tools[0]["function"]["parameters"].is_object());
}

TEST(ChatTemplateTest, ToolCallIdsAreNineLettersAndDigits) {
  EXPECT_EQ(NineCharToolCallId("abcDEF123"), "abcDEF123");
  for (const std::string id : {"", "call_0", "call_1", "a-very-long-id-from-a-server", "x"}) {
    const std::string nine = NineCharToolCallId(id);
    EXPECT_EQ(nine.size(), 9u) << id;
    for (char c : nine) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << id;
    EXPECT_EQ(NineCharToolCallId(id), nine);  // the same for a call and its result
  }
  EXPECT_NE(NineCharToolCallId("call_0"), NineCharToolCallId("call_1"));
}

TEST(ChatTemplateTest, TransformersDefaultsFillOnlyWhatIsMissing) {
  auto vars =
      WithTransformersDefaults(nlohmann::ordered_json{{"messages", nlohmann::ordered_json::array()},
                                                      {"bos_token", "<custom>"}},
                               {"<s>", "</s>"});
  EXPECT_TRUE(vars["tools"].is_null());
  EXPECT_TRUE(vars["documents"].is_null());
  EXPECT_EQ(vars["add_generation_prompt"], false);
  EXPECT_EQ(vars["bos_token"], "<custom>");
  EXPECT_EQ(vars["eos_token"], "</s>");
}

TEST(ChatTemplateTest, ProbesFindWhatATemplateShows) {
  auto qwen = ChatTemplate::Create(kQwenLike, {});
  ASSERT_TRUE(qwen.ok()) << qwen.error().ToString();
  EXPECT_TRUE(qwen->capabilities().system_role);
  EXPECT_TRUE(qwen->capabilities().tools);
  EXPECT_TRUE(qwen->capabilities().tool_calls);
  EXPECT_TRUE(qwen->capabilities().tool_responses);

  auto smol = ChatTemplate::Create(kSmolLm2, {});
  ASSERT_TRUE(smol.ok()) << smol.error().ToString();
  EXPECT_TRUE(smol->capabilities().system_role);
  EXPECT_FALSE(smol->capabilities().tools);
  EXPECT_FALSE(smol->capabilities().tool_calls);
  EXPECT_TRUE(smol->capabilities().tool_responses);

  auto gemma = ChatTemplate::Create(kGemma2, {"<bos>", "<eos>"});
  ASSERT_TRUE(gemma.ok()) << gemma.error().ToString();
  EXPECT_FALSE(gemma->capabilities().system_role);
  EXPECT_FALSE(gemma->capabilities().tools);
}

TEST(ChatTemplateTest, ATemplateThatShowsEverythingGetsTheChatAsItIs) {
  auto t = ChatTemplate::Create(kQwenLike, {});
  ASSERT_TRUE(t.ok());
  auto out = t->Apply(ToolChat(), {Tool("game__press")});
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  EXPECT_EQ(*out,
            "<|im_start|>system\nPlay the game.\n<tools>\n{\"type\": \"function\", \"function\": "
            "{\"name\": \"game__press\", \"description\": \"Press a button.\", \"parameters\": "
            "{\"properties\": {\"label\": {\"type\": \"string\"}}, \"required\": [\"label\"], "
            "\"type\": \"object\"}}}\n</tools><|im_end|>\n"
            "<|im_start|>user\nHunt once.<|im_end|>\n"
            "<|im_start|>assistant\n<tool_call>\n{\"name\": \"game__press\", \"arguments\": "
            "{\"label\": \"Hunt\"}}\n</tool_call><|im_end|>\n"
            "<|im_start|>user\n<tool_response>\nA slime appears!\n</tool_response><|im_end|>\n"
            "<|im_start|>user\n<tool_response>\nIt attacks.\n</tool_response><|im_end|>\n"
            "<|im_start|>user\nAgain.<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplateTest, WhatATemplateCannotShowIsWrittenAsText) {
  auto smol = ChatTemplate::Create(kSmolLm2, {});
  ASSERT_TRUE(smol.ok());
  auto out = smol->Apply(ToolChat(), {Tool("game__press")});
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  // The tools are described in the system turn in the Hermes form ToolCallParser reads, and
  // the earlier call is written the same way.
  EXPECT_EQ(out->rfind("<|im_start|>system\nPlay the game.\n\n# Tools\n", 0), 0u) << *out;
  EXPECT_NE(out->find("\"name\":\"game__press\""), std::string::npos) << *out;
  EXPECT_NE(out->find("<|im_start|>assistant\n<tool_call>\n{\"name\":\"game__press\",\"arguments\":"
                      "{\"label\":\"Hunt\"}}\n</tool_call><|im_end|>"),
            std::string::npos)
      << *out;
  EXPECT_NE(out->find("<|im_start|>tool\nA slime appears!<|im_end|>"), std::string::npos) << *out;

  auto gemma = ChatTemplate::Create(kGemma2, {"<bos>", "<eos>"});
  ASSERT_TRUE(gemma.ok());
  out = gemma->Apply(ToolChat(), {Tool("game__press")});
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  // The system text opens the first user turn, tool results become one user turn, and the
  // roles still alternate as the template demands.
  EXPECT_EQ(
      out->rfind("<bos><start_of_turn>user\nPlay the game.\n\nYou can call these functions.", 0),
      0u)
      << *out;
  EXPECT_NE(out->find("<start_of_turn>model\n{\"name\":\"game__press\",\"arguments\":"
                      "{\"label\":\"Hunt\"}}<end_of_turn>"),
            std::string::npos)
      << *out;
  EXPECT_NE(
      out->find("{\"tool_response\":{\"content\":\"A slime appears!\",\"name\":\"game__press\"}}\n"
                "{\"tool_response\":{\"content\":\"It attacks.\",\"name\":\"game__press\"}}"
                "\nAgain.<end_of_turn>"),
      std::string::npos)
      << *out;
  EXPECT_EQ(out->substr(out->size() - 21), "<start_of_turn>model\n");
}

TEST(ChatTemplateTest, IdsPassTemplatesThatCheckThem) {
  auto t = ChatTemplate::Create(kIdChecking, {});
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  auto out = t->Apply(ToolChat(), {});
  ASSERT_TRUE(out.ok()) << out.error().ToString();
  const std::string id = NineCharToolCallId("call_0");
  EXPECT_NE(out->find("[CALL " + id + " game__press][RESULT " + id + " A slime appears!]"),
            std::string::npos)
      << *out;
}

TEST(ChatTemplateTest, RefusalsAndUnusableTemplatesAreErrors) {
  auto refusing = ChatTemplate::Create(
      "{% for m in messages %}{% if m.content == 'forbidden' %}{{ raise_exception('no way') }}"
      "{% endif %}{{ m.content }}{% endfor %}",
      {});
  ASSERT_TRUE(refusing.ok()) << refusing.error().ToString();
  auto out = refusing->Apply({Message::User("forbidden")}, {});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(out.error().message().find("no way"), std::string::npos);

  auto broken = ChatTemplate::Create("{% for m in messages %}", {});
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.error().message().find("never closed"), std::string::npos);

  auto blind = ChatTemplate::Create("<start_of_turn>", {});
  ASSERT_FALSE(blind.ok());
  EXPECT_NE(blind.error().message().find("does not show the messages"), std::string::npos);

  auto failing = ChatTemplate::Create("{{ '<|im_start|>' + m.role }}", {});
  ASSERT_FALSE(failing.ok());
  EXPECT_NE(failing.error().message().find("'m' is undefined"), std::string::npos)
      << failing.error().message();
}

}  // namespace
}  // namespace naut::llm

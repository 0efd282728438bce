#include "llm/chat_format.h"

#include <gtest/gtest.h>

namespace naut::llm {
namespace {

std::vector<Message> Conversation() {
  ToolCall call;
  call.id = "c1";
  call.name = "game__send_message";
  call.arguments = Json{{"text", "look"}};
  return {Message::System("You play."), Message::User("Start."), Message::Assistant("", {call}),
          Message::ToolResult("c1", "game__send_message", "A cave."),
          Message::ToolResult("c2", "game__get_state", "{\"hp\":3}")};
}

std::vector<ToolSpec> Tools() {
  ToolSpec t;
  t.name = "game__send_message";
  t.description = "Say something.";
  t.parameters = Json{
      {"type", "object"}, {"properties", {{"text", {{"type", "string"}}}}}, {"required", {"text"}}};
  return {t};
}

const char* kToolJson =
    R"({"function":{"description":"Say something.","name":"game__send_message","parameters":{"properties":{"text":{"type":"string"}},"required":["text"],"type":"object"}},"type":"function"})";

TEST(ChatFormat, DetectsTheFamilyFromTheTemplateMarkers) {
  EXPECT_EQ(*DetectChatFormat("{% for m in messages %}<|im_start|>{{ m.role }}"),
            ChatFormat::kChatMl);
  EXPECT_EQ(*DetectChatFormat("<|start_header_id|>{{ role }}<|end_header_id|>"),
            ChatFormat::kLlama3);
  EXPECT_EQ(*DetectChatFormat("[SYSTEM_PROMPT]{{ s }}[/SYSTEM_PROMPT][INST]"),
            ChatFormat::kMistralV7);
  EXPECT_EQ(*DetectChatFormat("{{ bos_token }}[INST] {{ m }} [/INST]"), ChatFormat::kMistral);
  EXPECT_EQ(*DetectChatFormat("<start_of_turn>user\n"), ChatFormat::kGemma);
  auto none = DetectChatFormat("");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message().find("no chat template"), std::string::npos);
  auto other = DetectChatFormat("<|user|>{{ m }}<|end|>");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code(), Code::kUnimplemented);
  EXPECT_NE(other.error().message().find("chat_format"), std::string::npos);
}

TEST(ChatFormat, NamesRoundTrip) {
  for (ChatFormat f : {ChatFormat::kChatMl, ChatFormat::kLlama3, ChatFormat::kMistralV7,
                       ChatFormat::kMistral, ChatFormat::kGemma})
    EXPECT_EQ(ParseChatFormat(ChatFormatName(f)), f);
  EXPECT_FALSE(ParseChatFormat("jinja").has_value());
}

TEST(ChatFormat, ChatMlWithHermesTools) {
  const std::string got = RenderChat(ChatFormat::kChatMl, Conversation(), Tools());
  const std::string want =
      std::string(
          "<|im_start|>system\nYou play.\n\n# Tools\n\nYou may call one or more functions "
          "to assist with the user query.\n\nYou are provided with function signatures "
          "within <tools></tools> XML tags:\n<tools>\n") +
      kToolJson +
      "\n</tools>\n\nFor each function call, return a json object with function name and "
      "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": "
      "<function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n"
      "<|im_start|>user\nStart.<|im_end|>\n"
      "<|im_start|>assistant\n<tool_call>\n{\"name\":\"game__send_message\",\"arguments\":"
      "{\"text\":\"look\"}}\n</tool_call><|im_end|>\n"
      "<|im_start|>user\n<tool_response>\nA cave.\n</tool_response>\n<tool_response>\n{\"hp\":3}"
      "\n</tool_response><|im_end|>\n"
      "<|im_start|>assistant\n";
  EXPECT_EQ(got, want);
  // Without tools or a system message there is no system turn.
  EXPECT_EQ(RenderChat(ChatFormat::kChatMl, {Message::User("hi")}, {}),
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatFormat, Llama3PutsToolsInTheFirstUserTurnAndResultsInIpython) {
  const std::string got = RenderChat(ChatFormat::kLlama3, Conversation(), Tools());
  EXPECT_EQ(got.rfind("<|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nYou "
                      "play.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nYou can call "
                      "these functions.",
                      0),
            0u)
      << got;
  EXPECT_NE(got.find(std::string(kToolJson) + "\n\nStart.<|eot_id|>"), std::string::npos) << got;
  EXPECT_NE(got.find("<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\":\"game__send_"
                     "message\",\"parameters\":{\"text\":\"look\"}}<|eot_id|>"),
            std::string::npos)
      << got;
  EXPECT_NE(got.find("<|start_header_id|>ipython<|end_header_id|>\n\nA cave.<|eot_id|>"),
            std::string::npos);
  EXPECT_TRUE(
      got.ends_with("{\"hp\":3}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"));
}

TEST(ChatFormat, MistralV7ToolsBeforeTheLastUserTurn) {
  std::vector<Message> m = Conversation();
  m.push_back(Message::User("Go on."));
  const std::string got = RenderChat(ChatFormat::kMistralV7, m, Tools());
  const std::string want =
      "[SYSTEM_PROMPT]You play.[/SYSTEM_PROMPT][INST]Start.[/INST][TOOL_CALLS][{\"arguments\":{"
      "\"text\":\"look\"},\"id\":\"c1\",\"name\":\"game__send_message\"}]</s>"
      "[TOOL_RESULTS]{\"call_id\":\"c1\",\"content\":\"A cave.\"}[/TOOL_RESULTS]"
      "[TOOL_RESULTS]{\"call_id\":\"c2\",\"content\":\"{\\\"hp\\\":3}\"}[/TOOL_RESULTS]"
      "[AVAILABLE_TOOLS][" +
      std::string(kToolJson) + "][/AVAILABLE_TOOLS][INST]Go on.[/INST]";
  EXPECT_EQ(got, want);
  // The older format has no system prompt token: the system text opens the first turn.
  EXPECT_EQ(
      RenderChat(ChatFormat::kMistral, {Message::System("Be brief."), Message::User("hi")}, {}),
      "[INST]Be brief.\n\nhi[/INST]");
}

TEST(ChatFormat, GemmaFoldsSystemAndToolsIntoTheFirstUserTurn) {
  const std::string got = RenderChat(ChatFormat::kGemma,
                                     {Message::System("Be brief."), Message::User("hi"),
                                      Message::Assistant("hello"), Message::User("bye")},
                                     {});
  EXPECT_EQ(got,
            "<start_of_turn>user\nBe brief.\n\nhi<end_of_turn>\n<start_of_turn>model\nhello<end_of_"
            "turn>\n<start_of_turn>user\nbye<end_of_turn>\n<start_of_turn>model\n");
  const std::string with_tools = RenderChat(ChatFormat::kGemma, {Message::User("hi")}, Tools());
  EXPECT_NE(with_tools.find(kToolJson), std::string::npos);
  EXPECT_NE(with_tools.find("\"arguments\": dictionary"), std::string::npos);
}

TEST(ChatFormat, ReasoningIsTakenOffTheAnswer) {
  std::string a = "<think>\nThe cave is north.\n</think>\n\nGo north.";
  EXPECT_EQ(TakeReasoning(&a), "The cave is north.");
  EXPECT_EQ(a, "Go north.");
  // The template opened the block in the prompt: only the closing tag is generated.
  std::string b = "Check the map first.</think>Go north.";
  EXPECT_EQ(TakeReasoning(&b), "Check the map first.");
  EXPECT_EQ(b, "Go north.");
  std::string c = "No thinking here.";
  EXPECT_EQ(TakeReasoning(&c), "");
  EXPECT_EQ(c, "No thinking here.");
}

}  // namespace
}  // namespace naut::llm

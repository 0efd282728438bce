#include "llm/tool_calls.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace naut::llm {
namespace {

constexpr const char* kCorpus = NAUT_SOURCE_DIR "/src/llm/testdata/tool_call_corpus.json";

Json LoadCorpus() {
  std::ifstream in(kCorpus);
  std::stringstream ss;
  ss << in.rdbuf();
  return Json::parse(ss.str());
}

std::vector<ToolSpec> Tools(const Json& corpus) {
  std::vector<ToolSpec> tools;
  for (const auto& t : corpus["tools"]) {
    tools.push_back(
        {t["name"].get<std::string>(), t["description"].get<std::string>(), t["parameters"]});
  }
  return tools;
}

TEST(ToolCallCorpusTest, HasAtLeastFortyBrokenOrTrickyOutputs) {
  EXPECT_GE(LoadCorpus()["cases"].size(), 40u);
}

TEST(ToolCallCorpusTest, EveryCaseYieldsTheExpectedCallsOrCorrection) {
  Json corpus = LoadCorpus();
  ToolCallParser parser(Tools(corpus));
  for (const auto& c : corpus["cases"]) {
    std::string name = c["name"].get<std::string>();
    SCOPED_TRACE("case: " + name);
    ChatResponse response;
    response.content = c["content"].get<std::string>();
    if (c.contains("native")) {
      for (const auto& n : c["native"]) {
        ToolCall call;
        call.id = n["id"].get<std::string>();
        call.name = n["name"].get<std::string>();
        call.arguments_text = n["arguments"].get<std::string>();
        call.arguments = Json::parse(call.arguments_text, nullptr, false);
        if (call.arguments.is_discarded()) call.arguments = nullptr;
        response.tool_calls.push_back(call);
      }
    }
    ParsedToolCalls parsed = parser.Parse(response);
    const Json& expected = c["expect_calls"];
    ASSERT_EQ(parsed.calls.size(), expected.size()) << parsed.Correction();
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(parsed.calls[i].name, expected[i]["name"]);
      EXPECT_EQ(parsed.calls[i].arguments, expected[i]["arguments"])
          << parsed.calls[i].arguments.dump();
      EXPECT_FALSE(parsed.calls[i].id.empty());
    }
    if (c.contains("expect_problem")) {
      ASSERT_FALSE(parsed.ok());
      std::string correction = parsed.Correction();
      EXPECT_NE(correction.find(c["expect_problem"].get<std::string>()), std::string::npos)
          << correction;
      EXPECT_LT(correction.size(), 1200u) << "corrections must stay short";
    } else {
      EXPECT_TRUE(parsed.ok()) << parsed.Correction();
    }
    if (c.contains("expect_text")) {
      EXPECT_EQ(parsed.text, c["expect_text"].get<std::string>());
    }
  }
}

TEST(ToolCallParserTest, NativeCallsKeepTheirIds) {
  ToolCallParser parser({{"f", "", Json{{"type", "object"}}}});
  ChatResponse r;
  r.tool_calls.push_back({"call_abc", "f", Json::object(), "{}"});
  auto parsed = parser.Parse(r);
  ASSERT_EQ(parsed.calls.size(), 1u);
  EXPECT_EQ(parsed.calls[0].id, "call_abc");
  EXPECT_FALSE(parsed.from_content);
}

TEST(ToolCallParserTest, NoToolsMeansEveryCallIsUnknown) {
  ToolCallParser parser({});
  auto parsed = parser.ParseContent(R"(<tool_call>{"name": "x", "arguments": {}}</tool_call>)");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.Correction().find("no tools are available"), std::string::npos);
}

TEST(ToolCallParserTest, HugeBracketyTextStaysFast) {
  ToolCallParser parser({{"f", "", Json{{"type", "object"}}}});
  std::string text(50000, '{');
  text += R"({"name": "f", "arguments": {}})";
  auto parsed = parser.ParseContent(text);
  EXPECT_EQ(parsed.calls.size(), 1u);
}

TEST(ToolCallParserTest, InvalidUtf8InTheTextNeverThrows) {
  // What a model made of byte tokens writes: stray and truncated UTF-8, inside and outside the
  // call, and in bare words the repairer quotes.
  ToolCallParser parser(
      {{"say", "", Json{{"type", "object"}, {"properties", {{"text", {{"type", "string"}}}}}}}});
  auto parsed = parser.ParseContent(
      "noise \xB5\xC3 <tool_call>{\"name\": \"say\", \"arguments\": {\"text\": \"hi \xE2\x82\"}}"
      "</tool_call> \xF0\x9F");
  ASSERT_EQ(parsed.calls.size(), 1u) << parsed.Correction();
  EXPECT_EQ(parsed.calls[0].arguments["text"], "hi \xEF\xBF\xBD");
  EXPECT_EQ(ValidUtf8(parsed.text), parsed.text);
  auto bare = parser.ParseContent("{name: say, arguments: {text: caf\xC3}} \xF0\x9F");
  ASSERT_EQ(bare.calls.size(), 1u) << bare.Correction();
  EXPECT_EQ(bare.calls[0].arguments["text"], "caf\xEF\xBF\xBD");
}

TEST(ToolCallParserTest, HostileNestingInModelTextIsACorrectionNotACrash) {
  ToolCallParser parser({{"game__press", "press a button",
                          Json::parse(R"({"type":"object","properties":{"b":{}}})")}});
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  for (const std::string& content :
       {"<tool_call>{\"name\": \"game__press\", \"arguments\": {\"b\": " + deep + "}}</tool_call>",
        "<tool_call>" + std::string(200000, '{'), "[TOOL_CALLS]" + deep,
        "```json\n{\"name\": \"game__press\", \"arguments\": " + deep + "}\n```",
        "Sure: {\"name\": \"game__press\", \"arguments\": {\"b\": " + std::string(200000, '[')}) {
    ParsedToolCalls out = parser.ParseContent(content);
    EXPECT_TRUE(out.calls.empty()) << content.substr(0, 30);
    // Tagged calls get a correction (too deep, or stray braces dropped and no tool name);
    // untagged text is just text.
    if (content.rfind("<tool_call>", 0) == 0 || content.rfind("[TOOL_CALLS]", 0) == 0) {
      EXPECT_FALSE(out.Correction().empty()) << content.substr(0, 30);
    }
    if (content.find(deep) != std::string::npos && content.rfind("<tool_call>", 0) == 0) {
      EXPECT_NE(out.Correction().find("nests deeper than 256 levels"), std::string::npos)
          << out.Correction();
    }
  }
  // Native tool calls with deep argument text (the backend could not read them).
  ChatResponse response;
  response.tool_calls.push_back({"call_0", "game__press", Json(), "{\"b\": " + deep + "}"});
  ParsedToolCalls out = parser.Parse(response);
  EXPECT_TRUE(out.calls.empty());
  ASSERT_EQ(out.problems.size(), 1u);
  EXPECT_NE(out.problems[0].find("nests deeper than 256 levels"), std::string::npos)
      << out.problems[0];
}

TEST(ToolCallParserTest, ArgumentsMadeTooDeepByCoercionAreCorrected) {
  // A string argument where an object is expected is read as JSON; that must not let the
  // arguments grow past what a tool server accepts.
  ToolCallParser parser({{"t", "", Json::parse(R"({"type":"object","properties":{
      "o":{"type":"object"}}})")}});
  std::string inner;
  for (int i = 0; i < kMaxJsonDepth - 2; ++i) inner += "{\"k\":";
  inner += "1" + std::string(kMaxJsonDepth - 2, '}');
  ChatResponse response;
  response.tool_calls.push_back({"c", "t", Json{{"o", inner}}, ""});
  ParsedToolCalls out = parser.Parse(response);
  EXPECT_TRUE(out.calls.empty());
  ASSERT_FALSE(out.problems.empty());
  EXPECT_NE(out.problems.back().find("arguments nest deeper than"), std::string::npos)
      << out.problems.back();
}

}  // namespace
}  // namespace naut::llm

namespace naut::llm {
namespace {

// Recorded with a real model (tests/fixtures/real_runs/README.md): Qwen2.5-Coder-0.5B on the
// embedded engine answered with the same send_message call 27 times, until its token limit, and
// every one was run. The answer is rebuilt from the trace's tool calls in the model's own
// <tool_call> format.
TEST(ToolCallParserTest, RealModelRepeatingOneCallRunsItOnce) {
  std::ifstream in(NAUT_SOURCE_DIR
                   "/tests/fixtures/real_runs/qwen2.5-coder-0.5b-rpg-repeated-calls.events.jsonl");
  ASSERT_TRUE(in) << "missing fixture";
  std::string line, content;
  int model_calls = 0, repeated = 0;
  while (std::getline(in, line)) {
    Json e = Json::parse(line);
    if (e["type"] == "model_call") ++model_calls;
    if (e["type"] != "tool_call" || model_calls != 2) continue;
    content += "<tool_call>\n" +
               Json{{"name", "game__send_message"}, {"arguments", e["arguments"]}}.dump() +
               "\n</tool_call>\n";
    ++repeated;
  }
  ASSERT_EQ(repeated, 27);
  ToolCallParser parser(
      {{"game__send_message", "Send a message to a chat",
        Json::parse(R"({"type": "object", "properties": {"chat_id": {"type": "string"},
                                          "text": {"type": "string"}, "message_id": {"type": "integer"}},
                                          "required": ["chat_id", "text"]})")}});
  ChatResponse response;
  response.content = content;
  auto parsed = parser.Parse(response);
  ASSERT_EQ(parsed.calls.size(), 1u);
  EXPECT_EQ(parsed.calls[0].arguments["chat_id"], "@dungeon_quest_bot");
  ASSERT_EQ(parsed.problems.size(), 1u);
  EXPECT_NE(parsed.problems[0].find("called 27 times in a row"), std::string::npos)
      << parsed.problems[0];
  EXPECT_NE(parsed.Correction().find("it was run once"), std::string::npos);

  // Different calls, or the same call apart, are all kept.
  response.content =
      "<tool_call>{\"name\": \"game__send_message\", \"arguments\": {\"chat_id\": \"a\", \"text\": "
      "\"x\"}}</tool_call>"
      "<tool_call>{\"name\": \"game__send_message\", \"arguments\": {\"chat_id\": \"a\", \"text\": "
      "\"y\"}}</tool_call>"
      "<tool_call>{\"name\": \"game__send_message\", \"arguments\": {\"chat_id\": \"a\", \"text\": "
      "\"x\"}}</tool_call>";
  parsed = parser.Parse(response);
  EXPECT_EQ(parsed.calls.size(), 3u);
  EXPECT_TRUE(parsed.ok());
}

}  // namespace
}  // namespace naut::llm

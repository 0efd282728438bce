#include "llm/openai_wire.h"

#include <gtest/gtest.h>

namespace naut::llm {
namespace {

TEST(OpenAiWireTest, RequestCarriesToolsChoiceFormatAndSampling) {
  ChatRequest req;
  req.messages = {
      Message::System("be brief"), Message::User("hi"),
      Message::Assistant("", {ToolCall{"c1", "rpg__send_message", Json{{"text", "x"}}, ""}}),
      Message::ToolResult("c1", "rpg__send_message", "sent")};
  req.tools.push_back({"rpg__send_message", "Send", Json{{"type", "object"}}});
  req.tool_choice.mode = ToolChoice::Mode::kRequired;
  req.response_format.type = ResponseFormat::Type::kJsonSchema;
  req.response_format.schema = Json{{"type", "object"}};
  req.sampling.temperature = 0.2;
  req.sampling.max_tokens = 64;
  req.stop = {"</s>"};
  Json j = RequestToWire(req, "m", /*stream=*/true);
  EXPECT_EQ(j["model"], "m");
  EXPECT_EQ(j["messages"].size(), 4u);
  // "" for a turn that only calls tools (Paddler refuses null).
  EXPECT_EQ(j["messages"][2]["content"], "");
  EXPECT_EQ(j["messages"][2]["tool_calls"][0]["function"]["arguments"], R"({"text":"x"})");
  EXPECT_EQ(j["messages"][3]["tool_call_id"], "c1");
  EXPECT_EQ(j["tools"][0]["function"]["name"], "rpg__send_message");
  EXPECT_EQ(j["tool_choice"], "required");
  EXPECT_EQ(j["response_format"]["type"], "json_schema");
  EXPECT_EQ(j["temperature"], 0.2);
  EXPECT_EQ(j["max_tokens"], 64);
  EXPECT_EQ(j["max_completion_tokens"], 64);
  EXPECT_EQ(j["stream"], true);
  EXPECT_EQ(j["stream_options"]["include_usage"], true);
  EXPECT_EQ(j["cache_prompt"], true);
}

TEST(OpenAiWireTest, ToolHistoryAsTextWritesTheCallsIntoTheAssistantsText) {
  ChatRequest req;
  req.messages = {
      Message::User("hi"),
      Message::Assistant("Looking.", {ToolCall{"c1", "rpg__look", Json::object(), ""},
                                      ToolCall{"c2", "rpg__press", Json{{"button", 2}}, ""}}),
      Message::ToolResult("c1", "rpg__look", "a road"), Message::Assistant("", {}),
      Message::Assistant("", {ToolCall{"c3", "rpg__press", Json{{"button", 0}}, ""}})};
  Json j = RequestToWire(req, "m", /*stream=*/false, ToolHistory::kText);
  const Json& m = j["messages"];
  EXPECT_EQ(m[1],
            (Json{{"role", "assistant"},
                  {"content",
                   "Looking.\n<tool_call>\n{\"name\":\"rpg__look\",\"arguments\":{}}\n</tool_call>"
                   "\n<tool_call>\n{\"name\":\"rpg__press\",\"arguments\":{\"button\":2}}\n"
                   "</tool_call>"}}));
  EXPECT_EQ(m[2], (Json{{"role", "tool"}, {"content", "a road"}, {"name", "rpg__look"}}));
  EXPECT_EQ(m[3]["content"], "");
  EXPECT_EQ(m[4]["content"],
            "<tool_call>\n{\"name\":\"rpg__press\",\"arguments\":{\"button\":0}}\n</tool_call>");
  for (const Json& message : m) {
    EXPECT_FALSE(message.contains("tool_calls")) << message;
    EXPECT_FALSE(message.contains("tool_call_id")) << message;
  }
}

TEST(OpenAiWireTest, ParsesCompletionWithUsageAndLlamaTimings) {
  Json body = Json::parse(R"({"model":"q","choices":[{"message":{"role":"assistant","content":"hey",
    "tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{'x': 1,}"}}]},
    "finish_reason":"tool_calls"}],"usage":{"prompt_tokens":10,"completion_tokens":2},
    "timings":{"cache_n":7,"prompt_ms":5.5,"predicted_ms":20}})");
  auto r = ParseCompletion(body);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->content, "hey");
  ASSERT_EQ(r->tool_calls.size(), 1u);
  EXPECT_EQ(r->tool_calls[0].arguments, Json::parse(R"({"x":1})"));
  EXPECT_EQ(r->tool_calls[0].arguments_text, "{'x': 1,}");
  EXPECT_EQ(r->finish_reason, FinishReason::kToolCalls);
  EXPECT_EQ(r->usage.prompt_tokens, 10);
  EXPECT_EQ(r->usage.cached_tokens, 7);
  EXPECT_EQ(r->timings.server_predicted_ms, 20);
  EXPECT_DOUBLE_EQ(r->TokensPerSecond(), 100.0);
}

TEST(OpenAiWireTest, MalformedCompletionsAreBadResponses) {
  for (const char* text : {R"([])", R"({})", R"({"choices":[]})", R"({"choices":[1]})",
                           R"({"choices":[{"message":{"content":5}}]})"}) {
    auto r = ParseCompletion(Json::parse(text));
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().kind, LlmError::Kind::kBadResponse) << text;
  }
}

TEST(OpenAiWireTest, HttpErrorsAreTyped) {
  auto ctx = ErrorFromHttp(
      400,
      R"({"error":{"code":400,"message":"the request exceeds the available context size","type":"exceed_context_size_error"}})",
      "");
  EXPECT_EQ(ctx.kind, LlmError::Kind::kContextLengthExceeded);
  auto rate = ErrorFromHttp(429, R"({"error":{"message":"slow down"}})", "2");
  EXPECT_EQ(rate.kind, LlmError::Kind::kRateLimited);
  ASSERT_TRUE(rate.retry_after.has_value());
  EXPECT_EQ(rate.retry_after->count(), 2000);
  EXPECT_EQ(ErrorFromHttp(500, "boom", "").kind, LlmError::Kind::kServer);
  EXPECT_EQ(ErrorFromHttp(401, "", "").kind, LlmError::Kind::kAuthentication);
  EXPECT_EQ(ErrorFromHttp(404, "", "").kind, LlmError::Kind::kBadRequest);
  EXPECT_EQ(ErrorFromHttp(500, "boom", "").message, "boom");
}

TEST(OpenAiWireTest, SseParserHandlesSplitsCommentsAndMultilineData) {
  SseParser p;
  auto a = p.Feed(": keep-alive\n\ndata: {\"a\"");
  EXPECT_TRUE(a.empty());
  auto b = p.Feed(":1}\r\n\r\nevent: x\ndata: one\ndata: two\n\n");
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].data, "{\"a\":1}");
  EXPECT_EQ(b[1].event, "x");
  EXPECT_EQ(b[1].data, "one\ntwo");
}

TEST(OpenAiWireTest, StreamAccumulatorJoinsToolCallFragments) {
  StreamAccumulator acc;
  StreamDelta d;
  auto chunk = [](const char* text) { return Json::parse(text); };
  EXPECT_FALSE(acc.Apply(chunk(R"({"choices":[{"delta":{"content":"Hi "}}]})"), d));
  EXPECT_EQ(d.content, "Hi ");
  d = {};
  EXPECT_FALSE(acc.Apply(
      chunk(
          R"({"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{\"a\""}}]}}]})"),
      d));
  EXPECT_TRUE(d.tool_call_started);
  d = {};
  EXPECT_FALSE(acc.Apply(
      chunk(
          R"({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":": 1}"}}]},"finish_reason":"tool_calls"}]})"),
      d));
  EXPECT_FALSE(acc.Apply(
      chunk(
          R"({"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":2}}})"),
      d));
  auto err = acc.Apply(
      chunk(R"({"error":{"message":"context size exceeded","type":"exceed_context_size_error"}})"),
      d);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->kind, LlmError::Kind::kContextLengthExceeded);
  ChatResponse r = acc.Finish();
  EXPECT_EQ(r.content, "Hi ");
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].arguments, Json::parse(R"({"a":1})"));
  EXPECT_EQ(r.usage.cached_tokens, 2);
  EXPECT_EQ(r.finish_reason, FinishReason::kToolCalls);
}

}  // namespace
}  // namespace naut::llm

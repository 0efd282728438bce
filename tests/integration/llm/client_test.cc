// The OpenAI-compatible client against the scripted server, started as a real child process.

#include <gtest/gtest.h>

#include <thread>

#include "llm/openai_backend.h"
#include "llm/tool_calls.h"
#include "scripted_llm_process.h"

namespace naut::llm {
namespace {

using namespace std::chrono_literals;
using naut::testing::ScriptedLlmProcess;

std::unique_ptr<ScriptedLlmProcess> StartServer(const Json& script) {
  auto s = ScriptedLlmProcess::Start(script);
  EXPECT_TRUE(s.ok()) << s.error().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

OpenAiBackend Client(const ScriptedLlmProcess& s, int retries = 0) {
  EndpointOptions o;
  o.base_url = s.url() + "/v1";
  o.model = "test-model";
  o.max_retries = retries;
  o.timeout = 30s;
  o.backoff_initial = 10ms;
  return OpenAiBackend(o);
}

ChatRequest Ask(std::string text) {
  ChatRequest r;
  r.messages = {Message::System("You are terse."), Message::User(std::move(text))};
  return r;
}

TEST(LlmClientTest, PlainCompletionAndWhatWasSent) {
  auto s = StartServer(Json{{"responses", {{{"content", "Hello there."}}}}});
  ASSERT_TRUE(s);
  auto client = Client(*s);
  ChatRequest req = Ask("hi");
  req.sampling.temperature = 0.3;
  auto r = client.Chat(req, {});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->content, "Hello there.");
  EXPECT_EQ(r->finish_reason, FinishReason::kStop);
  EXPECT_GT(r->usage.prompt_tokens, 0);
  EXPECT_GT(r->usage.completion_tokens, 0);
  EXPECT_EQ(r->model, "scripted-model");
  auto sent = s->Requests();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]["body"]["model"], "test-model");
  EXPECT_EQ(sent[0]["body"]["messages"][1]["content"], "hi");
  EXPECT_EQ(sent[0]["body"]["temperature"], 0.3);
  EXPECT_EQ(sent[0]["body"]["stream"], false);
}

TEST(LlmClientTest, StreamingDeliversDeltasInOrder) {
  auto s = StartServer(
      Json{{"responses", {{{"content", "The quick brown fox jumps."}, {"chunk_size", 3}}}}});
  ASSERT_TRUE(s);
  auto client = Client(*s);
  std::string seen;
  int deltas = 0;
  CallOptions opts;
  opts.on_delta = [&](const StreamDelta& d) {
    seen += d.content;
    ++deltas;
  };
  auto r = client.Chat(Ask("go"), opts);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(seen, "The quick brown fox jumps.");
  EXPECT_EQ(r->content, seen);
  EXPECT_GE(deltas, 9);
  EXPECT_GT(r->usage.completion_tokens, 0);
  EXPECT_EQ(s->Requests()[0]["body"]["stream"], true);
}

TEST(LlmClientTest, NativeToolCallsPlainAndStreamed) {
  Json call = {{"id", "call_7"},
               {"name", "rpg__send_message"},
               {"arguments", {{"chat", "game"}, {"text", "/start"}}}};
  auto s = StartServer(
      Json{{"responses", {{{"tool_calls", {call}}}, {{"tool_calls", {call}}, {"chunk_size", 5}}}}});
  ASSERT_TRUE(s);
  auto client = Client(*s);
  ChatRequest req = Ask("start the game");
  req.tools.push_back({"rpg__send_message", "Send a message", Json{{"type", "object"}}});
  for (bool stream : {false, true}) {
    CallOptions opts;
    std::string started;
    if (stream) opts.on_delta = [&](const StreamDelta& d) { started += d.tool_name; };
    auto r = client.Chat(req, opts);
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    ASSERT_EQ(r->tool_calls.size(), 1u) << stream;
    EXPECT_EQ(r->tool_calls[0].id, "call_7");
    EXPECT_EQ(r->tool_calls[0].name, "rpg__send_message");
    EXPECT_EQ(r->tool_calls[0].arguments, Json({{"chat", "game"}, {"text", "/start"}}));
    EXPECT_EQ(r->finish_reason, FinishReason::kToolCalls);
    if (stream) {
      EXPECT_EQ(started, "rpg__send_message");
    }
  }
  auto sent = s->Requests();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0]["body"]["tools"][0]["function"]["name"], "rpg__send_message");
  EXPECT_EQ(sent[0]["body"]["tool_choice"], "auto");
}

TEST(LlmClientTest, BrokenNativeArgumentsAreRepaired) {
  Json call = {{"name", "fs__read"}, {"arguments", "{'path': 'notes.txt',"}};
  auto s = StartServer(Json{{"responses", {{{"tool_calls", {call}}}}}});
  ASSERT_TRUE(s);
  auto client = Client(*s);
  auto r = client.Chat(Ask("read"), {});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ASSERT_EQ(r->tool_calls.size(), 1u);
  EXPECT_EQ(r->tool_calls[0].arguments, Json({{"path", "notes.txt"}}));
  EXPECT_EQ(r->tool_calls[0].arguments_text, "{'path': 'notes.txt',");
}

TEST(LlmClientTest, ContextOverflowIsTypedAndNotRetried) {
  auto s = StartServer(
      Json{{"responses",
            {{{"status", 400},
              {"error", "the request exceeds the available context size, try increasing it"},
              {"error_type", "exceed_context_size_error"}}}}});
  ASSERT_TRUE(s);
  auto client = Client(*s, /*retries=*/3);
  auto r = client.Chat(Ask("a very long prompt"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, LlmError::Kind::kContextLengthExceeded);
  EXPECT_EQ(r.error().http_status, 400);
  EXPECT_NE(r.error().ToString().find("context"), std::string::npos);
  EXPECT_EQ(s->Requests().size(), 1u);
}

TEST(LlmClientTest, RateLimitHonoursRetryAfterThenSucceeds) {
  auto s = StartServer(
      Json{{"responses",
            {{{"status", 429}, {"error", "slow down"}, {"headers", {{"Retry-After", "0.2"}}}},
             {{"content", "ok now"}}}}});
  ASSERT_TRUE(s);
  auto client = Client(*s, /*retries=*/2);
  auto r = client.Chat(Ask("hi"), {});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->content, "ok now");
  EXPECT_EQ(s->Requests().size(), 2u);

  auto s2 =
      StartServer(Json{{"responses", {{{"status", 429}, {"headers", {{"Retry-After", "7"}}}}}}});
  ASSERT_TRUE(s2);
  auto once = Client(*s2, /*retries=*/0).Chat(Ask("hi"), {});
  ASSERT_FALSE(once.ok());
  EXPECT_EQ(once.error().kind, LlmError::Kind::kRateLimited);
  ASSERT_TRUE(once.error().retry_after.has_value());
  EXPECT_EQ(once.error().retry_after->count(), 7000);
}

TEST(LlmClientTest, ServerErrorsAreRetriedThenReported) {
  auto s = StartServer(Json{{"default", {{"status", 502}, {"error", "bad gateway"}}}});
  ASSERT_TRUE(s);
  auto r = Client(*s, /*retries=*/2).Chat(Ask("hi"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, LlmError::Kind::kServer);
  EXPECT_EQ(r.error().http_status, 502);
  EXPECT_EQ(s->Requests().size(), 3u);  // one try + two retries
}

TEST(LlmClientTest, AuthenticationFailureIsNotRetried) {
  auto s = StartServer(Json{{"default", {{"status", 401}, {"error", "invalid api key"}}}});
  ASSERT_TRUE(s);
  auto r = Client(*s, /*retries=*/3).Chat(Ask("hi"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, LlmError::Kind::kAuthentication);
  EXPECT_EQ(s->Requests().size(), 1u);
}

TEST(LlmClientTest, TimeoutIsTyped) {
  auto s = StartServer(Json{{"responses", {{{"content", "late"}, {"delay_ms", 3000}}}}});
  ASSERT_TRUE(s);
  auto client = Client(*s);
  CallOptions opts;
  opts.timeout = 300ms;
  auto r = client.Chat(Ask("hi"), opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, LlmError::Kind::kTimeout) << r.error().ToString();
}

TEST(LlmClientTest, CancellationStopsAStreamMidway) {
  auto s = StartServer(
      Json{{"responses",
            {{{"content", std::string(200, 'x')}, {"chunk_size", 2}, {"chunk_delay_ms", 50}}}}});
  ASSERT_TRUE(s);
  auto client = Client(*s);
  std::stop_source stop;
  std::string seen;
  CallOptions opts;
  opts.cancel = stop.get_token();
  opts.on_delta = [&](const StreamDelta& d) {
    seen += d.content;
    if (seen.size() >= 6) stop.request_stop();
  };
  auto r = client.Chat(Ask("long"), opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, LlmError::Kind::kCancelled);
  EXPECT_LT(seen.size(), 200u);
}

TEST(LlmClientTest, CancellationFromAnotherThreadWhileWaiting) {
  auto s = StartServer(Json{{"responses", {{{"content", "late"}, {"delay_ms", 5000}}}}});
  ASSERT_TRUE(s);
  auto client = Client(*s);
  std::stop_source stop;
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    stop.request_stop();
  });
  CallOptions opts;
  opts.cancel = stop.get_token();
  auto r = client.Chat(Ask("hi"), opts);
  canceller.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, LlmError::Kind::kCancelled);
}

TEST(LlmClientTest, CutStreamIsANetworkErrorAndARetryRestarts) {
  auto s = StartServer(
      Json{{"responses",
            {{{"content", "first attempt text"}, {"chunk_size", 4}, {"cut_after_chunks", 3}},
             {{"content", "second"}}}}});
  ASSERT_TRUE(s);
  auto client = Client(*s, /*retries=*/1);
  std::string seen;
  bool restarted = false;
  CallOptions opts;
  opts.on_delta = [&](const StreamDelta& d) {
    if (d.restart) {
      restarted = true;
      seen.clear();
    }
    seen += d.content;
  };
  auto r = client.Chat(Ask("hi"), opts);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_TRUE(restarted);
  EXPECT_EQ(seen, "second");
  EXPECT_EQ(r->content, "second");

  auto s2 = StartServer(
      Json{{"responses", {{{"content", "abcdefgh"}, {"chunk_size", 2}, {"cut_after_chunks", 2}}}}});
  ASSERT_TRUE(s2);
  CallOptions o2;
  o2.on_delta = [](const StreamDelta&) {};
  auto cut = Client(*s2).Chat(Ask("hi"), o2);
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.error().kind, LlmError::Kind::kNetwork) << cut.error().ToString();
}

TEST(LlmClientTest, ErrorInsideTheStreamIsTyped) {
  auto s = StartServer(
      Json{{"responses",
            {{{"content", "partial"},
              {"stream_error",
               {{"message", "context size exceeded"}, {"type", "exceed_context_size_error"}}}}}}});
  ASSERT_TRUE(s);
  CallOptions opts;
  opts.on_delta = [](const StreamDelta&) {};
  auto r = Client(*s).Chat(Ask("hi"), opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, LlmError::Kind::kContextLengthExceeded);
}

TEST(LlmClientTest, MalformedBodiesAreBadResponses) {
  auto s = StartServer(Json{{"responses",
                             {{{"raw_body", "<html>oops</html>"}},
                              {{"raw_body", R"({"choices": "nope"})"}},
                              {{"raw_body", "data: {not json}\n\n"}, {"stream", true}}}}});
  ASSERT_TRUE(s);
  auto client = Client(*s);
  auto a = client.Chat(Ask("1"), {});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().kind, LlmError::Kind::kBadResponse);
  auto b = client.Chat(Ask("2"), {});
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().kind, LlmError::Kind::kBadResponse);
  CallOptions opts;
  opts.on_delta = [](const StreamDelta&) {};
  auto c = client.Chat(Ask("3"), opts);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, LlmError::Kind::kBadResponse);
}

// A hostile or broken model server: JSON nested 200,000 deep parses fine but overflows the
// stack of whoever copies or dumps it. Each reply is a typed bad response (or server error),
// tool-call text that deep becomes a correction for the model, and the next call works.
TEST(LlmClientTest, DeeplyNestedRepliesAreBadResponsesNotCrashes) {
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  auto s = StartServer(Json{
      {"responses",
       {{{"raw_body", R"({"choices":[{"message":{"role":"assistant","content":)" + deep + "}}]}"}},
        {{"raw_body", "data: {\"choices\":[{\"delta\":{\"content\":" + deep + "}}]}\n\n"},
         {"stream", true}},
        {{"status", 500}, {"raw_body", R"({"error":)" + deep + "}"}},
        {{"tool_calls", {{{"id", "call_1"}, {"name", "game__press"}, {"arguments", deep}}}}},
        {{"content", "fine"}}}}});
  ASSERT_TRUE(s);
  auto client = Client(*s);
  auto whole = client.Chat(Ask("1"), {});
  ASSERT_FALSE(whole.ok());
  EXPECT_EQ(whole.error().kind, LlmError::Kind::kBadResponse);
  EXPECT_NE(whole.error().message.find("nests deeper than 256 levels"), std::string::npos)
      << whole.error().ToString();

  CallOptions stream;
  stream.on_delta = [](const StreamDelta&) {};
  auto chunk = client.Chat(Ask("2"), stream);
  ASSERT_FALSE(chunk.ok());
  EXPECT_EQ(chunk.error().kind, LlmError::Kind::kBadResponse);
  EXPECT_NE(chunk.error().message.find("stream event: JSON nests deeper than 256 levels"),
            std::string::npos)
      << chunk.error().ToString();

  auto error_body = client.Chat(Ask("3"), {});
  ASSERT_FALSE(error_body.ok());
  EXPECT_EQ(error_body.error().http_status, 500);

  auto call = client.Chat(Ask("4"), {});
  ASSERT_TRUE(call.ok()) << call.error().ToString();
  ASSERT_EQ(call->tool_calls.size(), 1u);
  EXPECT_TRUE(call->tool_calls[0].arguments.is_null());  // unreadable: left to the parser
  ToolCallParser parser({{"game__press", "press", Json{{"type", "object"}}}});
  ParsedToolCalls parsed = parser.Parse(*call);
  EXPECT_TRUE(parsed.calls.empty());
  EXPECT_NE(parsed.Correction().find("nests deeper than 256 levels"), std::string::npos)
      << parsed.Correction();

  auto fine = client.Chat(Ask("5"), {});
  ASSERT_TRUE(fine.ok()) << fine.error().ToString();
  EXPECT_EQ(fine->content, "fine");
}

TEST(LlmClientTest, NothingListeningIsANetworkError) {
  EndpointOptions o;
  o.base_url = "http://127.0.0.1:1";
  o.max_retries = 0;
  OpenAiBackend client(o);
  auto r = client.Chat(Ask("hi"), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, LlmError::Kind::kNetwork);
  EXPECT_NE(r.error().ToString().find("127.0.0.1:1"), std::string::npos);
}

TEST(LlmClientTest, ServerInformationEndpoints) {
  auto s = StartServer(Json{{"model", "qwen3-30b-a3b"}, {"context_size", 32768}, {"slots", 3}});
  ASSERT_TRUE(s);
  auto client = Client(*s);
  auto health = client.Health();
  ASSERT_TRUE(health.ok()) << health.error().ToString();
  auto info = client.Info();
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_EQ(info->model, "qwen3-30b-a3b");
  EXPECT_EQ(info->context_size, 32768);
  EXPECT_EQ(info->total_slots, 3);
  auto slots = client.Slots();
  ASSERT_TRUE(slots.ok());
  EXPECT_EQ(slots->total, 3);
  EXPECT_EQ(slots->busy, 0);
  auto models = client.ListModels();
  ASSERT_TRUE(models.ok());
  EXPECT_EQ(*models, std::vector<std::string>{"qwen3-30b-a3b"});
  auto tokens = client.CountTokens("twelve bytes");
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(*tokens, 3);
  auto emb = client.Embed({"a", "bb"}, "");
  ASSERT_TRUE(emb.ok()) << emb.error().ToString();
  ASSERT_EQ(emb->size(), 2u);
  EXPECT_EQ((*emb)[1].size(), 8u);
}

TEST(LlmClientTest, LoadingServerIsUnavailable) {
  auto s = StartServer(Json{{"health_status", 503}});
  ASSERT_TRUE(s);
  auto h = Client(*s).Health();
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().kind, LlmError::Kind::kUnavailable);
  EXPECT_NE(h.error().message.find("loading"), std::string::npos);
}

TEST(LlmClientTest, BadScriptIsRefusedWithTheFieldNamed) {
  auto s = ScriptedLlmProcess::Start(Json{{"responses", {{{"contnet", "typo"}}}}});
  ASSERT_FALSE(s.ok());
}

}  // namespace
}  // namespace naut::llm

namespace naut::llm {
namespace {

// The whole path a local model's answer takes: HTTP, streaming, extraction, repair,
// validation, and the correction sent back when the call cannot run.
TEST(LlmToolCallsEndToEndTest, CallsWrittenIntoTheContentAreRecoveredOrCorrected) {
  auto s = StartServer(Json{
      {"responses",
       {{{"content",
          "Let me start.\n<tool_call>\n{'name': 'send_message', 'arguments': "
          "{'chat': 'game', 'text': '/start',}}\n</tool_call>"},
         {"chunk_size", 7}},
        {{"content",
          "[TOOL_CALLS][{\"name\": \"rpg__send_message\", \"arguments\": {\"chat\": \"game\"}}]"}},
        {{"content",
          "[TOOL_CALLS][{\"name\": \"rpg__send_message\", \"arguments\": {\"chat\": \"game\", "
          "\"text\": \"hi\"}}]"}}}}});
  ASSERT_TRUE(s);
  ToolSpec send{
      "rpg__send_message", "Send a message",
      Json::parse(
          R"({"type":"object","properties":{"chat":{"type":"string"},"text":{"type":"string"}},"required":["chat","text"]})")};
  ToolCallParser parser({send});
  auto client = Client(*s);
  ChatRequest req = Ask("start the game");
  req.tools = parser.tools();
  CallOptions opts;
  opts.on_delta = [](const StreamDelta&) {};
  auto first = client.Chat(req, opts);
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  auto parsed = parser.Parse(*first);
  ASSERT_TRUE(parsed.ok()) << parsed.Correction();
  ASSERT_EQ(parsed.calls.size(), 1u);
  EXPECT_EQ(parsed.calls[0].name, "rpg__send_message");
  EXPECT_EQ(parsed.calls[0].arguments, Json({{"chat", "game"}, {"text", "/start"}}));
  EXPECT_EQ(parsed.text, "Let me start.");

  auto second = client.Chat(req, {});
  ASSERT_TRUE(second.ok());
  auto bad = parser.Parse(*second);
  ASSERT_FALSE(bad.ok());
  // The correction goes back to the model as a user turn, and the retry is sent with it.
  req.messages.push_back(Message::Assistant(second->content));
  req.messages.push_back(Message::User(bad.Correction()));
  auto third = client.Chat(req, {});
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(parser.Parse(*third).ok());
  auto sent = s->Requests();
  ASSERT_EQ(sent.size(), 3u);
  std::string correction = sent[2]["body"]["messages"].back()["content"];
  EXPECT_NE(correction.find("argument 'text' is required but missing"), std::string::npos)
      << correction;
}

}  // namespace
}  // namespace naut::llm

// The client against a real llama.cpp llama-server with a real GGUF model (label `model`, not
// run by default). Skips, saying why, when llama-server or a model is not on this machine.

#include <gtest/gtest.h>

#include "llm/llama_server.h"
#include "llm/openai_backend.h"
#include "llm/tool_calls.h"

namespace naut::llm {
namespace {

using namespace std::chrono_literals;

TEST(LlmModelTest, RealLlamaServerAnswersStreamsAndCallsTools) {
  auto binary = FindLlamaServer("llama-server");
  if (!binary.ok()) GTEST_SKIP() << "llama-server is not installed here: " << binary.error().message();
  const char* env_model = std::getenv("LLM_MODEL");
  auto gguf = FindGguf(env_model ? env_model : "", NAUT_SOURCE_DIR "/models");
  if (!gguf.ok()) GTEST_SKIP() << "no GGUF model: " << gguf.error().message();
  LlamaServerOptions o;
  o.model = *gguf;
  o.context_size = 4096;
  auto server = LlamaServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.error().ToString();
  EndpointOptions eo;
  eo.base_url = (*server)->base_url();
  OpenAiBackend client(eo);
  auto info = client.Info();
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_GT(info->context_size, 0);
  auto tokens = client.CountTokens("Hello world");
  ASSERT_TRUE(tokens.ok());
  EXPECT_GT(*tokens, 0);

  ChatRequest req;
  req.messages = {Message::User("Say hello in three words.")};
  req.sampling.max_tokens = 32;
  req.sampling.temperature = 0;
  std::string streamed;
  CallOptions opts;
  opts.on_delta = [&](const StreamDelta& d) { streamed += d.content; };
  auto r = client.Chat(req, opts);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_FALSE(r->content.empty());
  EXPECT_EQ(streamed, r->content);
  EXPECT_GT(r->usage.completion_tokens, 0);

  ToolSpec send{"rpg__send_message", "Send a chat message",
                Json::parse(R"({"type":"object","properties":{"text":{"type":"string"}},"required":["text"]})")};
  ChatRequest tool_req;
  tool_req.messages = {Message::User("Use the tool to send the message 'hello'.")};
  tool_req.tools = {send};
  tool_req.tool_choice.mode = ToolChoice::Mode::kRequired;
  tool_req.sampling.max_tokens = 128;
  auto t = client.Chat(tool_req, {});
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  auto parsed = ToolCallParser({send}).Parse(*t);
  EXPECT_TRUE(parsed.ok()) << parsed.Correction();
  EXPECT_FALSE(parsed.calls.empty());
}

}  // namespace
}  // namespace naut::llm

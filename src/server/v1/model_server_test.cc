// The model server over real HTTP on loopback with the tiny GGUF models of
// ../shared/conformance (skipped, saying so, when that folder is absent).

#include "server/v1/model_server.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <future>
#include <thread>

#include "core/base64.h"
#include "engine/model.h"
#include "llm/openai_backend.h"
#include "server/v1/testing/v1_test_server.h"

namespace naut::server {
namespace {

using testing::Get;
using testing::PostJson;
using testing::PostStream;
using testing::StreamedText;
using testing::V1TestServer;

const std::string kModels = NAUT_SOURCE_DIR "/../shared/conformance/models/";

std::string ModelOrSkip(const std::string& name) {
  const std::string path = kModels + name;
  return std::filesystem::exists(path) ? path : "";
}

#define REQUIRE_MODEL(var, name)                                                     \
  const std::string var = ModelOrSkip(name);                                         \
  if (var.empty())                                                                   \
    GTEST_SKIP() << "conformance data absent (../shared/conformance/models/" << name \
                 << "); these tests need it";

ModelServerOptions Options(const std::string& path, int parallel = 2) {
  ModelServerOptions o;
  o.model_path = path;
  o.threads = 2;
  o.context_size = 256;
  o.parallel = parallel;
  o.queue_size = 4;
  o.chat_format = "chatml";  // the tiny models carry no chat template
  // An f32 KV cache: a batch of several sequences differs from one alone in the last bits of
  // its products, which an fp16 cache can round apart (a value at a rounding boundary), and
  // the tiny models' near-ties then pick another token; BatchingTest wants the exact tokens.
  o.kv_cache = "f32";
  o.max_body_bytes = 64 * 1024;
  return o;
}

double MetricValue(const std::string& metrics, const std::string& name) {
  const std::string line = "\n" + name + " ";
  size_t at = metrics.find(line);
  if (at == std::string::npos) return -1;
  return std::stod(metrics.substr(at + line.size()));
}

std::string CompletionBody(const std::string& prompt, int max_tokens, bool stream = false) {
  return DumpJson(
      Json{{"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}, {"stream", stream}});
}

TEST(ModelServerTest, AnswersHealthModelsPropsSlotsAndMetrics) {
  REQUIRE_MODEL(path, "stories260K.gguf");
  V1TestServer s(Options(path, 3));
  ASSERT_TRUE(s.status().ok()) << s.status().ToString();
  auto health = Get(s, "/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.json.value("status", ""), "ok");
  auto models = Get(s, "/v1/models");
  ASSERT_EQ(models.status, 200);
  EXPECT_EQ(models.json["data"][0]["id"], "stories260K");
  auto props = Get(s, "/props");
  ASSERT_EQ(props.status, 200);
  EXPECT_EQ(props.json["total_slots"], 3);
  EXPECT_EQ(props.json["default_generation_settings"]["n_ctx"], 256);
  auto slots = Get(s, "/slots");
  ASSERT_EQ(slots.status, 200);
  ASSERT_EQ(slots.json.size(), 3u);
  EXPECT_EQ(slots.json[0]["is_processing"], false);
  auto metrics = Get(s, "/metrics");
  ASSERT_EQ(metrics.status, 200);
  for (const char* name : {"llamacpp:prompt_tokens_total", "llamacpp:tokens_predicted_total",
                           "llamacpp:requests_processing", "llamacpp:requests_deferred",
                           "llamacpp:n_decode_total", "llamacpp:kv_cache_usage_ratio"}) {
    EXPECT_EQ(MetricValue("\n" + metrics.body, name), 0) << name;
  }
}

std::vector<float> FromBase64(const std::string& text) {
  const std::string bytes = Base64Decode(text).value_or("");
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

// /v1/embeddings answers what the engine's Embed computes for the same tokens (checked against
// llama.cpp in engine/embed_test.cc), in OpenAI's shape, as floats or base64.
TEST(ModelServerTest, EmbeddingsAreTheEnginesPooledUnitVectors) {
  REQUIRE_MODEL(path, "stories260K.gguf");
  V1TestServer s(Options(path));
  ASSERT_TRUE(s.status().ok()) << s.status().ToString();
  auto model = engine::Model::Load(path);
  ASSERT_TRUE(model.ok());
  auto ctx = engine::Context::Create(**model, {.n_ctx = 256, .n_threads = 1});
  ASSERT_TRUE(ctx.ok());
  const std::vector<std::string> texts = {"Once upon a time", "The little dog ran home."};
  auto r = PostJson(s, "/v1/embeddings", DumpJson(Json{{"input", texts}, {"model", "m"}}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["object"], "list");
  EXPECT_EQ(r.json["model"], "m");
  ASSERT_EQ(r.json["data"].size(), 2u);
  int64_t tokens = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const Json& d = r.json["data"][i];
    EXPECT_EQ(d["object"], "embedding");
    EXPECT_EQ(d["index"], i);
    const auto got = d["embedding"].get<std::vector<float>>();
    const auto ids = (*model)->tokenizer().Tokenize(texts[i], true, true);
    tokens += static_cast<int64_t>(ids.size());
    auto want = (*ctx)->Embed(ids, engine::Pooling::kMean);
    ASSERT_TRUE(want.ok());
    ASSERT_EQ(got.size(), static_cast<size_t>((*model)->params().n_embd));
    double norm = 0;
    for (size_t k = 0; k < got.size(); ++k) {
      EXPECT_NEAR(got[k], (*want)[k], 1e-5) << "text " << i << " value " << k;
      norm += static_cast<double>(got[k]) * got[k];
    }
    EXPECT_NEAR(norm, 1.0, 1e-4);
  }
  EXPECT_EQ(r.json["usage"]["prompt_tokens"], tokens);
  EXPECT_NE(r.json["data"][0]["embedding"], r.json["data"][1]["embedding"]);
  // Base64 (what the official clients ask for) carries the same floats; token ids as input
  // are the same text.
  const auto ids = (*model)->tokenizer().Tokenize(texts[0], true, true);
  auto b64 = PostJson(s, "/v1/embeddings",
                      DumpJson(Json{{"input", Json::array({ids})}, {"encoding_format", "base64"}}));
  ASSERT_EQ(b64.status, 200) << b64.body;
  EXPECT_EQ(b64.json["model"], "stories260K");
  EXPECT_EQ(FromBase64(b64.json["data"][0]["embedding"].get<std::string>()),
            r.json["data"][0]["embedding"].get<std::vector<float>>());
  // Generation goes on beside it.
  auto gen = PostJson(s, "/v1/completions", CompletionBody("Once upon a time", 4));
  EXPECT_EQ(gen.status, 200) << gen.body;
}

TEST(ModelServerTest, EmbeddingsRefuseWhatTheyCannotEmbed) {
  REQUIRE_MODEL(path, "stories260K.gguf");
  V1TestServer s(Options(path));
  ASSERT_TRUE(s.status().ok()) << s.status().ToString();
  auto expect_400 = [&](const Json& body, const std::string& words) {
    auto r = PostJson(s, "/v1/embeddings", DumpJson(body));
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_NE(r.json["error"]["message"].get<std::string>().find(words), std::string::npos)
        << r.body;
  };
  expect_400(Json::object(), "'input' is missing");
  expect_400(Json{{"input", Json::array()}}, "'input' is empty");
  expect_400(Json{{"input", 42}}, "must be a string");
  expect_400(Json{{"input", Json::array({"a", 1})}}, "must be a string");
  expect_400(Json{{"input", Json::array({1, -5})}}, "token ids");
  expect_400(Json{{"input", Json::array({999999})}}, "outside the vocabulary");
  expect_400(Json{{"input", "x"}, {"encoding_format", "hex"}}, "encoding_format");
  expect_400(Json{{"input", std::vector<int>(300, 5)}}, "the context holds 256");
  auto not_json = PostJson(s, "/v1/embeddings", "{\"input\": ");
  EXPECT_EQ(not_json.status, 400);
  // And the server still answers.
  auto ok = PostJson(s, "/v1/embeddings", R"({"input": "hello"})");
  EXPECT_EQ(ok.status, 200) << ok.body;
}

TEST(ModelServerTest, AnUnknownPoolingIsRefusedAtOpen) {
  ModelServerOptions o = Options("/nonexistent.gguf");
  o.model_path = NAUT_SOURCE_DIR "/CMakeLists.txt";  // a file: the pooling is checked first
  o.pooling = "max";
  auto server = ModelServer::Open(o);
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.error().message().find("mean, cls or last"), std::string::npos)
      << server.error().ToString();
}

TEST(ModelServerTest, CompletionStreamedOrNotIsTheSameText) {
  REQUIRE_MODEL(path, "stories260K.gguf");
  V1TestServer s(Options(path));
  ASSERT_TRUE(s.status().ok()) << s.status().ToString();
  auto whole = PostJson(s, "/v1/completions", CompletionBody("Once upon a time", 24));
  ASSERT_EQ(whole.status, 200) << whole.body;
  EXPECT_EQ(whole.json["object"], "text_completion");
  const std::string text = whole.json["choices"][0]["text"];
  EXPECT_FALSE(text.empty());
  EXPECT_LE(whole.json["usage"]["completion_tokens"].get<int>(), 24);
  EXPECT_GT(whole.json["usage"]["prompt_tokens"].get<int>(), 3);
  auto streamed = PostStream(s, "/v1/completions", CompletionBody("Once upon a time", 24, true));
  EXPECT_EQ(streamed.status, 200);
  EXPECT_TRUE(streamed.done);
  EXPECT_EQ(StreamedText(streamed), text);
  ASSERT_FALSE(streamed.events.empty());
  EXPECT_EQ(streamed.events.back()["choices"][0]["finish_reason"],
            whole.json["choices"][0]["finish_reason"]);
  EXPECT_EQ(streamed.events.back()["usage"]["completion_tokens"],
            whole.json["usage"]["completion_tokens"]);
}

TEST(ModelServerTest, ChatCompletionStreamedOrNotIsTheSameAnswer) {
  REQUIRE_MODEL(path, "stories260K.gguf");
  V1TestServer s(Options(path));
  ASSERT_TRUE(s.status().ok()) << s.status().ToString();
  Json body{{"model", "stories260K"},
            {"messages", {{{"role", "user"}, {"content", "Tell me a story about a cat."}}}},
            {"max_tokens", 20},
            {"temperature", 0}};
  auto whole = PostJson(s, "/v1/chat/completions", DumpJson(body));
  ASSERT_EQ(whole.status, 200) << whole.body;
  EXPECT_EQ(whole.json["object"], "chat.completion");
  const Json& msg = whole.json["choices"][0]["message"];
  EXPECT_EQ(msg["role"], "assistant");
  const std::string content = msg["content"];
  EXPECT_FALSE(content.empty());
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  auto streamed = PostStream(s, "/v1/chat/completions", DumpJson(body));
  EXPECT_EQ(streamed.status, 200);
  EXPECT_TRUE(streamed.done);
  ASSERT_GE(streamed.events.size(), 3u);
  EXPECT_EQ(streamed.events.front()["object"], "chat.completion.chunk");
  EXPECT_EQ(streamed.events.front()["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(StreamedText(streamed), content);
  // include_usage: a last chunk with no choices and the usage.
  EXPECT_TRUE(streamed.events.back()["choices"].empty());
  EXPECT_EQ(streamed.events.back()["usage"]["completion_tokens"],
            whole.json["usage"]["completion_tokens"]);
}

// The real check of batching: requests decoded together in one forward pass give, at
// temperature 0, exactly the tokens each gives alone (each on a fresh server, so that no
// cached prefix changes how its prompt is cut into passes).
class BatchingTest : public ::testing::TestWithParam<const char*> {};

TEST_P(BatchingTest, ConcurrentRequestsGiveTheTokensEachGivesAlone) {
  REQUIRE_MODEL(path, GetParam());
  const std::vector<std::string> prompts = {"Once upon a time", "The little dog",
                                            "Lily went to the park and she saw a big tree"};
  auto ask = [](const V1TestServer& s, const std::string& p) {
    Json body{{"prompt", p}, {"max_tokens", 48}, {"temperature", 0}, {"ignore_eos", true}};
    auto r = PostJson(s, "/v1/completions", DumpJson(body));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? r.json["choices"][0]["text"].get<std::string>() : std::string();
  };
  std::vector<std::string> alone;
  for (const auto& p : prompts) {
    V1TestServer s(Options(path, 3));
    ASSERT_TRUE(s.status().ok()) << s.status().ToString();
    alone.push_back(ask(s, p));
  }
  // On a loaded machine three requests sent together may still run one after another (each
  // takes milliseconds): the round is repeated, on a fresh server, until they shared passes.
  double busy_per_decode = 0;
  for (int round = 0; round < 5 && busy_per_decode <= 1.0; ++round) {
    V1TestServer s(Options(path, 3));
    ASSERT_TRUE(s.status().ok()) << s.status().ToString();
    std::vector<std::future<std::string>> together;
    for (const auto& p : prompts) {
      together.push_back(std::async(std::launch::async, ask, std::cref(s), p));
    }
    for (size_t i = 0; i < prompts.size(); ++i) {
      EXPECT_EQ(together[i].get(), alone[i]) << "prompt " << i << ", round " << round;
    }
    busy_per_decode =
        MetricValue("\n" + Get(s, "/metrics").body, "llamacpp:n_busy_slots_per_decode");
  }
  // They did share forward passes: more than one busy slot per decode on average.
  EXPECT_GT(busy_per_decode, 1.0);
}

INSTANTIATE_TEST_SUITE_P(TinyModels, BatchingTest,
                         ::testing::Values("stories260K.gguf", "stories260K-Q8_0.gguf",
                                           "stories260K-Q4_0.gguf", "synth-llama-256-Q4_K_M.gguf"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(ModelServerTest, ASecondRequestReusesTheCachedPrefix) {
  REQUIRE_MODEL(path, "stories260K.gguf");
  V1TestServer s(Options(path, 2));
  ASSERT_TRUE(s.status().ok()) << s.status().ToString();
  const std::string prefix =
      "Once upon a time there was a little girl named Lily. She loved to play outside.";
  auto first = PostJson(s, "/v1/completions", CompletionBody(prefix, 4));
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.json["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  auto second = PostJson(s, "/v1/completions", CompletionBody(prefix + " One day", 4));
  ASSERT_EQ(second.status, 200) << second.body;
  const int prompt_tokens = first.json["usage"]["prompt_tokens"];
  // Everything the first prompt had is reused (and the generated tokens the new prompt
  // happens to repeat); only the new words are evaluated.
  const int cached = second.json["usage"]["prompt_tokens_details"]["cached_tokens"];
  EXPECT_GE(cached, prompt_tokens);
  EXPECT_LT(cached, second.json["usage"]["prompt_tokens"].get<int>());
  EXPECT_EQ(second.json["timings"]["cache_n"], cached);
  EXPECT_EQ(second.json["timings"]["prompt_n"].get<int>(),
            second.json["usage"]["prompt_tokens"].get<int>() - cached);
  // The same prompt again: all but the last token (evaluated again for its logits).
  auto third = PostJson(s, "/v1/completions", CompletionBody(prefix, 4));
  EXPECT_EQ(third.json["usage"]["prompt_tokens_details"]["cached_tokens"], prompt_tokens - 1);
  EXPECT_EQ(third.json["choices"][0]["text"], first.json["choices"][0]["text"]);
}

TEST(ModelServerTest, BadRequestsAreRefusedAndLoseNothing) {
  REQUIRE_MODEL(path, "stories260K.gguf");
  V1TestServer s(Options(path));
  ASSERT_TRUE(s.status().ok()) << s.status().ToString();
  struct Case {
    std::string path, body;
    int status;
    std::string names;  // in the message
  };
  const std::string big_prompt(4000, 'a');
  const std::vector<Case> cases = {
      {"/v1/chat/completions", "{\"messages\": [", 400, "JSON"},
      {"/v1/chat/completions", "[1, 2]", 400, "object"},
      {"/v1/chat/completions", R"({"messages": []})", 400, "messages"},
      {"/v1/chat/completions", R"({"messages": [{"role": "wizard", "content": "x"}]})", 400,
       "wizard"},
      {"/v1/chat/completions",
       R"({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"})", 400,
       "temperature"},
      {"/v1/chat/completions",
       R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 1.5})", 400, "max_tokens"},
      {"/v1/chat/completions",
       R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]})", 400,
       "tools[0]"},
      {"/v1/chat/completions",
       R"({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "yaml"}})",
       400, "response_format"},
      {"/v1/completions", R"({"prompt": 42})", 400, "prompt"},
      {"/v1/completions", DumpJson(Json{{"prompt", big_prompt}}), 400, "context"},
      {"/v1/completions", DumpJson(Json{{"prompt", std::string(70 * 1024, 'a')}}), 413, "limit"},
  };
  for (const Case& c : cases) {
    auto r = PostJson(s, c.path, c.body);
    EXPECT_EQ(r.status, c.status) << c.body.substr(0, 200) << " -> " << r.body;
    ASSERT_TRUE(r.json.is_object() && r.json.contains("error")) << r.body;
    const std::string message = r.json["error"]["message"];
    EXPECT_NE(message.find(c.names), std::string::npos) << message;
    EXPECT_EQ(r.json["error"]["code"], c.status);
  }
  auto ctx = PostJson(s, "/v1/completions", DumpJson(Json{{"prompt", big_prompt}}));
  EXPECT_EQ(ctx.json["error"]["type"], "exceed_context_size_error");
  // Still serving.
  EXPECT_EQ(Get(s, "/health").status, 200);
  EXPECT_EQ(PostJson(s, "/v1/completions", CompletionBody("Once", 4)).status, 200);
}

// NeuroNaut's own OpenAI backend uses the server as it uses a llama-server.
TEST(ModelServerTest, NeuroNautsOpenAiBackendUsesItAsALlamaServer) {
  REQUIRE_MODEL(path, "stories260K.gguf");
  V1TestServer s(Options(path, 2));
  ASSERT_TRUE(s.status().ok()) << s.status().ToString();
  llm::EndpointOptions eo;
  eo.base_url = s.base_url();
  eo.model = "stories260K";
  llm::OpenAiBackend backend(eo);
  auto health = backend.Health(std::chrono::seconds(5));
  ASSERT_TRUE(health.ok()) << health.error().ToString();
  auto info = backend.Info(std::chrono::seconds(5));
  ASSERT_TRUE(info.ok()) << info.error().ToString();
  EXPECT_EQ(info->total_slots, 2);
  EXPECT_EQ(info->context_size, 256);
  EXPECT_EQ(info->model, "stories260K");
  auto slots = backend.Slots(std::chrono::seconds(5));
  ASSERT_TRUE(slots.ok());
  EXPECT_EQ(slots->total, 2);
  llm::ChatRequest req;
  req.messages = {llm::Message::User("Tell me a story.")};
  req.sampling.temperature = 0;
  req.sampling.max_tokens = 16;
  auto whole = backend.Chat(req, {});
  ASSERT_TRUE(whole.ok()) << whole.error().ToString();
  EXPECT_FALSE(whole->content.empty());
  EXPECT_GT(whole->usage.prompt_tokens, 0);
  std::string streamed;
  llm::CallOptions co;
  co.on_delta = [&](const llm::StreamDelta& d) { streamed += d.content; };
  auto again = backend.Chat(req, co);
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_EQ(again->content, whole->content);
  EXPECT_EQ(streamed, whole->content);
  // The second call reused the first one's prompt.
  EXPECT_EQ(again->usage.cached_tokens, again->usage.prompt_tokens - 1);
  auto tokens = backend.CountTokens("Once upon a time", std::chrono::seconds(5));
  ASSERT_TRUE(tokens.ok());
  EXPECT_GT(*tokens, 2);
}

TEST(ModelServerTest, OpenRefusesBadOptions) {
  ModelServerOptions o;
  EXPECT_EQ(ModelServer::Open(o).error().code(), Code::kInvalidArgument);
  o.model_path = "/nonexistent/model.gguf";
  EXPECT_EQ(ModelServer::Open(o).error().code(), Code::kNotFound);
  REQUIRE_MODEL(path, "stories260K.gguf");
  o.model_path = path;
  o.parallel = 0;
  EXPECT_EQ(ModelServer::Open(o).error().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace naut::server

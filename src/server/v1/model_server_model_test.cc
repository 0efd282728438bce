// The model server with the real models of ./models (SmolLM2-135M, Qwen2.5-Coder-0.5B, and the
// embedding model all-MiniLM-L6-v2 that scripts/embed_model.sh makes), over real HTTP on
// loopback; skipped, saying so, when a model is absent. Label `model`.

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "server/v1/model_server.h"
#include "server/v1/testing/v1_test_server.h"

namespace naut::server {
namespace {

using testing::Get;
using testing::PostJson;
using testing::PostStream;
using testing::StreamedText;
using testing::V1TestServer;

const std::string kSmol = NAUT_SOURCE_DIR "/models/SmolLM2-135M-Instruct-Q4_1.gguf";
const std::string kQwen = NAUT_SOURCE_DIR "/models/Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf";
const std::string kMiniLm = NAUT_SOURCE_DIR "/models/all-MiniLM-L6-v2-F32.gguf";

#define REQUIRE_FILE(path) \
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "model absent: " << path;

ModelServerOptions Options(const std::string& path, int parallel, int queue) {
  ModelServerOptions o;
  o.model_path = path;
  o.threads = 2;
  o.context_size = 1024;
  o.parallel = parallel;
  o.queue_size = queue;
  // An f32 KV cache: ChatsDecodedTogetherGiveTheTokensEachGivesAlone wants the exact tokens, and
  // an fp16 cache can round a batch's last-bit differences apart (see model_server_test.cc).
  o.kv_cache = "f32";
  return o;
}

Json Chat(const std::string& text, int max_tokens) {
  return Json{{"model", "any"},
              {"messages", {{{"role", "user"}, {"content", text}}}},
              {"max_tokens", max_tokens},
              {"temperature", 0}};
}

bool WaitIdle(const V1TestServer& s, std::chrono::seconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    auto slots = Get(s, "/slots");
    bool busy = false;
    for (const auto& sl : slots.json) busy = busy || sl["is_processing"].get<bool>();
    if (!busy) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// Each question alone on a fresh server, then both on one server at once: the same tokens.
TEST(ModelServerModelTest, ChatsDecodedTogetherGiveTheTokensEachGivesAlone) {
  REQUIRE_FILE(kQwen);
  const std::vector<std::string> questions = {"Write a Python function that adds two numbers.",
                                              "What is a linked list? Answer in one sentence."};
  auto ask = [](const V1TestServer& s, const std::string& q) {
    auto r = PostJson(s, "/v1/chat/completions", DumpJson(Chat(q, 24)));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? r.json["choices"][0]["message"]["content"].get<std::string>() : "";
  };
  std::vector<std::string> alone;
  for (const auto& q : questions) {
    V1TestServer s(Options(kQwen, 2, 4));
    ASSERT_TRUE(s.status().ok()) << s.status().ToString();
    alone.push_back(ask(s, q));
  }
  V1TestServer s(Options(kQwen, 2, 4));
  ASSERT_TRUE(s.status().ok()) << s.status().ToString();
  std::vector<std::future<std::string>> together;
  for (const auto& q : questions) {
    together.push_back(std::async(std::launch::async, ask, std::cref(s), q));
  }
  for (size_t i = 0; i < questions.size(); ++i) EXPECT_EQ(together[i].get(), alone[i]) << i;
}

TEST(ModelServerModelTest, LazyToolCallGrammarGivesAValidCall) {
  REQUIRE_FILE(kQwen);
  V1TestServer s(Options(kQwen, 2, 4));
  ASSERT_TRUE(s.status().ok()) << s.status().ToString();
  Json body = Chat("What is the weather in Paris right now? Use the tool.", 96);
  body["tools"] = Json::array(
      {{{"type", "function"},
        {"function",
         {{"name", "get_weather"},
          {"description", "Current weather of a city"},
          {"parameters",
           {{"type", "object"},
            {"properties", {{"city", {{"type", "string"}}}, {"unit", {{"enum", {"C", "F"}}}}}},
            {"required", {"city"}}}}}}}});
  body["tool_choice"] = "auto";
  auto r = PostJson(s, "/v1/chat/completions", DumpJson(body));
  ASSERT_EQ(r.status, 200) << r.body;
  const Json& choice = r.json["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls") << r.body;
  ASSERT_TRUE(choice["message"].contains("tool_calls")) << r.body;
  const Json& call = choice["message"]["tool_calls"][0];
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["function"]["name"], "get_weather");
  auto args = ParseJson(call["function"]["arguments"].get<std::string>(), "arguments");
  ASSERT_TRUE(args.ok());
  ASSERT_TRUE(args->contains("city")) << args->dump();
  EXPECT_TRUE((*args)["city"].is_string());
  if (args->contains("unit")) {
    EXPECT_TRUE((*args)["unit"] == "C" || (*args)["unit"] == "F");
  }
  // Streamed: the call comes as a tool_calls delta, the same call.
  body["stream"] = true;
  auto streamed = PostStream(s, "/v1/chat/completions", DumpJson(body));
  ASSERT_EQ(streamed.status, 200);
  EXPECT_TRUE(streamed.done);
  Json streamed_call;
  std::string finish;
  for (const Json& e : streamed.events) {
    const Json& ch = e["choices"][0];
    if (ch["delta"].contains("tool_calls")) streamed_call = ch["delta"]["tool_calls"][0];
    if (ch["finish_reason"].is_string()) finish = ch["finish_reason"];
  }
  EXPECT_EQ(finish, "tool_calls");
  EXPECT_EQ(streamed_call["function"]["name"], "get_weather");
  EXPECT_EQ(streamed_call["function"]["arguments"], call["function"]["arguments"]);
  EXPECT_EQ(streamed_call["index"], 0);
}

TEST(ModelServerModelTest, ResponseFormatJsonSchemaHoldsTheAnswer) {
  REQUIRE_FILE(kQwen);
  V1TestServer s(Options(kQwen, 1, 2));
  ASSERT_TRUE(s.status().ok()) << s.status().ToString();
  Json body = Chat("Give me a person's name and age as JSON.", 64);
  body["response_format"] = {
      {"type", "json_schema"},
      {"json_schema",
       {{"name", "person"},
        {"schema",
         {{"type", "object"},
          {"properties", {{"name", {{"type", "string"}}}, {"age", {{"type", "integer"}}}}},
          {"required", {"name", "age"}}}}}}};
  auto r = PostJson(s, "/v1/chat/completions", DumpJson(body));
  ASSERT_EQ(r.status, 200) << r.body;
  auto answer = ParseJson(r.json["choices"][0]["message"]["content"].get<std::string>(), "answer");
  ASSERT_TRUE(answer.ok()) << r.body;
  EXPECT_TRUE((*answer)["name"].is_string());
  EXPECT_TRUE((*answer)["age"].is_number_integer());
}

// One slot, no queue: a second request while the first runs is refused with 503; the first
// one's client going away frees the slot, and the server serves again.
TEST(ModelServerModelTest, QueueFullIsRefusedAndADisconnectedStreamFreesItsSlot) {
  REQUIRE_FILE(kSmol);
  V1TestServer s(Options(kSmol, 1, 0));
  ASSERT_TRUE(s.status().ok()) << s.status().ToString();
  Json body = Chat("Count from one to one thousand.", 900);
  body["ignore_eos"] = true;
  body["stream"] = true;
  std::promise<void> started;
  std::promise<void> hang_up;
  auto hang_up_future = hang_up.get_future().share();
  bool told = false;
  auto stream = std::async(std::launch::async, [&] {
    return PostStream(s, "/v1/chat/completions", DumpJson(body), [&](const Json& e) {
      if (!told && e["choices"][0]["delta"].contains("content") &&
          e["choices"][0]["delta"]["content"].is_string()) {
        told = true;
        started.set_value();
      }
      // Reads until told to hang up, then closes the connection.
      return hang_up_future.wait_for(std::chrono::seconds(0)) != std::future_status::ready;
    });
  });
  ASSERT_EQ(started.get_future().wait_for(std::chrono::seconds(120)), std::future_status::ready);
  auto refused = PostJson(s, "/v1/chat/completions", DumpJson(Chat("Hi", 4)));
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(refused.json["error"]["type"], "unavailable_error");
  EXPECT_EQ(refused.json["error"]["code"], 503);
  auto slots = Get(s, "/slots");
  EXPECT_TRUE(slots.json[0]["is_processing"].get<bool>());
  hang_up.set_value();
  auto reply = stream.get();
  EXPECT_FALSE(reply.done);
  ASSERT_TRUE(WaitIdle(s, std::chrono::seconds(30))) << "the slot stayed busy";
  // Far fewer tokens than asked for were generated.
  const std::string metrics = Get(s, "/metrics").body;
  const size_t at = metrics.find("\nllamacpp:tokens_predicted_total ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_LT(std::stod(metrics.substr(at + 33)), 800);
  auto ok = PostJson(s, "/v1/chat/completions", DumpJson(Chat("Hi", 4)));
  EXPECT_EQ(ok.status, 200) << ok.body;
}

// A client that gives up on a non-streamed answer (its connection closes) has its request
// cancelled too: the server notices within a few seconds while it waits.
TEST(ModelServerModelTest, AClientGivingUpOnAWholeAnswerFreesItsSlot) {
  REQUIRE_FILE(kSmol);
  V1TestServer s(Options(kSmol, 1, 0));
  ASSERT_TRUE(s.status().ok()) << s.status().ToString();
  Json body = Chat("Count from one to one thousand.", 900);
  body["ignore_eos"] = true;
  {
    // The server writes a space (leading JSON whitespace) every second while the answer is
    // not ready; the client hangs up at the first one.
    auto c = s.Client();
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.body = DumpJson(body);
    req.set_header("Content-Type", "application/json");
    std::string received;
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
      received.append(data, n);
      return false;
    };
    auto r = c.send(req);
    EXPECT_FALSE(r);
    EXPECT_EQ(received, " ") << "the answer came before the first heartbeat";
  }
  ASSERT_TRUE(WaitIdle(s, std::chrono::seconds(30))) << "the slot stayed busy";
  auto ok = PostJson(s, "/v1/chat/completions", DumpJson(Chat("Hi", 4)));
  EXPECT_EQ(ok.status, 200) << ok.body;
}

// A BERT embedding model is served for embeddings only: /v1/embeddings answers llama-embedding's
// vectors for the same file (src/engine/testdata/llama_cpp_embed), generation is refused.
TEST(ModelServerModelTest, BertModelServesEmbeddingsAsLlamaEmbeddingDoes) {
  REQUIRE_FILE(kMiniLm);
  std::ifstream in(NAUT_SOURCE_DIR
                   "/src/engine/testdata/llama_cpp_embed/bert-all-minilm-l6-v2.json");
  std::stringstream text;
  text << in.rdbuf();
  auto ref = ParseJson(text.str(), "bert reference");
  ASSERT_TRUE(ref.ok()) << ref.error().ToString();
  V1TestServer s(Options(kMiniLm, 1, 4));
  ASSERT_TRUE(s.status().ok()) << s.status().ToString();
  std::vector<std::string> prompts;
  for (const Json& r : (*ref)["results"]) prompts.push_back(r["prompt"].get<std::string>());
  auto r = PostJson(s, "/v1/embeddings", DumpJson(Json{{"input", prompts}, {"model", "m"}}));
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(r.json["data"].size(), prompts.size());
  int64_t tokens = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto got = r.json["data"][i]["embedding"].get<std::vector<float>>();
    const auto want = (*ref)["results"][i]["embedding"].get<std::vector<float>>();
    ASSERT_EQ(got.size(), want.size());
    double dot = 0, na = 0, nb = 0;
    for (size_t d = 0; d < want.size(); ++d) {
      dot += static_cast<double>(got[d]) * want[d];
      na += static_cast<double>(got[d]) * got[d];
      nb += static_cast<double>(want[d]) * want[d];
    }
    EXPECT_GE(dot / std::sqrt(na * nb), 0.99999) << prompts[i];
    tokens += static_cast<int64_t>((*ref)["results"][i]["prompt_tokens"].size());
  }
  EXPECT_EQ(r.json["usage"]["prompt_tokens"], tokens);
  auto chat = PostJson(s, "/v1/chat/completions", DumpJson(Chat("hello", 4)));
  EXPECT_EQ(chat.status, 501) << chat.body;
  EXPECT_NE(chat.body.find("embedding model"), std::string::npos) << chat.body;
  EXPECT_EQ(Get(s, "/health").status, 200);
}

}  // namespace
}  // namespace naut::server

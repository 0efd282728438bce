#include "memory/embedder.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <cmath>
#include <thread>

#include "core/json.h"

namespace naut::memory {
namespace {

float Norm(const Vector& v) { return std::sqrt(Dot(v, v)); }

TEST(HashingEmbedder, DeterministicUnitVectorsOfTheConfiguredSize) {
  HashingEmbedder e(256);
  Vector a = e.EmbedText("Press the Hunt button in the game chat");
  Vector b = HashingEmbedder(256).EmbedText("Press the Hunt button in the game chat");
  ASSERT_EQ(a.size(), 256u);
  EXPECT_EQ(a, b);
  EXPECT_NEAR(Norm(a), 1.0f, 1e-5);
  EXPECT_EQ(Norm(e.EmbedText("  ... ")), 0.0f);
}

TEST(HashingEmbedder, RelatedTextsAreCloserThanUnrelatedOnes) {
  HashingEmbedder e(512);
  Vector q = e.EmbedText("hunt monsters for gold");
  Vector near = e.EmbedText("press_inline_button Hunt to fight monsters and earn gold");
  Vector far = e.EmbedText("read a text file from the workspace directory");
  EXPECT_GT(Dot(q, near), Dot(q, far) + 0.1f);
  // Identifier parts meet prose words.
  EXPECT_GT(Dot(e.EmbedText("pressInlineButton"), e.EmbedText("press inline button")), 0.5f);
}

TEST(MakeEmbedder, SelectsByConfigAndNamesMissingKeys) {
  Config c;
  c.embeddings.dim = 64;
  auto h = MakeEmbedder(c);
  ASSERT_TRUE(h) << h.error().ToString();
  EXPECT_EQ((*h)->id(), "hashing-v1");
  EXPECT_EQ(*(*h)->Dimension(), 64);
  c.embeddings.backend = "openai";
  auto o = MakeEmbedder(c);
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message().find("[embeddings] model"), std::string::npos);
  c.embeddings.model = "nomic";
  o = MakeEmbedder(c);
  ASSERT_TRUE(o);
  EXPECT_EQ((*o)->id(), "openai:nomic");
}

// A real HTTP server on port 0 speaking the /v1/embeddings protocol.
class EmbeddingsServer {
 public:
  EmbeddingsServer() {
    server_.Post("/api/v1/embeddings", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests_;
      auth_ = req.get_header_value("Authorization");
      if (!reply_.empty()) {
        res.status = status_;
        res.set_content(reply_, "application/json");
        return;
      }
      auto body = Json::parse(req.body);
      Json data = Json::array();
      const auto& input = body["input"];
      // Answer in reverse order with explicit indexes, as servers may.
      for (size_t i = input.size(); i-- > 0;) {
        std::string text = input[i];
        data.push_back({{"index", i}, {"embedding", {static_cast<double>(text.size()), 0.0, 3.0}}});
      }
      res.set_content(Json{{"data", data}, {"model", body.value("model", "")}}.dump(),
                      "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~EmbeddingsServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api"; }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<int> requests_{0};
  std::string auth_, reply_;
  int status_ = 200;
};

TEST(OpenAiEmbedder, EmbedsInBatchesInOrderAndNormalises) {
  EmbeddingsServer server;
  OpenAiEmbedder e({.base_url = server.url(), .model = "m", .api_key = "k", .batch_size = 2});
  std::vector<std::string> texts = {"abcd", "", "abc", "a"};
  auto vs = e.Embed(texts);
  ASSERT_TRUE(vs) << vs.error().ToString();
  ASSERT_EQ(vs->size(), 4u);
  EXPECT_EQ(server.requests_, 2);
  EXPECT_EQ(server.auth_, "Bearer k");
  EXPECT_NEAR((*vs)[0][0], 4.0 / 5.0, 1e-6);  // (4, 0, 3) normalised
  EXPECT_NEAR((*vs)[1][2], 1.0, 1e-6);        // (0, 0, 3)
  EXPECT_EQ(*e.Dimension(), 3);
}

TEST(OpenAiEmbedder, BadAnswersAreClearErrors) {
  EmbeddingsServer server;
  OpenAiEmbedder e({.base_url = server.url() + "/v1/", .model = "m"});
  server.reply_ = R"({"data": [{"index": 0, "embedding": ["x"]}]})";
  auto r = e.EmbedOne("x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_NE(r.error().message().find("expected numbers"), std::string::npos) << r.error().message();
  server.reply_ = "not json";
  EXPECT_EQ(e.EmbedOne("x").error().code(), Code::kInvalidArgument);
  server.reply_ = R"({"error": "model not loaded"})";
  server.status_ = 503;
  r = e.EmbedOne("x");
  EXPECT_EQ(r.error().code(), Code::kUnavailable);
  EXPECT_NE(r.error().message().find("model not loaded"), std::string::npos);
}

TEST(OpenAiEmbedder, UnreachableServerIsUnavailable) {
  OpenAiEmbedder e({.base_url = "http://127.0.0.1:1", .model = "m", .timeout_s = 2});
  auto r = e.EmbedOne("x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace naut::memory

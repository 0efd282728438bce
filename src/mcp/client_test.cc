// The client against servers whose answers it must refuse: an in-process Streamable HTTP peer
// on port 0 (a scripted httplib server, stopped by the fixture) that answers tools/call with
// JSON nested far deeper than kMaxJsonDepth, as a JSON body and as an SSE event, or with a
// body over kMaxMessageBytes; and a fake transport whose server answers with an error that
// carries no id. Each request fails with an error naming the server; the session goes on.

#include "mcp/client.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

#include "mcp/http_client.h"
#include "mcp/jsonrpc.h"

namespace naut::mcp {
namespace {

using namespace std::chrono_literals;

std::string Deep(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

Json InitializeResult() {
  return Json{{"protocolVersion", "2025-11-25"},
              {"capabilities", {{"tools", Json::object()}}},
              {"serverInfo", {{"name", "hostile"}, {"version", "1"}}}};
}

// A Streamable HTTP server whose tools/call answers depend on the tool name.
class HostileHttpServer {
 public:
  HostileHttpServer() {
    http_.Post("/mcp", [](const httplib::Request& req, httplib::Response& res) {
      auto msg = ParseJson(req.body, "request");
      if (!msg || !msg->contains("id")) {
        res.status = 202;
        return;
      }
      const Json id = (*msg)["id"];
      const std::string method = msg->value("method", "");
      res.set_header("Mcp-Session-Id", "s1");
      if (method == "initialize") {
        res.set_content(DumpJson(MakeResult(id, InitializeResult())), "application/json");
        return;
      }
      const std::string tool = (*msg)["params"].value("name", "");
      // Written by hand: no Json value this deep can be built and dumped safely.
      const std::string deep_answer = R"({"jsonrpc":"2.0","id":)" + id.dump() +
                                      R"(,"result":{"content":)" + Deep(200000) + "}}";
      if (tool == "deep_json") {
        res.set_content(deep_answer, "application/json");
      } else if (tool == "deep_sse") {
        res.set_content("event: message\ndata: " + deep_answer + "\n\n", "text/event-stream");
      } else if (tool == "big") {
        res.set_content(R"({"jsonrpc":"2.0","id":)" + id.dump() + R"(,"result":{"pad":")" +
                            std::string(kMaxMessageBytes, 'a') + "\"}}",
                        "application/json");
      } else {
        Json result{{"content", Json::array({{{"type", "text"}, {"text", "fine"}}})}};
        res.set_content(DumpJson(MakeResult(id, result)), "application/json");
      }
    });
    http_.Get("/mcp", [](const httplib::Request&, httplib::Response& res) { res.status = 405; });
    // Bound and listening here, so connections wait for the accept loop started below.
    port_ = http_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { http_.listen_after_bind(); });
  }
  ~HostileHttpServer() {
    http_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/mcp"; }

 private:
  httplib::Server http_;
  int port_ = 0;
  std::thread thread_;
};

TEST(ClientLimitsTest, HttpAnswersTooDeepOrTooBigFailTheirRequestOnly) {
  HostileHttpServer server;
  ClientOptions options;
  options.request_timeout = 20s;
  auto client = Client::Connect(
      std::make_unique<HttpClientTransport>("hostile", HttpClientOptions{.url = server.url()}),
      options);
  ASSERT_TRUE(client) << client.error().ToString();
  for (const char* tool : {"deep_json", "deep_sse", "big"}) {
    auto r = (*client)->CallTool(tool, Json::object());
    ASSERT_FALSE(r) << tool;
    const std::string m = r.error().message();
    EXPECT_NE(m.find("mcp server 'hostile'"), std::string::npos) << tool << ": " << m;
    EXPECT_TRUE(m.find("nests deeper than 256 levels") != std::string::npos ||
                m.find("more than " + std::to_string(kMaxMessageBytes) + " bytes") !=
                    std::string::npos)
        << tool << ": " << m;
    EXPECT_EQ(m.find("no answer"), std::string::npos) << tool << ": timed out instead: " << m;
  }
  auto fine = (*client)->CallTool("fine", Json::object());
  ASSERT_TRUE(fine) << fine.error().ToString();
  EXPECT_EQ(fine->content.at(0).data["text"], "fine");
}

// A transport whose "server" answers tools/call with an error response that has a null id,
// as a server does when it could not read a request, and initialize normally. Answers are
// delivered from inside Send.
class NullIdTransport : public ClientTransport {
 public:
  Status Start(std::function<void(const Json&)> on_message,
               std::function<void(const Status&)>) override {
    on_message_ = std::move(on_message);
    return Status::Ok();
  }
  Status Send(const Json& message) override {
    if (!message.contains("id")) return Status::Ok();
    Json reply = message["method"] == "initialize"
                     ? MakeResult(message["id"], InitializeResult())
                     : MakeError(nullptr, kParseError, "Parse error: unreadable request");
    on_message_(reply);  // the client takes answers on the sending thread too
    return Status::Ok();
  }
  void Close() override {}
  std::string Describe() const override { return "fake"; }

 private:
  std::function<void(const Json&)> on_message_;
};

TEST(ClientLimitsTest, AnErrorWithoutAnIdFailsTheRequestsInFlightAtOnce) {
  ClientOptions options;
  options.request_timeout = 30s;
  auto client = Client::Connect(std::make_unique<NullIdTransport>(), options);
  ASSERT_TRUE(client) << client.error().ToString();
  auto r = (*client)->CallTool("anything", Json::object());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().code(), Code::kDeadlineExceeded) << r.error().message();
  EXPECT_NE(r.error().message().find("unreadable request"), std::string::npos)
      << r.error().message();
}

TEST(ClientLimitsTest, ParamsTooDeepForAnyServerAreRefusedBeforeSending) {
  ClientOptions options;
  auto client = Client::Connect(std::make_unique<NullIdTransport>(), options);
  ASSERT_TRUE(client) << client.error().ToString();
  Json args = Json::object();
  Json* at = &args;
  for (int i = 0; i < kMaxJsonDepth; ++i) at = &((*at)["k"] = Json::object());
  auto r = (*client)->CallTool("anything", args);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_NE(r.error().message().find("deeper than 256 levels"), std::string::npos)
      << r.error().message();
}

}  // namespace
}  // namespace naut::mcp

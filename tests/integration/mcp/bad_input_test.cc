// Bad input fed to a serving process (our fixture server, a real child process): truncated,
// oversized, non-UTF-8 and wrongly typed JSON-RPC over stdio, a seeded stream of mutated
// messages, and malformed HTTP requests. Each gets the right error; the server stays up.

#include <gtest/gtest.h>
#include <httplib.h>

#include <map>
#include <random>

#include "core/subprocess.h"
#include "mcp/jsonrpc.h"
#include "mcp/stdio.h"

namespace naut::mcp {
namespace {

using namespace std::chrono_literals;

class StdioPeer {
 public:
  StdioPeer() {
    auto p = Subprocess::Spawn({.argv = {NAUT_FIXTURE_SERVER}});
    EXPECT_TRUE(p) << p.error().ToString();
    process_ = std::move(*p);
    reader_ = std::make_unique<LineReader>(process_->stdout_fd(), 64 * 1024 * 1024);
  }
  ~StdioPeer() { process_->Terminate(2s); }

  void SendRaw(const std::string& line) { ASSERT_TRUE(WriteLine(process_->stdin_fd(), line).ok()); }
  Json Read() {
    bool too_long = false;
    auto line = reader_->Next(&too_long);
    EXPECT_TRUE(line.has_value()) << "the server closed its output";
    if (!line) return nullptr;
    auto j = ParseJson(*line, "server reply");
    EXPECT_TRUE(j) << *line;
    return j ? *j : Json();
  }
  // Sends `line` and returns the single reply.
  Json Exchange(const std::string& line) {
    SendRaw(line);
    return Read();
  }
  bool alive() { return process_->running() && !process_->TryWait().has_value(); }

 private:
  std::unique_ptr<Subprocess> process_;
  std::unique_ptr<LineReader> reader_;
};

int Code(const Json& reply) {
  return reply.contains("error") ? reply["error"]["code"].get<int>() : 0;
}

TEST(McpBadInputTest, EachMalformedMessageGetsTheRightError) {
  StdioPeer peer;
  Json init = peer.Exchange(
      R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})");
  ASSERT_EQ(init["result"]["protocolVersion"], "2025-11-25");

  EXPECT_EQ(Code(peer.Exchange(R"({"jsonrpc":"2.0","id":1,"method":"tools/li)")), kParseError);
  EXPECT_EQ(Code(peer.Exchange(
                "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"x\":\"\xc3\x28\xff\"}")),
            kParseError);
  Json wrong_method = peer.Exchange(R"({"jsonrpc":"2.0","id":3,"method":5})");
  EXPECT_EQ(Code(wrong_method), kInvalidRequest);
  EXPECT_EQ(wrong_method["id"], 3);
  EXPECT_EQ(Code(peer.Exchange(R"({"jsonrpc":"2.0","id":4,"method":"ping","params":"x"})")),
            kInvalidRequest);
  EXPECT_EQ(Code(peer.Exchange(R"({"id":5,"method":"ping"})")), kInvalidRequest);
  EXPECT_EQ(Code(peer.Exchange(R"({"jsonrpc":"2.0","id":[1],"method":"ping"})")), kInvalidRequest);
  EXPECT_EQ(Code(peer.Exchange(R"([{"jsonrpc":"2.0","id":6,"method":"ping"}])")),
            kInvalidRequest);  // no batches in 2025-11-25
  EXPECT_EQ(Code(peer.Exchange("12")), kInvalidRequest);
  EXPECT_EQ(Code(peer.Exchange(R"({"jsonrpc":"2.0","id":7,"method":"no/such"})")), kMethodNotFound);
  EXPECT_EQ(Code(peer.Exchange(R"({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{}})")),
            kInvalidParams);
  EXPECT_EQ(
      Code(peer.Exchange(R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":7}})")),
      kInvalidParams);
  Json not_object = peer.Exchange(
      R"({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"echo","arguments":[1]}})");
  EXPECT_EQ(not_object["result"]["isError"], true);
  Json bad_field = peer.Exchange(
      R"({"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"echo","arguments":{"message":"x","extra":1}}})");
  EXPECT_NE(bad_field["result"]["content"][0]["text"].get<std::string>().find(
                "arguments.extra: unknown field"),
            std::string::npos);

  std::string huge = R"({"jsonrpc":"2.0","id":12,"method":"ping","params":{"pad":")" +
                     std::string(kMaxMessageBytes, 'a') + "\"}}";
  Json too_big = peer.Exchange(huge);
  EXPECT_EQ(Code(too_big), kParseError);
  EXPECT_TRUE(too_big["id"].is_null());
  EXPECT_NE(too_big["error"]["message"].get<std::string>().find("exceed"), std::string::npos);

  // Nesting that parses fine but overflows the stack of whoever copies or dumps it.
  std::string deep = R"({"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"echo",)"
                     R"("arguments":{"message":)" +
                     std::string(200000, '[') + std::string(200000, ']') + "}}}";
  Json too_deep = peer.Exchange(deep);
  EXPECT_EQ(Code(too_deep), kParseError);
  EXPECT_TRUE(too_deep["id"].is_null());
  EXPECT_NE(too_deep["error"]["message"].get<std::string>().find("nests deeper than 256 levels"),
            std::string::npos)
      << too_deep.dump();

  Json pong = peer.Exchange(R"({"jsonrpc":"2.0","id":"last","method":"ping"})");
  EXPECT_EQ(pong["id"], "last");
  EXPECT_TRUE(pong["result"].is_object());
  EXPECT_TRUE(peer.alive());
}

TEST(McpBadInputTest, BatchesAreAnsweredWhenTheVersionHasThem) {
  StdioPeer peer;
  Json init = peer.Exchange(
      R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})");
  ASSERT_EQ(init["result"]["protocolVersion"], "2025-03-26");
  Json replies = peer.Exchange(
      R"([{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"},)"
      R"({"jsonrpc":"2.0","id":2,"method":"no/such"},{"jsonrpc":"1.0","id":3}])");
  ASSERT_TRUE(replies.is_array()) << replies.dump();
  ASSERT_EQ(replies.size(), 3u) << replies.dump();  // the notification gets no reply
  std::map<int, Json> by_id;
  for (const Json& r : replies) by_id[r["id"].get<int>()] = r;
  EXPECT_TRUE(by_id[1].contains("result"));
  EXPECT_EQ(Code(by_id[2]), kMethodNotFound);
  EXPECT_EQ(Code(by_id[3]), kInvalidRequest);
}

// Seeded mutations of valid messages; after each, a ping proves the server still answers, and
// every reply in between must be a well-formed JSON-RPC response.
TEST(McpBadInputTest, MutatedMessageStreamNeverKillsTheServer) {
  StdioPeer peer;
  peer.Exchange(
      R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})");
  const std::vector<std::string> seeds = {
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}})",
      R"({"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"test://template/1/data"}})",
      R"({"jsonrpc":"2.0","id":3,"method":"prompts/get","params":{"name":"test_prompt_with_arguments","arguments":{"arg1":"a","arg2":"b"}}})",
      R"({"jsonrpc":"2.0","id":4,"method":"tools/list","params":{"cursor":"1"}})",
      R"({"jsonrpc":"2.0","id":5,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"x"},"argument":{"name":"a","value":"p"}}})",
  };
  std::mt19937 rng(1234);
  const std::string alphabet = "{}[]\":,0123456789abcdefghijklmnopqrstuvwxyz\\ \t\x80\xff\xc3";
  for (int i = 0; i < 400; ++i) {
    std::string m = seeds[rng() % seeds.size()];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !m.empty(); ++e) {
      size_t at = rng() % m.size();
      switch (rng() % 4) {
        case 0:
          m.erase(at, 1 + rng() % 5);
          break;
        case 1:
          m.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 2:
          m[at] = alphabet[rng() % alphabet.size()];
          break;
        case 3:
          m = m.substr(0, at);
          break;  // truncated
      }
    }
    for (char& c : m)
      if (c == '\n' || c == '\r') c = ' ';
    // Mutated ids could collide with our probe; the probe uses a string id no seed has.
    peer.SendRaw(m);
    std::string probe_id = "probe-" + std::to_string(i);
    peer.SendRaw(R"({"jsonrpc":"2.0","id":")" + probe_id + R"(","method":"ping"})");
    for (int guard = 0; guard < 10; ++guard) {
      Json reply = peer.Read();
      ASSERT_TRUE(reply.is_object() || reply.is_array()) << "after: " << m;
      if (reply.is_object() && reply.contains("id") && reply["id"] == probe_id) {
        EXPECT_TRUE(reply.contains("result"));
        break;
      }
      if (reply.is_object()) {
        EXPECT_EQ(reply["jsonrpc"], "2.0");
        EXPECT_TRUE(reply.contains("result") || reply.contains("error") || reply.contains("method"))
            << reply.dump();
      }
    }
  }
  EXPECT_TRUE(peer.alive());
}

TEST(McpBadInputTest, HttpRejectsMalformedRequestsAndForeignOrigins) {
  auto p = Subprocess::Spawn(
      {.argv = {NAUT_FIXTURE_SERVER, "--http", "127.0.0.1:0"}, .pipe_stdin = false});
  ASSERT_TRUE(p) << p.error().ToString();
  LineReader reader((*p)->stdout_fd());
  bool too_long = false;
  auto line = reader.Next(&too_long);
  ASSERT_TRUE(line && line->rfind("listening http://127.0.0.1:", 0) == 0);
  std::string rest = line->substr(std::string("listening http://127.0.0.1:").size());
  int port = std::stoi(rest.substr(0, rest.find('/')));
  httplib::Client http("127.0.0.1", port);
  httplib::Headers accept = {{"Accept", "application/json, text/event-stream"}};

  auto garbage = http.Post("/mcp", accept, "{not json", "application/json");
  ASSERT_TRUE(garbage);
  EXPECT_EQ(garbage->status, 400);
  EXPECT_NE(garbage->body.find("-32700"), std::string::npos) << garbage->body;

  auto deep = http.Post("/mcp", accept,
                        R"({"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":)" +
                            std::string(300000, '[') + std::string(300000, ']') + "}}",
                        "application/json");
  ASSERT_TRUE(deep) << "the server died or hung up";
  EXPECT_EQ(deep->status, 400);
  EXPECT_NE(deep->body.find("-32700"), std::string::npos) << deep->body.substr(0, 300);
  auto oversized =
      http.Post("/mcp", accept, std::string(kMaxMessageBytes + 1, ' '), "application/json");
  ASSERT_TRUE(oversized) << "the server died or hung up";
  EXPECT_EQ(oversized->status, 413);

  auto no_session =
      http.Post("/mcp", accept, R"({"jsonrpc":"2.0","id":1,"method":"ping"})", "application/json");
  ASSERT_TRUE(no_session);
  EXPECT_EQ(no_session->status, 400);

  auto unknown_session =
      http.Post("/mcp", {{"Accept", "application/json"}, {"Mcp-Session-Id", "nope"}},
                R"({"jsonrpc":"2.0","id":1,"method":"ping"})", "application/json");
  ASSERT_TRUE(unknown_session);
  EXPECT_EQ(unknown_session->status, 404);

  std::string init =
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})";
  auto evil =
      http.Post("/mcp", {{"Accept", "application/json"}, {"Origin", "http://evil.example.com"}},
                init, "application/json");
  ASSERT_TRUE(evil);
  EXPECT_EQ(evil->status, 403);
  auto bad_version =
      http.Post("/mcp", {{"Accept", "application/json"}, {"MCP-Protocol-Version", "1999-01-01"}},
                init, "application/json");
  ASSERT_TRUE(bad_version);
  EXPECT_EQ(bad_version->status, 400);

  auto ok = http.Post("/mcp", {{"Accept", "application/json"}, {"Origin", "http://localhost:3000"}},
                      init, "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  std::string sid = ok->get_header_value("Mcp-Session-Id");
  EXPECT_FALSE(sid.empty());
  auto json_only = http.Post("/mcp", {{"Accept", "application/json"}, {"Mcp-Session-Id", sid}},
                             R"({"jsonrpc":"2.0","id":2,"method":"ping"})", "application/json");
  ASSERT_TRUE(json_only);
  EXPECT_EQ(json_only->status, 200);
  EXPECT_EQ(ParseJson(json_only->body, "ping")->at("id"), 2);
  auto deleted = http.Delete("/mcp", {{"Mcp-Session-Id", sid}});
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->status, 200);
  auto after = http.Post("/mcp", {{"Accept", "application/json"}, {"Mcp-Session-Id", sid}},
                         R"({"jsonrpc":"2.0","id":3,"method":"ping"})", "application/json");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 404);
  (*p)->Terminate(2s);
}

}  // namespace
}  // namespace naut::mcp

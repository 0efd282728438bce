// The Streamable HTTP server in-process on port 0: where it binds by default, the
// MCP-Protocol-Version header, DNS-rebinding checks of Host, batches by negotiated version,
// and list_changed on the standalone GET stream.

#include "mcp/http_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <sstream>

#include "mcp/jsonrpc.h"
#include "mcp/protocol.h"

namespace naut::mcp {
namespace {

using namespace std::chrono_literals;

ServerDefinition Definition() {
  ServerDefinition d;
  d.name = "http-test";
  Tool echo;
  echo.name = "echo";
  echo.handler = [](const Json&, ToolContext&) { return ToolResult::Text("echo"); };
  d.tools.push_back(echo);
  return d;
}

class HttpServerTest : public ::testing::Test {
 protected:
  HttpServerTest() : server_(Definition()), http_(server_, HttpServerOptions{}) {
    Status st = http_.Start();
    EXPECT_TRUE(st.ok()) << st.ToString();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", http_.port());
    client_->set_read_timeout(10, 0);
  }
  ~HttpServerTest() override { http_.Stop(); }

  // initialize with `version`; returns the session id.
  std::string Initialize(const std::string& version) {
    auto r = client_->Post(
        "/mcp", {{"Accept", "application/json, text/event-stream"}},
        DumpJson(MakeRequest(1, "initialize",
                             Json{{"protocolVersion", version},
                                  {"capabilities", Json::object()},
                                  {"clientInfo", {{"name", "t"}, {"version", "1"}}}})),
        "application/json");
    EXPECT_TRUE(r);
    if (!r) return "";
    EXPECT_EQ(r->status, 200) << r->body;
    auto body = ParseJson(r->body, "initialize");
    EXPECT_TRUE(body && (*body)["result"]["protocolVersion"] == version) << r->body;
    std::string sid = r->get_header_value("Mcp-Session-Id");
    auto done = client_->Post("/mcp", {{"Mcp-Session-Id", sid}, {"MCP-Protocol-Version", version}},
                              DumpJson(MakeNotification("notifications/initialized", nullptr)),
                              "application/json");
    EXPECT_TRUE(done && done->status == 202);
    return sid;
  }

  httplib::Result Post(const std::string& sid, const std::string& version, const std::string& body,
                       httplib::Headers extra = {}) {
    httplib::Headers h = {{"Accept", "application/json"}, {"Mcp-Session-Id", sid}};
    if (!version.empty()) h.emplace("MCP-Protocol-Version", version);
    for (auto& kv : extra) h.insert(kv);
    return client_->Post("/mcp", h, body, "application/json");
  }

  Server server_;
  HttpServer http_;
  std::unique_ptr<httplib::Client> client_;
};

// The local address of the listening TCP socket on `port`, as /proc/net/tcp spells it
// ("0100007F" is 127.0.0.1), or "" when none is found.
std::string ListeningAddress(int port) {
  std::ifstream tcp("/proc/net/tcp");
  std::string line;
  std::getline(tcp, line);  // header
  char want[8];
  std::snprintf(want, sizeof want, "%04X", port);
  while (std::getline(tcp, line)) {
    std::istringstream in(line);
    std::string slot, local, remote, state;
    in >> slot >> local >> remote >> state;
    size_t colon = local.find(':');
    if (state == "0A" && colon != std::string::npos && local.substr(colon + 1) == want)
      return local.substr(0, colon);
  }
  return "";
}

TEST_F(HttpServerTest, BindsLoopbackOnlyByDefault) {
  EXPECT_EQ(HttpServerOptions{}.host, "127.0.0.1");
  EXPECT_EQ(http_.url().rfind("http://127.0.0.1:", 0), 0u) << http_.url();
  if (!std::ifstream("/proc/net/tcp")) GTEST_SKIP() << "no /proc/net/tcp to inspect";
  EXPECT_EQ(ListeningAddress(http_.port()), "0100007F");
  auto hp = ParseHostPort(":8931");  // --http :PORT keeps the loopback default
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->first, "127.0.0.1");
}

TEST_F(HttpServerTest, AcceptsEverySupportedProtocolVersionHeader) {
  for (const std::string& version : SupportedProtocolVersions()) {
    std::string sid = Initialize(version);
    ASSERT_FALSE(sid.empty());
    auto r = Post(sid, version, DumpJson(MakeRequest(2, "ping", Json::object())));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << version << ": " << r->body;
    auto body = ParseJson(r->body, "ping");
    ASSERT_TRUE(body) << r->body;
    EXPECT_TRUE(body->contains("result")) << version << ": " << r->body;
  }
  std::string sid = Initialize("2025-06-18");
  auto r = Post(sid, "2025-13-01", DumpJson(MakeRequest(2, "ping", Json::object())));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("unsupported MCP-Protocol-Version"), std::string::npos) << r->body;
}

TEST_F(HttpServerTest, RefusesForeignHostHeaders) {
  std::string sid = Initialize("2025-11-25");
  std::string ping = DumpJson(MakeRequest(2, "ping", Json::object()));
  // A DNS-rebinding page reaches 127.0.0.1 under its own name.
  auto rebound =
      Post(sid, "", ping, {{"Host", "attacker.example:" + std::to_string(http_.port())}});
  ASSERT_TRUE(rebound);
  EXPECT_EQ(rebound->status, 403) << rebound->body;
  auto local = Post(sid, "", ping, {{"Host", "localhost:" + std::to_string(http_.port())}});
  ASSERT_TRUE(local);
  EXPECT_EQ(local->status, 200) << local->body;
}

TEST_F(HttpServerTest, BatchesOnlyInSessionsOfVersion20250326) {
  std::string batch = "[" + DumpJson(MakeRequest(2, "ping", Json::object())) + "," +
                      DumpJson(MakeRequest(3, "tools/list", Json::object())) + "]";
  std::string old_sid = Initialize("2025-03-26");
  auto r = Post(old_sid, "2025-03-26", batch);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  auto replies = ParseJson(r->body, "batch");
  ASSERT_TRUE(replies && replies->is_array()) << r->body;
  ASSERT_EQ(replies->size(), 2u);
  EXPECT_EQ((*replies)[1]["result"]["tools"][0]["name"], "echo");

  std::string new_sid = Initialize("2025-11-25");
  r = Post(new_sid, "2025-11-25", batch);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find(std::to_string(kInvalidRequest)), std::string::npos) << r->body;
}

TEST_F(HttpServerTest, ListChangedReachesTheStandaloneStream) {
  std::string sid = Initialize("2025-11-25");
  std::string received;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    httplib::Client c("127.0.0.1", http_.port());
    c.set_read_timeout(10, 0);
    c.Get("/mcp", {{"Accept", "text/event-stream"}, {"Mcp-Session-Id", sid}},
          [&](const char* data, size_t n) {
            received.append(data, n);
            return received.find("list_changed") == std::string::npos;
          });
    done = true;
  });
  // The GET stream attaches asynchronously; keep changing until the notification arrives.
  for (int i = 0; i < 100 && !done; ++i) {
    Tool t;
    t.name = "added_" + std::to_string(i);
    server_.AddTool(t);
    std::this_thread::sleep_for(50ms);
  }
  reader.join();
  EXPECT_NE(received.find("notifications/tools/list_changed"), std::string::npos) << received;
}

}  // namespace
}  // namespace naut::mcp

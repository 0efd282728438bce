// JSON too deep or too big for NeuroNaut, sent the way an attacker would send it, to the real
// `neuronaut` binary: a 600 KB POST nesting 300,000 arrays to `mcp-server exec --http`, and a
// server in mcp.json (a small Python script written here) answering `mcp call` with a result
// nesting 200,000 arrays or a line over the message cap. Before the JSON limits each of these
// killed the process with a stack overflow; now each gets an error answer and nothing dies.

#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>

#include "core/ids.h"
#include "core/subprocess.h"
#include "mcp/jsonrpc.h"
#include "mcp/stdio.h"

namespace naut::mcp {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string Deep(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

class McpLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("naut-mcp-limits-" + NewId());
    home_ = root_ / "home";
    fs::create_directories(home_);
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path root_, home_;
};

TEST_F(McpLimitsTest, HttpServerAnswersADeepPostAndGoesOnServingEveryClient) {
  auto process = Subprocess::Spawn(
      {.argv = {NAUT_CLI, "--home", home_.string(), "mcp-server", "exec", "--http", "127.0.0.1:0"},
       .pipe_stdin = false,
       .pipe_stderr = false});
  ASSERT_TRUE(process) << process.error().ToString();
  LineReader reader((*process)->stdout_fd());
  bool too_long = false;
  auto line = reader.Next(&too_long);
  ASSERT_TRUE(line) << "the server printed nothing";
  size_t at = line->find("http://127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << *line;
  int port = std::stoi(line->substr(at + std::string("http://127.0.0.1:").size()));

  httplib::Headers accept = {{"Accept", "application/json, text/event-stream"}};
  const std::string init =
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
      R"("capabilities":{},"clientInfo":{"name":"t","version":"1"}}})";
  // A well-behaved client with a session, before and after the attack.
  httplib::Client good("127.0.0.1", port);
  auto opened = good.Post("/mcp", accept, init, "application/json");
  ASSERT_TRUE(opened);
  ASSERT_EQ(opened->status, 200) << opened->body;
  std::string sid = opened->get_header_value("Mcp-Session-Id");

  httplib::Client evil("127.0.0.1", port);
  const std::string deep =
      R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"run","arguments":)" +
      Deep(300000) + "}}";
  ASSERT_GT(deep.size(), 600000u);
  for (const httplib::Headers& headers :
       {accept, httplib::Headers{{"Accept", "application/json"}, {"Mcp-Session-Id", sid}}}) {
    auto refused = evil.Post("/mcp", headers, deep, "application/json");
    ASSERT_TRUE(refused) << "no answer: the server died or hung up";
    EXPECT_EQ(refused->status, 400);
    auto body = ParseJson(refused->body, "reply");
    ASSERT_TRUE(body) << refused->body;
    EXPECT_EQ((*body)["error"]["code"], kParseError);
    EXPECT_TRUE((*body)["id"].is_null());
    EXPECT_NE((*body)["error"]["message"].get<std::string>().find("nests deeper than 256 levels"),
              std::string::npos)
        << refused->body;
  }

  auto ping = good.Post("/mcp", {{"Accept", "application/json"}, {"Mcp-Session-Id", sid}},
                        R"({"jsonrpc":"2.0","id":3,"method":"ping"})", "application/json");
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->status, 200) << ping->body;
  auto again = httplib::Client("127.0.0.1", port).Post("/mcp", accept, init, "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  EXPECT_TRUE((*process)->running() && !(*process)->TryWait().has_value());
  (*process)->Terminate(5s);
}

// An MCP server that answers tools/call "deep" with a result nesting 200,000 arrays, "big" with
// one line over kMaxMessageBytes, and anything else normally.
constexpr const char* kHostileServer = R"PY(
import json, sys

def send(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()

for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg:
        continue
    rid = json.dumps(msg["id"])
    method = msg.get("method")
    if method == "initialize":
        send(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {
            "protocolVersion": msg["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "hostile", "version": "1"}}}))
    elif method == "tools/list":
        tools = [{"name": n, "inputSchema": {"type": "object"}} for n in ("deep", "big", "fine")]
        send(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {"tools": tools}}))
    elif method == "tools/call" and msg["params"]["name"] == "deep":
        n = 200000
        send('{"jsonrpc":"2.0","id":%s,"result":{"content":%s}}' % (rid, "[" * n + "]" * n))
    elif method == "tools/call" and msg["params"]["name"] == "big":
        send('{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"%s"}]}}'
             % (rid, "a" * (17 * 1024 * 1024)))
    elif method == "tools/call":
        send(json.dumps({"jsonrpc": "2.0", "id": msg["id"],
                         "result": {"content": [{"type": "text", "text": "fine"}]}}))
    else:
        send(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": {}}))
)PY";

TEST_F(McpLimitsTest, McpCallFailsCleanlyWhenAServerAnswersTooDeepOrTooBig) {
  fs::path script = root_ / "hostile_server.py";
  std::ofstream(script) << kHostileServer;
  std::ofstream(home_ / "mcp.json")
      << R"({"mcpServers": {"hostile": {"command": "python3", "args": [")" << script.string()
      << R"("]}}})";
  auto call = [&](const std::string& tool) {
    auto r = RunCommand({.argv = {NAUT_CLI, "--home", home_.string(), "mcp", "call", "hostile",
                                  tool, "--timeout", "60"}},
                        "", 120s);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : CommandResult{};
  };

  for (const char* tool : {"deep", "big"}) {
    CommandResult r = call(tool);
    EXPECT_EQ(r.status.signal, 0) << tool << ": " << r.status.ToString();
    EXPECT_NE(r.status.exit_code, 0) << tool;
    EXPECT_NE(r.err.find("mcp server 'hostile'"), std::string::npos) << tool << ": " << r.err;
    EXPECT_TRUE(r.err.find("nests deeper than 256 levels") != std::string::npos ||
                r.err.find("more than " + std::to_string(kMaxMessageBytes) + " bytes") !=
                    std::string::npos)
        << tool << ": " << r.err;
    EXPECT_EQ(r.err.find("within"), std::string::npos) << tool << ": timed out: " << r.err;
  }
  CommandResult fine = call("fine");
  EXPECT_EQ(fine.status.exit_code, 0) << fine.err;
  EXPECT_EQ(fine.out, "fine\n");
}

}  // namespace
}  // namespace naut::mcp

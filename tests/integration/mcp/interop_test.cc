// MCP interop with real peers, each a real process: the official npm servers
// (server-filesystem, server-everything) and a paging server on the official SDK driven by our
// client and hub; our fixture server driven by our client over stdio and Streamable HTTP; the
// official TypeScript SDK client driving the fixture and the built-in `rpg` and `skills`
// servers over stdio and HTTP; the neuronaut CLI (mcp list / tools / call, mcp-server).

#include <gtest/gtest.h>
#include <signal.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "core/ids.h"
#include "core/mutex.h"
#include "core/subprocess.h"
#include "mcp/client.h"
#include "mcp/http_client.h"
#include "mcp/hub.h"
#include "mcp/stdio.h"

namespace naut::mcp {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path kPeers = fs::path(NAUT_SOURCE_DIR) / "tests" / "peers";
const fs::path kModules = kPeers / "node_modules";

std::string Node() {
  fs::path bundled = kModules / ".bin" / "node";
  return fs::exists(bundled) ? bundled.string() : "node";
}

#define REQUIRE_PEERS()                                                                        \
  if (!fs::exists(kModules / "@modelcontextprotocol")) {                                       \
    GTEST_SKIP()                                                                               \
        << "npm peers are not installed: run `npm ci` in tests/peers (scripts/setup.sh does)"; \
  }

std::string Text(const ToolResult& r) {
  std::string out;
  for (const auto& c : r.content)
    if (c.data.contains("text")) out += c.data["text"].get<std::string>();
  return out;
}

std::unique_ptr<Client> ConnectStdio(const std::string& name, std::vector<std::string> argv,
                                     ClientOptions options = {}) {
  auto client = Client::Connect(
      std::make_unique<StdioClientTransport>(name, SpawnOptions{.argv = std::move(argv)}),
      std::move(options));
  EXPECT_TRUE(client) << client.error().ToString();
  return client ? std::move(*client) : nullptr;
}

std::vector<std::string> Everything() {
  return {Node(), (kModules / "@modelcontextprotocol/server-everything/dist/index.js").string(),
          "stdio"};
}

bool HasTool(const std::vector<ToolInfo>& tools, const std::string& name) {
  for (const auto& t : tools)
    if (t.name == name) return true;
  return false;
}

TEST(McpInteropTest, FilesystemServerWritesReadsAndRefusesOutsidePaths) {
  REQUIRE_PEERS();
  fs::path dir = fs::temp_directory_path() / ("naut-fs-" + NewId());
  fs::create_directories(dir);
  dir = fs::canonical(dir);
  auto client = ConnectStdio(
      "filesystem",
      {Node(), (kModules / "@modelcontextprotocol/server-filesystem/dist/index.js").string(),
       dir.string()});
  ASSERT_TRUE(client);
  auto tools = client->ListTools();
  ASSERT_TRUE(tools) << tools.error().ToString();
  EXPECT_TRUE(HasTool(*tools, "write_file"));
  EXPECT_TRUE(HasTool(*tools, "list_directory"));
  std::string file = (dir / "note.txt").string();
  auto w =
      client->CallTool("write_file", Json{{"path", file}, {"content", "hello from neuronaut"}});
  ASSERT_TRUE(w) << w.error().ToString();
  EXPECT_FALSE(w->is_error) << Text(*w);
  std::string reader = HasTool(*tools, "read_text_file") ? "read_text_file" : "read_file";
  auto r = client->CallTool(reader, Json{{"path", file}});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(Text(*r), "hello from neuronaut");
  auto outside = client->CallTool(reader, Json{{"path", "/etc/hostname"}});
  ASSERT_TRUE(outside) << outside.error().ToString();
  EXPECT_TRUE(outside->is_error) << Text(*outside);
  client->Close();
  fs::remove_all(dir);
}

TEST(McpInteropTest, EverythingServerToolsResourcesPromptsAndProgress) {
  REQUIRE_PEERS();
  auto client = ConnectStdio("everything", Everything());
  ASSERT_TRUE(client);
  auto tools = client->ListTools();
  ASSERT_TRUE(tools) << tools.error().ToString();
  ASSERT_TRUE(HasTool(*tools, "echo"));
  auto echo = client->CallTool("echo", Json{{"message", "hi"}});
  ASSERT_TRUE(echo) << echo.error().ToString();
  EXPECT_EQ(Text(*echo), "Echo: hi");

  auto resources = client->ListResources();
  ASSERT_TRUE(resources) << resources.error().ToString();
  ASSERT_FALSE(resources->empty());
  auto contents = client->ReadResource((*resources)[0]["uri"].get<std::string>());
  ASSERT_TRUE(contents) << contents.error().ToString();
  EXPECT_FALSE(contents->empty());
  auto prompts = client->ListPrompts();
  ASSERT_TRUE(prompts) << prompts.error().ToString();
  EXPECT_FALSE(prompts->empty());

  std::vector<double> progress;
  Mutex mu;
  RequestOptions ro;
  ro.on_progress = [&](double p, double, const std::string&) {
    MutexLock lock(mu);
    progress.push_back(p);
  };
  auto slow =
      client->CallTool("trigger-long-running-operation", Json{{"duration", 1}, {"steps", 4}}, ro);
  ASSERT_TRUE(slow) << slow.error().ToString();
  EXPECT_FALSE(slow->is_error) << Text(*slow);
  MutexLock lock(mu);
  EXPECT_GE(progress.size(), 3u);
}

// server-everything 2026.1.26 answers resources/list and tools/list on one page (its McpServer
// does not paginate), so cursor following is checked against a server on the official SDK that
// pages as the reference server-everything used to: 100 resources, 10 a page, base64 cursors.
TEST(McpInteropTest, ClientFollowsCursorsOfAnSdkServer) {
  REQUIRE_PEERS();
  auto everything = ConnectStdio("everything", Everything());
  ASSERT_TRUE(everything);
  auto raw = everything->Request("resources/list", Json::object());
  ASSERT_TRUE(raw) << raw.error().ToString();
  EXPECT_FALSE(raw->contains("nextCursor"))
      << "server-everything now pages resources/list; test our client against it directly";
  everything->Close();

  auto client = ConnectStdio("paged", {Node(), (kPeers / "sdk_paged_server.mjs").string()});
  ASSERT_TRUE(client);
  auto resources = client->ListResources();
  ASSERT_TRUE(resources) << resources.error().ToString();
  ASSERT_EQ(resources->size(), 100u);
  EXPECT_EQ((*resources)[0]["uri"], "test://static/resource/1");
  EXPECT_EQ((*resources)[99]["uri"], "test://static/resource/100");
  auto tools = client->ListTools();
  ASSERT_TRUE(tools) << tools.error().ToString();
  EXPECT_EQ(tools->size(), 23u);
  EXPECT_TRUE(HasTool(*tools, "tool_23"));
  auto contents = client->ReadResource("test://static/resource/57");
  ASSERT_TRUE(contents) << contents.error().ToString();
  EXPECT_EQ((*contents)[0]["text"], "This is Resource 57");
}

// server-everything asks its client for roots (and again after roots/list_changed), and sends
// sampling requests to clients that declare sampling. Ours answers roots/list from its options
// and, with no sampling handler, says plainly that NeuroNaut does not support it yet. Sampling
// is declared here only so that the reference server asks; the agent does not declare it.
TEST(McpInteropTest, EverythingServerGetsOurRootsAndAClearNoToSampling) {
  REQUIRE_PEERS();
  ClientOptions options;
  options.roots = {{"file:///tmp/naut-root-alpha", "alpha"}};
  options.capabilities = Json{{"sampling", Json::object()}};
  auto client = ConnectStdio("everything", Everything(), options);
  ASSERT_TRUE(client);
  // Its capability-dependent tools are registered once it has seen notifications/initialized.
  Result<std::vector<ToolInfo>> tools = Unavailable("not listed");
  for (int i = 0; i < 50; ++i) {
    tools = client->ListTools(true);
    if (tools && HasTool(*tools, "get-roots-list") && HasTool(*tools, "trigger-sampling-request"))
      break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(tools) << tools.error().ToString();
  ASSERT_TRUE(HasTool(*tools, "get-roots-list"));
  ASSERT_TRUE(HasTool(*tools, "trigger-sampling-request"));

  auto roots = client->CallTool("get-roots-list", Json::object());
  ASSERT_TRUE(roots) << roots.error().ToString();
  EXPECT_NE(Text(*roots).find("URI: file:///tmp/naut-root-alpha"), std::string::npos)
      << Text(*roots);
  EXPECT_NE(Text(*roots).find("alpha"), std::string::npos) << Text(*roots);

  ASSERT_TRUE(client->SetRoots({{"file:///tmp/naut-root-beta", "beta"}}).ok());
  std::string seen;
  for (int i = 0; i < 50 && seen.find("naut-root-beta") == std::string::npos; ++i) {
    std::this_thread::sleep_for(100ms);
    auto again = client->CallTool("get-roots-list", Json::object());
    ASSERT_TRUE(again) << again.error().ToString();
    seen = Text(*again);
  }
  EXPECT_NE(seen.find("URI: file:///tmp/naut-root-beta"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("naut-root-alpha"), std::string::npos) << seen;

  auto sampled = client->CallTool("trigger-sampling-request", Json{{"prompt", "hello"}});
  ASSERT_TRUE(sampled) << sampled.error().ToString();
  EXPECT_TRUE(sampled->is_error) << Text(*sampled);
  EXPECT_NE(Text(*sampled).find("NeuroNaut does not support sampling/createMessage yet"),
            std::string::npos)
      << Text(*sampled);
  EXPECT_TRUE(client->Ping().ok());  // the refusal did not hurt the session
}

TEST(McpInteropTest, HangingCallTimesOutAndTheSessionStaysUsable) {
  REQUIRE_PEERS();
  auto client = ConnectStdio("everything", Everything());
  ASSERT_TRUE(client);
  RequestOptions ro;
  ro.timeout = 300ms;
  auto r =
      client->CallTool("trigger-long-running-operation", Json{{"duration", 5}, {"steps", 5}}, ro);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kDeadlineExceeded) << r.error().ToString();
  auto echo = client->CallTool("echo", Json{{"message", "still here"}});
  ASSERT_TRUE(echo) << echo.error().ToString();
  EXPECT_EQ(Text(*echo), "Echo: still here");
}

TEST(McpInteropTest, HubRestartsAServerKilledMidCall) {
  REQUIRE_PEERS();
  McpServerConfig config;
  config.name = "everything";
  auto argv = Everything();
  config.command = argv[0];
  config.args.assign(argv.begin() + 1, argv.end());
  HubOptions options;
  options.backoff_initial = 100ms;
  options.call_timeout = 30s;
  ClientManager hub({config}, options);
  auto session = hub.Session("everything");
  ASSERT_TRUE(session) << session.error().ToString();
  int pid = dynamic_cast<StdioClientTransport&>((*session)->transport()).pid();
  ASSERT_GT(pid, 0);
  std::thread killer([pid] {
    std::this_thread::sleep_for(500ms);
    ::kill(-pid, SIGKILL);  // the whole process group, as a crash would
  });
  auto r = hub.CallTool("everything__trigger-long-running-operation",
                        Json{{"duration", 10}, {"steps", 10}});
  killer.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kUnavailable) << r.error().ToString();

  Result<ToolResult> echo = Unavailable("not tried");
  for (int i = 0; i < 100 && !echo; ++i) {
    echo = hub.CallTool("everything__echo", Json{{"message", "back"}});
    if (!echo) std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(echo) << echo.error().ToString();
  EXPECT_EQ(Text(*echo), "Echo: back");
  auto statuses = hub.Statuses();
  ASSERT_EQ(statuses.size(), 1u);
  EXPECT_EQ(statuses[0].state, ServerState::kConnected);
  EXPECT_GE(statuses[0].restarts, 1);
  auto all = hub.ListTools();
  bool found = false;
  for (const auto& t : all) found = found || t.qualified_name == "everything__echo";
  EXPECT_TRUE(found);
}

// Through the hub, as the agent calls tools: a call that hangs ends at [mcp] call_timeout_s
// and the server stays usable; a server that never answers initialize is reported down after
// the connect timeout and backed off, without blocking the other server.
TEST(McpInteropTest, HubTimesOutHangingCallsAndSilentServers) {
  REQUIRE_PEERS();
  McpServerConfig everything;
  everything.name = "everything";
  auto argv = Everything();
  everything.command = argv[0];
  everything.args.assign(argv.begin() + 1, argv.end());
  McpServerConfig silent;
  silent.name = "silent";
  silent.command = "sleep";
  silent.args = {"600"};
  HubOptions options;
  options.call_timeout = 500ms;
  options.connect_timeout = 1s;
  options.backoff_initial = 30s;
  ClientManager hub({everything, silent}, options);

  auto hung = hub.CallTool("everything__trigger-long-running-operation",
                           Json{{"duration", 10}, {"steps", 10}});
  ASSERT_FALSE(hung);
  EXPECT_EQ(hung.error().code(), Code::kDeadlineExceeded) << hung.error().ToString();
  auto echo = hub.CallTool("everything__echo", Json{{"message", "alive"}});
  ASSERT_TRUE(echo) << echo.error().ToString();
  EXPECT_EQ(Text(*echo), "Echo: alive");

  auto quiet = hub.CallTool("silent__anything", Json::object());
  ASSERT_FALSE(quiet);
  EXPECT_EQ(quiet.error().code(), Code::kDeadlineExceeded) << quiet.error().ToString();
  auto again = hub.CallTool("silent__anything", Json::object());  // inside the backoff
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Code::kUnavailable) << again.error().ToString();
  EXPECT_NE(again.error().message().find("next restart in"), std::string::npos)
      << again.error().ToString();
  auto statuses = hub.Statuses();
  ASSERT_EQ(statuses.size(), 2u);
  EXPECT_EQ(statuses[0].state, ServerState::kConnected);
  EXPECT_EQ(statuses[1].state, ServerState::kDown);
}

TEST(McpInteropTest, OurClientAndServerOverStdio) {
  auto client = ConnectStdio("fixture", {NAUT_FIXTURE_SERVER, "--page-size", "2"});
  ASSERT_TRUE(client);
  EXPECT_EQ(client->protocol_version(), "2025-11-25");
  auto tools = client->ListTools();
  ASSERT_TRUE(tools) << tools.error().ToString();
  EXPECT_GT(tools->size(), 10u);  // many pages of 2
  EXPECT_TRUE(HasTool(*tools, "echo"));
  EXPECT_TRUE(HasTool(*tools, "slow"));
  auto resources = client->ListResources();  // 3 resources on pages of 2
  ASSERT_TRUE(resources) << resources.error().ToString();
  EXPECT_EQ(resources->size(), 3u);

  auto bad = client->CallTool("echo", Json{{"message", 7}});
  ASSERT_TRUE(bad) << bad.error().ToString();
  EXPECT_TRUE(bad->is_error);
  EXPECT_NE(Text(*bad).find("arguments.message: expected string"), std::string::npos) << Text(*bad);

  // The conformance suite's checks of these two can pass on wrong answers; check them exactly.
  auto simple = client->CallTool("test_simple_text", Json::object());
  ASSERT_TRUE(simple) << simple.error().ToString();
  EXPECT_FALSE(simple->is_error);
  ASSERT_EQ(simple->content.size(), 1u);
  EXPECT_EQ(simple->content[0].type, "text");
  EXPECT_EQ(Text(*simple), "This is a simple text response for testing.");
  auto failing = client->CallTool("test_error_handling", Json::object());
  ASSERT_TRUE(failing)
      << failing.error().ToString();  // a tool error is a result, not a protocol error
  EXPECT_TRUE(failing->is_error);
  EXPECT_EQ(Text(*failing), "This tool intentionally returns an error for testing");

  auto sum = client->CallTool("add", Json{{"a", 40}, {"b", 2}});
  ASSERT_TRUE(sum) << sum.error().ToString();
  ASSERT_TRUE(sum->structured.has_value());
  EXPECT_EQ((*sum->structured)["sum"], 42);

  auto unknown = client->CallTool("nope", Json::object());
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message().find("Unknown tool: nope"), std::string::npos);

  std::stop_source stop;
  RequestOptions ro;
  ro.cancel = stop.get_token();
  std::thread canceller([&] {
    std::this_thread::sleep_for(300ms);
    stop.request_stop();
  });
  auto slow = client->CallTool("slow", Json{{"seconds", 30}}, ro);
  canceller.join();
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().code(), Code::kCancelled);
  EXPECT_TRUE(client->Ping().ok());

  auto prompt = client->GetPrompt("test_prompt_with_arguments", Json{{"arg1", "x"}});
  ASSERT_FALSE(prompt);
  EXPECT_NE(prompt.error().message().find("arg2"), std::string::npos);
}

// Starts the fixture server over HTTP on port 0; returns its URL.
struct HttpFixture {
  std::unique_ptr<Subprocess> process;
  std::string url;
  HttpFixture() {
    auto p = Subprocess::Spawn(
        {.argv = {NAUT_FIXTURE_SERVER, "--http", "127.0.0.1:0"}, .pipe_stdin = false});
    EXPECT_TRUE(p) << p.error().ToString();
    if (!p) return;
    process = std::move(*p);
    LineReader reader(process->stdout_fd());
    bool too_long = false;
    auto line = reader.Next(&too_long);
    if (line && line->rfind("listening ", 0) == 0) url = line->substr(10);
    EXPECT_FALSE(url.empty()) << "fixture server did not print its URL";
  }
  ~HttpFixture() {
    if (process) process->Terminate(2s);
  }
};

TEST(McpInteropTest, OurClientAndServerOverStreamableHttp) {
  HttpFixture server;
  ASSERT_FALSE(server.url.empty());
  ClientOptions options;
  std::atomic<int> sampled{0};
  options.capabilities = Json{{"sampling", Json::object()}};
  options.on_request = [&](const std::string& method, const Json&) -> Result<Json> {
    if (method != "sampling/createMessage") return Unimplemented(method);
    ++sampled;
    return Json{{"role", "assistant"},
                {"content", {{"type", "text"}, {"text", "forty-two"}}},
                {"model", "test"}};
  };
  auto transport =
      std::make_unique<HttpClientTransport>("fixture-http", HttpClientOptions{.url = server.url});
  HttpClientTransport* raw = transport.get();
  auto client = Client::Connect(std::move(transport), options);
  ASSERT_TRUE(client) << client.error().ToString();
  EXPECT_FALSE(raw->session_id().empty());
  auto tools = (*client)->ListTools();
  ASSERT_TRUE(tools) << tools.error().ToString();
  EXPECT_TRUE(HasTool(*tools, "test_reconnection"));

  std::atomic<int> progress{0};
  RequestOptions ro;
  ro.on_progress = [&](double, double, const std::string&) { ++progress; };
  auto slow = (*client)->CallTool("slow", Json{{"seconds", 0.5}}, ro);
  ASSERT_TRUE(slow) << slow.error().ToString();
  EXPECT_GE(progress.load(), 3);

  auto sampling =
      (*client)->CallTool("test_sampling", Json{{"prompt", "what is six times seven?"}});
  ASSERT_TRUE(sampling) << sampling.error().ToString();
  EXPECT_EQ(Text(*sampling), "LLM response: forty-two");
  EXPECT_EQ(sampled.load(), 1);

  // The server closes the stream mid-call; the client resumes with Last-Event-ID.
  auto resumed = (*client)->CallTool("test_reconnection", Json::object());
  ASSERT_TRUE(resumed) << resumed.error().ToString();
  EXPECT_EQ(Text(*resumed), "Reconnection test completed successfully");

  auto contents = (*client)->ReadResource("test://static-binary");
  ASSERT_TRUE(contents) << contents.error().ToString();
  EXPECT_TRUE((*contents)[0].contains("blob"));
  auto missing = (*client)->ReadResource("test://nothing-here");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  (*client)->Close();
}

// A data home for one test, removed afterwards.
struct TempHome {
  fs::path path = fs::temp_directory_path() / ("naut-mcp-home-" + NewId());
  TempHome() { fs::create_directories(path); }
  ~TempHome() { fs::remove_all(path); }
};

// `neuronaut --home HOME [extra...] mcp-server NAME --http 127.0.0.1:0`; the URL comes from
// the "listening on" line it prints.
struct BuiltinHttpServer {
  std::unique_ptr<Subprocess> process;
  std::string url;
  BuiltinHttpServer(const fs::path& home, const std::string& name,
                    std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {NAUT_CLI, "--home", home.string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.insert(argv.end(), {"mcp-server", name, "--http", "127.0.0.1:0"});
    auto p = Subprocess::Spawn({.argv = argv, .pipe_stdin = false, .pipe_stderr = false});
    EXPECT_TRUE(p) << p.error().ToString();
    if (!p) return;
    process = std::move(*p);
    LineReader reader(process->stdout_fd());
    bool too_long = false;
    auto line = reader.Next(&too_long);
    const std::string marker = "listening on ";
    size_t at = line ? line->find(marker) : std::string::npos;
    if (at != std::string::npos) {
      url = line->substr(at + marker.size());
      url = url.substr(0, url.find(' '));
    }
    EXPECT_EQ(url.rfind("http://127.0.0.1:", 0), 0u)
        << "mcp-server did not print where it listens: " << line.value_or("<no output>");
  }
  ~BuiltinHttpServer() {
    if (process) process->Terminate(2s);
  }
};

Json RunSdkClient(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {Node(), (kPeers / "sdk_interop_client.mjs").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = RunCommand({.argv = argv, .cwd = kPeers}, "", 120s);
  EXPECT_TRUE(r) << r.error().ToString();
  if (!r) return nullptr;
  EXPECT_TRUE(r->status.success()) << r->out << r->err;
  auto j = ParseJson(r->out, "sdk client output");
  EXPECT_TRUE(j) << r->out << r->err;
  return j ? *j : Json();
}

void ExpectSdkSawOurServer(const Json& out) {
  ASSERT_TRUE(out.is_object()) << out.dump();
  ASSERT_FALSE(out.contains("error")) << out.dump(2);
  EXPECT_EQ(out["server"]["name"], "neuronaut-conformance-fixture");
  EXPECT_GT(out["tools"].size(), 10u);
  EXPECT_EQ(out["echo"]["content"][0]["text"], "Echo: hello from the sdk");
  EXPECT_EQ(out["add"]["structuredContent"]["sum"], 42);
  EXPECT_EQ(out["badArgs"]["isError"], true);
  EXPECT_NE(out["badArgs"]["content"][0]["text"].get<std::string>().find("arguments.message"),
            std::string::npos);
  EXPECT_EQ(out["simpleText"],
            Json::parse(R"({"content":[{"type":"text",)"
                        R"("text":"This is a simple text response for testing."}]})"));
  EXPECT_EQ(out["toolError"],
            Json::parse(R"({"content":[{"type":"text",)"
                        R"("text":"This tool intentionally returns an error for testing"}],)"
                        R"("isError":true})"));
  EXPECT_GE(out["progress"].size(), 2u);
  EXPECT_NE(out["resource"]["contents"][0]["text"].get<std::string>().find("Data for ID: 42"),
            std::string::npos);
  EXPECT_EQ(out["prompt"]["messages"][0]["content"]["text"],
            "Prompt with arguments: arg1='a', arg2='b'");
  EXPECT_NE(out["unknownTool"].get<std::string>().find("Unknown tool"), std::string::npos)
      << out["unknownTool"];
}

TEST(McpInteropTest, TypeScriptSdkClientDrivesOurServerOverStdio) {
  REQUIRE_PEERS();
  ExpectSdkSawOurServer(
      RunSdkClient({"fixture", "stdio", NAUT_FIXTURE_SERVER, "--page-size", "3"}));
}

TEST(McpInteropTest, TypeScriptSdkClientDrivesOurServerOverHttp) {
  REQUIRE_PEERS();
  HttpFixture server;
  ASSERT_FALSE(server.url.empty());
  ExpectSdkSawOurServer(RunSdkClient({"fixture", "http", server.url}));
}

std::string FirstText(const Json& result) {
  if (!result.contains("content") || result["content"].empty()) return "";
  return result["content"][0].value("text", "");
}

// What the SDK client's "rpg" scenario saw of the built-in game server.
void ExpectSdkPlayedRpg(const Json& out) {
  ASSERT_TRUE(out.is_object()) << out.dump();
  ASSERT_FALSE(out.contains("error")) << out.dump(2);
  EXPECT_EQ(out["server"]["name"], "rpg");
  EXPECT_TRUE(out["capabilities"].contains("tools")) << out["capabilities"];
  std::set<std::string> tools(out["tools"].begin(), out["tools"].end());
  for (const char* name : {"list_chats", "get_messages", "send_message", "list_inline_buttons",
                           "press_inline_button", "check_goal", "reset"}) {
    EXPECT_TRUE(tools.count(name)) << name << " missing from " << out["tools"];
  }
  EXPECT_EQ(out["sendMessageSchema"]["required"], Json::array({"chat_id"}));
  EXPECT_NE(FirstText(out["chats"]).find("dungeon_quest_bot"), std::string::npos) << out["chats"];
  EXPECT_NE(out["start"].value("isError", false), true) << out["start"];
  EXPECT_NE(FirstText(out["messages"]).find("has_inline_buttons"), std::string::npos)
      << out["messages"];
  EXPECT_EQ(out["badArgs"]["isError"], true) << out["badArgs"];
  EXPECT_NE(FirstText(out["badArgs"]).find("chat_id"), std::string::npos) << out["badArgs"];
  EXPECT_NE(std::find(out["resources"].begin(), out["resources"].end(), "rpg://state"),
            out["resources"].end())
      << out["resources"];
  auto state = ParseJson(out["state"]["contents"][0].value("text", ""), "rpg://state");
  ASSERT_TRUE(state) << out["state"];
  EXPECT_TRUE(state->contains("hero")) << state->dump();
  // The /start the SDK sent reached the game: its first milestone is achieved.
  EXPECT_NE(std::find((*state)["achieved"].begin(), (*state)["achieved"].end(), "start_game"),
            (*state)["achieved"].end())
      << state->dump();
  EXPECT_NE(out["missingResource"].get<std::string>().find("rpg://no-such-thing"),
            std::string::npos)
      << out["missingResource"];
  EXPECT_NE(out["unknownTool"].get<std::string>().find("Unknown tool"), std::string::npos)
      << out["unknownTool"];
}

TEST(McpInteropTest, TypeScriptSdkClientPlaysTheBuiltinRpgServerOverStdio) {
  REQUIRE_PEERS();
  TempHome home;
  ExpectSdkPlayedRpg(
      RunSdkClient({"rpg", "stdio", NAUT_CLI, "--home", home.path.string(), "mcp-server", "rpg"}));
}

TEST(McpInteropTest, TypeScriptSdkClientPlaysTheBuiltinRpgServerOverHttp) {
  REQUIRE_PEERS();
  TempHome home;
  BuiltinHttpServer server(home.path, "rpg");
  ASSERT_FALSE(server.url.empty());
  ExpectSdkPlayedRpg(RunSdkClient({"rpg", "http", server.url}));
}

// --- The skills server follows skills stored by another process --------------------------

constexpr const char* kSkillName = "double_it";

void WriteSkillFile(const fs::path& file) {
  std::ofstream(file) << "def double_it(n: int) -> int:\n"
                         "    \"\"\"Return twice n.\"\"\"\n"
                         "    return n * 2\n";
}

// `neuronaut --home HOME skills add|rm ...` as another process would run it.
void RunSkillsCommand(const fs::path& home, std::vector<std::string> args) {
  args.insert(args.begin(), {NAUT_CLI, "--home", home.string(), "skills"});
  auto r = RunCommand({.argv = args}, "", 120s);
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_TRUE(r->status.success()) << r->out << r->err;
}

// Counts notifications/tools/list_changed from a client.
struct ListChangedWaiter {
  Mutex mu;
  std::condition_variable_any cv;
  int seen GUARDED_BY(mu) = 0;
  void Note(const std::string& method) {
    if (method != "notifications/tools/list_changed") return;
    MutexLock lock(mu);
    ++seen;
    cv.notify_all();
  }
  bool WaitFor(int count, std::chrono::seconds timeout = 30s) {
    MutexLock lock(mu);
    return cv.wait_for(lock, timeout, [&]() REQUIRES(mu) { return seen >= count; });
  }
};

// Connected to a running `mcp-server skills` on `home`: a skill added by another process
// becomes a listed, callable tool after tools/list_changed; removing it announces it again.
void ExpectSkillsFollowTheLibrary(Client& client, ListChangedWaiter& waiter, const fs::path& home) {
  EXPECT_TRUE(client.server_capabilities()["tools"].value("listChanged", false))
      << client.server_capabilities();
  auto before = client.ListTools();
  ASSERT_TRUE(before) << before.error().ToString();
  EXPECT_FALSE(HasTool(*before, kSkillName));

  WriteSkillFile(home / "double_it.py");
  RunSkillsCommand(home, {"add", (home / "double_it.py").string()});
  ASSERT_TRUE(waiter.WaitFor(1)) << "no notifications/tools/list_changed after skills add";
  auto after = client.ListTools();  // the notification made the cached list stale
  ASSERT_TRUE(after) << after.error().ToString();
  ASSERT_TRUE(HasTool(*after, kSkillName));
  auto call = client.CallTool(kSkillName, Json{{"n", 21}});
  ASSERT_TRUE(call) << call.error().ToString();
  EXPECT_FALSE(call->is_error) << Text(*call);
  auto value = ParseJson(Text(*call), "skill result");
  ASSERT_TRUE(value) << Text(*call);
  EXPECT_EQ((*value)["value"], 42) << Text(*call);
  auto bad = client.CallTool(kSkillName, Json{{"n", "x"}});
  ASSERT_TRUE(bad) << bad.error().ToString();
  EXPECT_TRUE(bad->is_error);

  RunSkillsCommand(home, {"rm", kSkillName});
  ASSERT_TRUE(waiter.WaitFor(2)) << "no notifications/tools/list_changed after skills rm";
  auto gone = client.ListTools();
  ASSERT_TRUE(gone) << gone.error().ToString();
  EXPECT_FALSE(HasTool(*gone, kSkillName));
}

// No flags: skills run in the default, isolated sandbox mode.
const std::vector<std::string> kSkillsServerFlags = {};

TEST(McpSkillsServerTest, AnnouncesSkillsAddedByAnotherProcessOverStdio) {
  TempHome home;
  ListChangedWaiter waiter;
  ClientOptions options;
  options.on_notification = [&](const std::string& method, const Json&) { waiter.Note(method); };
  std::vector<std::string> argv = {NAUT_CLI, "--home", home.path.string()};
  argv.insert(argv.end(), kSkillsServerFlags.begin(), kSkillsServerFlags.end());
  argv.insert(argv.end(), {"mcp-server", "skills"});
  auto client = ConnectStdio("skills", argv, options);
  ASSERT_TRUE(client);
  ExpectSkillsFollowTheLibrary(*client, waiter, home.path);
}

TEST(McpSkillsServerTest, AnnouncesSkillsAddedByAnotherProcessOverHttp) {
  TempHome home;
  BuiltinHttpServer server(home.path, "skills", kSkillsServerFlags);
  ASSERT_FALSE(server.url.empty());
  ListChangedWaiter waiter;
  ClientOptions options;
  options.on_notification = [&](const std::string& method, const Json&) { waiter.Note(method); };
  auto client = Client::Connect(
      std::make_unique<HttpClientTransport>("skills-http", HttpClientOptions{.url = server.url}),
      options);
  ASSERT_TRUE(client) << client.error().ToString();
  // The notification travels on the standalone GET stream, open once Connect has returned.
  ExpectSkillsFollowTheLibrary(**client, waiter, home.path);
}

TEST(McpSkillsServerTest, TypeScriptSdkClientHearsOfANewSkillOverHttp) {
  REQUIRE_PEERS();
  TempHome home;
  BuiltinHttpServer server(home.path, "skills", kSkillsServerFlags);
  ASSERT_FALSE(server.url.empty());
  auto sdk = Subprocess::Spawn(
      {.argv = {Node(), (kPeers / "sdk_interop_client.mjs").string(), "skills", "http", server.url},
       .env = {{"SKILL_NAME", kSkillName}, {"SKILL_ARGS", R"({"n": 5})"}},
       .cwd = kPeers,
       .pipe_stdin = false,
       .pipe_stderr = false});
  ASSERT_TRUE(sdk) << sdk.error().ToString();
  LineReader reader((*sdk)->stdout_fd());
  bool too_long = false;
  auto ready = reader.Next(&too_long);
  ASSERT_TRUE(ready && ready->find("\"ready\"") != std::string::npos) << ready.value_or("");
  // The SDK opens its GET stream right after initialized; give it a moment to attach.
  std::this_thread::sleep_for(1s);
  WriteSkillFile(home.path / "double_it.py");
  RunSkillsCommand(home.path, {"add", (home.path / "double_it.py").string()});
  auto last = reader.Next(&too_long);
  ASSERT_TRUE(last);
  auto out = ParseJson(*last, "sdk client output");
  ASSERT_TRUE(out) << *last;
  ASSERT_FALSE(out->contains("error")) << out->dump(2);
  EXPECT_EQ((*out)["listChanged"], true) << out->dump(2);
  EXPECT_EQ((*out)["toolsBefore"], Json::array());
  EXPECT_EQ((*out)["toolsAfter"], Json::array({kSkillName}));
  EXPECT_EQ((*out)["call"].value("isError", false), false) << (*out)["call"];
  auto value = ParseJson(FirstText((*out)["call"]), "skill result");
  ASSERT_TRUE(value) << (*out)["call"];
  EXPECT_EQ((*value)["value"], 10);
  EXPECT_TRUE((*sdk)->WaitFor(30s).value_or(ExitStatus{}).success());
}

class McpCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = fs::temp_directory_path() / ("naut-mcp-cli-" + NewId());
    fs::create_directories(home_);
    std::ofstream(home_ / "mcp.json")
        << Json{{"mcpServers",
                 {{"fixture", {{"command", NAUT_FIXTURE_SERVER}, {"args", Json::array()}}},
                  {"broken", {{"command", "/nonexistent/server"}}}}}}
               .dump();
  }
  void TearDown() override { fs::remove_all(home_); }
  CommandResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), {NAUT_CLI, "--home", home_.string()});
    auto r = RunCommand({.argv = args}, "", 120s);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : CommandResult{};
  }
  fs::path home_;
};

TEST_F(McpCliTest, ListToolsAndCall) {
  auto list = Run({"mcp", "list"});
  EXPECT_NE(list.out.find("fixture\tconnected"), std::string::npos) << list.out << list.err;
  EXPECT_NE(list.out.find("broken\tdown"), std::string::npos) << list.out;
  EXPECT_EQ(list.status.exit_code, 1);  // a configured server is down

  auto tools = Run({"mcp", "tools", "fixture"});
  EXPECT_EQ(tools.status.exit_code, 0) << tools.err;
  EXPECT_NE(tools.out.find("fixture__echo"), std::string::npos) << tools.out;

  auto echo = Run({"mcp", "call", "fixture", "echo", "message=42"});
  EXPECT_EQ(echo.status.exit_code, 0) << echo.err;
  EXPECT_EQ(echo.out, "Echo: 42\n");  // a string field keeps "42" a string

  auto add = Run({"mcp", "call", "fixture", "add", "--json", R"({"a": 1, "b": 2.5})"});
  EXPECT_EQ(add.status.exit_code, 0) << add.err;
  EXPECT_NE(add.out.find("\"sum\": 3.5"), std::string::npos) << add.out;

  auto bad = Run({"mcp", "call", "fixture", "echo"});
  EXPECT_EQ(bad.status.exit_code, 1);
  EXPECT_NE(bad.out.find("arguments.message: required field is missing"), std::string::npos)
      << bad.out;

  auto no_tool = Run({"mcp", "call", "fixture", "nope"});
  EXPECT_EQ(no_tool.status.exit_code, 1);
  EXPECT_NE(no_tool.err.find("has no tool 'nope'"), std::string::npos) << no_tool.err;

  auto no_server = Run({"mcp", "tools", "ghost"});
  EXPECT_EQ(no_server.status.exit_code, 1);
  EXPECT_NE(no_server.err.find("no mcp server named 'ghost'"), std::string::npos) << no_server.err;

  auto unknown = Run({"mcp-server", "no-such-server"});
  EXPECT_EQ(unknown.status.exit_code, 1);
  EXPECT_NE(unknown.err.find("no built-in mcp server named 'no-such-server'"), std::string::npos)
      << unknown.err;
}

// `mcp-server fs DIR...` takes its directories as @modelcontextprotocol/server-filesystem does,
// so an mcp.json entry switches to it keeping its directory list; they replace [sandbox] fs_roots.
TEST_F(McpCliTest, FsServerTakesAllowedDirectoriesAsArguments) {
  for (const char* d : {"a", "b", "configured"}) fs::create_directories(home_ / d);
  const fs::path a = fs::canonical(home_ / "a"), b = fs::canonical(home_ / "b");
  const fs::path configured = fs::canonical(home_ / "configured");
  auto client = ConnectStdio(
      "fs", {NAUT_CLI, "--home", home_.string(), "--set", "sandbox.fs_roots=" + configured.string(),
             "mcp-server", "fs", a.string(), b.string()});
  ASSERT_TRUE(client);
  auto listed = client->CallTool("list_allowed_directories", Json::object());
  ASSERT_TRUE(listed) << listed.error().ToString();
  EXPECT_EQ(Text(*listed), "Allowed directories:\n" + a.string() + "\n" + b.string());

  auto written =
      client->CallTool("write_file", {{"path", (b / "note.txt").string()}, {"content", "hi"}});
  ASSERT_TRUE(written) << written.error().ToString();
  EXPECT_FALSE(written->is_error) << Text(*written);
  std::ifstream note(b / "note.txt");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(note), {}), "hi");

  auto refused = client->CallTool("write_file",
                                  {{"path", (configured / "x.txt").string()}, {"content", "no"}});
  ASSERT_TRUE(refused) << refused.error().ToString();
  EXPECT_TRUE(refused->is_error);
  EXPECT_NE(Text(*refused).find("Access denied - path outside allowed directories"),
            std::string::npos)
      << Text(*refused);
  EXPECT_FALSE(fs::exists(configured / "x.txt"));
}

TEST_F(McpCliTest, FsServerNamesADirectoryThatDoesNotExist) {
  fs::create_directories(home_ / "a");
  const std::string missing = (home_ / "no-such-dir").string();
  auto r = Run({"mcp-server", "fs", (home_ / "a").string(), missing});
  EXPECT_EQ(r.status.exit_code, 1);
  EXPECT_NE(r.err.find("'" + missing + "': No such file or directory"), std::string::npos) << r.err;

  auto file = Run({"mcp-server", "fs", (home_ / "mcp.json").string()});
  EXPECT_EQ(file.status.exit_code, 1);
  EXPECT_NE(file.err.find("'" + (home_ / "mcp.json").string() + "' is not a directory"),
            std::string::npos)
      << file.err;

  auto rpg = Run({"mcp-server", "rpg", "extra"});
  EXPECT_EQ(rpg.status.exit_code, 1);
  EXPECT_NE(rpg.err.find("mcp-server rpg takes no arguments after its name (got 'extra')"),
            std::string::npos)
      << rpg.err;
}

// A server the user calls `fs` in mcp.json is the one `mcp call`, `tools` and `list` reach, with
// a note that it hides the built-in: the built-in's [sandbox] fs_roots play no part.
TEST_F(McpCliTest, AConfiguredNameWinsOverTheBuiltInAndSaysSo) {
  fs::create_directories(home_ / "mine");
  fs::create_directories(home_ / "builtin");
  const fs::path mine = fs::canonical(home_ / "mine");
  const std::string builtin = fs::canonical(home_ / "builtin").string();
  const std::string builtin_roots = "sandbox.fs_roots=" + builtin;
  std::ofstream(home_ / "mcp.json")
      << Json{{"mcpServers",
               {{"fs",
                 {{"command", NAUT_CLI},
                  {"args", {"--home", home_.string(), "mcp-server", "fs", mine.string()}}}}}}}
             .dump();
  const std::string note = "note: MCP server 'fs' is the one in " + (home_ / "mcp.json").string() +
                           "; it hides the built-in server of that name";

  auto call = Run({"--set", builtin_roots, "mcp", "call", "fs", "list_allowed_directories"});
  EXPECT_EQ(call.status.exit_code, 0) << call.err;
  EXPECT_EQ(call.out.rfind("Allowed directories:\n" + mine.string() + "\n", 0), 0u) << call.out;
  EXPECT_EQ(call.out.find(builtin), std::string::npos) << call.out;
  EXPECT_NE(call.err.find(note), std::string::npos) << call.err;

  auto tools = Run({"--set", builtin_roots, "mcp", "tools", "fs"});
  EXPECT_EQ(tools.status.exit_code, 0) << tools.err;
  EXPECT_NE(tools.out.find("fs__list_allowed_directories"), std::string::npos) << tools.out;
  EXPECT_NE(tools.err.find(note), std::string::npos) << tools.err;

  // One `fs` line, and it is the configured command.
  auto list = Run({"--set", builtin_roots, "mcp", "list"});
  const size_t at = list.out.find("fs\t");
  ASSERT_NE(at, std::string::npos) << list.out;
  EXPECT_EQ(list.out.find("\nfs\t", at + 1), std::string::npos) << list.out;
  const std::string line = list.out.substr(at, list.out.find('\n', at) - at);
  EXPECT_NE(line.find("connected"), std::string::npos) << line;
  EXPECT_NE(line.find(mine.string()), std::string::npos) << line;
  EXPECT_NE(list.err.find(note), std::string::npos) << list.err;

  // A command about another server says nothing of `fs`.
  auto rpg = Run({"mcp", "tools", "rpg"});
  EXPECT_EQ(rpg.status.exit_code, 0) << rpg.err;
  EXPECT_EQ(rpg.err.find("note:"), std::string::npos) << rpg.err;
}

// A configured server that is disabled still takes its name: the built-in does not stand in.
TEST_F(McpCliTest, ADisabledConfiguredServerIsNotReplacedByTheBuiltIn) {
  std::ofstream(home_ / "mcp.json")
      << Json{{"mcpServers", {{"fs", {{"command", "/nonexistent/fs"}, {"disabled", true}}}}}}
             .dump();
  auto call = Run({"mcp", "call", "fs", "list_allowed_directories"});
  EXPECT_EQ(call.status.exit_code, 1);
  EXPECT_NE(call.err.find("mcp server 'fs' is disabled"), std::string::npos) << call.err;
  EXPECT_EQ(call.out, "");
}

}  // namespace
}  // namespace naut::mcp

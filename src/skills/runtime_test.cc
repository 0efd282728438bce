#include "skills/runtime.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/ids.h"

namespace naut::skills {
namespace {

// Tools served in-process, so that budgets and errors can be driven precisely. The end-to-end
// test against a real MCP server is tests/integration/skills/runtime_mcp_test.cc.
class Counter : public ToolInvoker {
 public:
  Result<mcp::ToolResult> Call(const std::string& name, const Json& args) override {
    ++calls;
    if (name == "game__add") {
      return mcp::ToolResult::Structured(Json{{"sum", args.value("a", 0) + args.value("b", 0)}});
    }
    if (name == "game__echo") return mcp::ToolResult::Text(args.value("text", ""));
    if (name == "game__fail") return mcp::ToolResult::Error("the monster is too strong");
    if (name == "game__look") return Look();
    return NotFound("no tool named '" + name + "'");
  }
  std::atomic<int> calls{0};

  // A result of every kind of content block, as an MCP server may answer.
  static mcp::ToolResult Look() {
    mcp::ToolResult r = mcp::ToolResult::Text("a cave");
    r.content.push_back({"resource_link", Json{{"type", "resource_link"}, {"uri", "rpg://state"}}});
    r.content.push_back(
        {"resource",
         Json{{"type", "resource"}, {"resource", {{"uri", "rpg://map"}, {"text", "# . #"}}}}});
    r.content.push_back({"image", Json{{"type", "image"}, {"data", "AAAA"}}});
    return r;
  }
};

TEST(Runtime, RunsAnEntryFunctionThatCallsToolsBothWays) {
  Counter tools;
  Runtime rt(tools);
  auto r = rt.Run({.code = R"py(import tools

def combo(a, b=2):
    """Adds, then echoes."""
    s = tools.game__add(a=a, b=b)["sum"]
    print("sum is", s)
    return {"echo": tools.call("game__echo", text="x" * s), "sum": s}
)py",
                   .entry = "combo",
                   .arguments = {{"a", 3}}});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->stop, StopReason::kFinished) << r->error << r->traceback;
  EXPECT_EQ(r->value["sum"], 5);
  EXPECT_EQ(r->value["echo"], "xxxxx");
  EXPECT_EQ(r->output, "sum is 5\n");
  ASSERT_EQ(r->tool_calls.size(), 2u);
  EXPECT_EQ(r->tool_calls[0].tool, "game__add");
  EXPECT_EQ(r->tool_calls[0].arguments["a"], 3);
  EXPECT_EQ(r->tool_calls[1].result, "xxxxx");
  EXPECT_FALSE(r->isolated);
}

TEST(Runtime, ToolErrorsAreExceptionsWithATraceback) {
  Counter tools;
  Runtime rt(tools);
  auto r =
      rt.Run({.code = "import tools\n\ndef go():\n    '''x'''\n    return tools.game__fail()\n",
              .entry = "go"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stop, StopReason::kException);
  EXPECT_NE(r->error.find("ToolError: the monster is too strong"), std::string::npos) << r->error;
  EXPECT_NE(r->traceback.find("line 5, in go"), std::string::npos) << r->traceback;
  EXPECT_NE(r->traceback.find("return tools.game__fail()"), std::string::npos) << r->traceback;
  // Unknown tools come back as the invoker's error.
  r = rt.Run({.code = "import tools\nresult = tools.nope__x()\n"});
  EXPECT_EQ(r->stop, StopReason::kException);
  EXPECT_NE(r->error.find("no tool named 'nope__x'"), std::string::npos) << r->error;
}

// Qwen2.5-Coder-1.5B wrote this skill after its first success (run kept in
// tests/fixtures/real_runs/): the arguments as one dict, not as keywords.
TEST(Runtime, ASkillReadsAToolResultAsTheModelDoes) {
  Counter tools;
  Runtime rt(tools);
  auto r = rt.Run({.code = "import tools\nresult = tools.game__look()\n"});
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->stop, StopReason::kFinished) << r->error << r->traceback;
  // The text of mcp::ToolResult::AsText, which the agent shows the model after a direct call.
  const std::string expected = "a cave\n[resource rpg://state]\n# . #\n[image content]";
  EXPECT_EQ(Counter::Look().AsText(), expected);
  EXPECT_EQ(r->value, expected);
  ASSERT_EQ(r->tool_calls.size(), 1u);
  EXPECT_EQ(r->tool_calls[0].result, expected);
}

TEST(Runtime, ToolsTakeOneDictOfArgumentsAsModelsWriteThem) {
  Counter tools;
  Runtime rt(tools);
  auto r = rt.Run({.code = R"py(import tools
import json

def send_start_message(chat_id):
    """
    Send '/start' message to the game bot.
    """
    tools.game__echo({"text": chat_id + " /start"})
    return tools.call("game__add", {"a": 1}, b=2)
)py",
                   .entry = "send_start_message",
                   .arguments = {{"chat_id", "@dungeon_quest_bot"}}});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->stop, StopReason::kFinished) << r->error << r->traceback;
  ASSERT_EQ(r->tool_calls.size(), 2u);
  EXPECT_EQ(r->tool_calls[0].arguments["text"], "@dungeon_quest_bot /start");
  EXPECT_EQ(r->value["sum"], 3);
  // Anything else positional is refused with the way to write it.
  r = rt.Run({.code = "import tools\nresult = tools.game__add(1, 2)\n"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stop, StopReason::kException);
  EXPECT_NE(r->error.find("game__add takes keyword arguments"), std::string::npos) << r->error;
  EXPECT_EQ(tools.calls.load(), 2);
}

// Models call an earlier skill as if it were a tool; the runtime runs the skill.
TEST(Runtime, ASkillCalledThroughToolsRunsTheSkill) {
  Counter tools;
  Runtime rt(tools);
  auto r = rt.Run({.code = R"py(import tools

def add_twice(a):
    """Adds a to 1, twice."""
    tools.game__add(a=a, b=1)
    return tools.game__add(a=a, b=1)

def outer():
    """Calls the skill above the way models write it."""
    return tools.add_twice(a=2)["sum"]
)py",
                   .entry = "outer"});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->stop, StopReason::kFinished) << r->error << r->traceback;
  EXPECT_EQ(r->value, 3);
  EXPECT_EQ(r->tool_calls.size(), 2u);
  // A name that is neither a skill nor a tool still goes to the host, which answers for it.
  r = rt.Run({.code = "import tools\nresult = tools.nothing_here()\n"});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->tool_calls.size(), 1u);
  EXPECT_EQ(r->tool_calls[0].tool, "nothing_here");
}

// A tool answering JSON as text: code reads it as data or as text, as it was written (the 1.5B
// iterated get_messages' answer as a list of messages and failed on a string every time).
TEST(Runtime, AJsonTextAnswerIsBothTextAndData) {
  Counter tools;
  Runtime rt(tools);
  auto r = rt.Run({.code = R"py(import tools
msgs = tools.game__echo(text='[{"id": 8, "text": "Victory"}, {"id": 7, "text": "Forest"}]')
obj = tools.game__echo(text='{"message_id": 9, "response": "Victory!"}')
plain = tools.game__echo(text="just text")
result = {
    "first": msgs[0]["text"],
    "texts": [m["text"] for m in msgs],
    "response": obj["response"],
    "get": obj.get("message_id"),
    "keys": sorted(obj.keys()),
    "substring": "Victory" in obj and "Victory" in str(obj),
    "upper": obj.upper()[:3],
    "is_str": isinstance(obj, str),
    "plain": [plain[0], "".join(c for c in plain)[:4], type(plain).__name__],
}
)py"});
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->stop, StopReason::kFinished) << r->error << r->traceback;
  EXPECT_EQ(r->value, Json::parse(R"({"first": "Victory", "texts": ["Victory", "Forest"],
      "response": "Victory!", "get": 9, "keys": ["message_id", "response"], "substring": true,
      "upper": "{\"M", "is_str": true, "plain": ["j", "just", "str"]})"));
}

TEST(Runtime, ActionsReturnTheirResultVariable) {
  Counter tools;
  Runtime rt(tools);
  auto r =
      rt.Run({.code = "import tools\nresult = [tools.game__add(a=1, b=1)['sum'], object()]\n"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stop, StopReason::kFinished) << r->error;
  ASSERT_TRUE(r->value.is_string());  // not JSON: its repr
  EXPECT_NE(r->value.get<std::string>().find("[2, <object object"), std::string::npos);
}

TEST(Runtime, ABridgeMessageNestedTooDeepStopsTheRunNotTheHost) {
  // Python's encoder writes 600 levels; past kMaxJsonDepth the host refuses the message, both
  // as a result and as the arguments of a tool call, and the run stops as crashed.
  Counter tools;
  Runtime rt(tools);
  // Hostile code can also write the bridge itself (here the real stdout): 200,000 levels.
  const char* raw = R"py(import sys
sys.__stdout__.write('{"type": "call", "id": 1, "tool": "game__echo", "arguments": {"text": '
                     + "[" * 200000 + "]" * 200000 + '}}\n')
sys.__stdout__.flush()
)py";
  for (const char* code : {"x = []\nfor _ in range(600):\n    x = [x]\nresult = x\n",
                           "import tools\nx = []\nfor _ in range(600):\n    x = [x]\n"
                           "tools.game__echo(text=x)\n",
                           raw}) {
    auto r = rt.Run({.code = code});
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(r->stop, StopReason::kCrashed) << r->error;
    EXPECT_NE(r->error.find("not a bridge message"), std::string::npos) << r->error;
  }
  EXPECT_EQ(tools.calls, 0);
}

TEST(Runtime, FloodingToolCallsIsStoppedByTheCallBudget) {
  Counter tools;
  Runtime rt(tools);
  auto r = rt.Run({.code = R"py(import tools
while True:
    try:
        tools.game__echo(text="spam")
    except Exception:
        pass
)py",
                   .limits = {.max_tool_calls = 5}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stop, StopReason::kCallBudget);
  EXPECT_EQ(tools.calls, 5);
  EXPECT_EQ(r->tool_calls.size(), 6u);  // the refused one is listed too
  EXPECT_NE(r->error.find("call budget of 5 tool calls"), std::string::npos) << r->error;
}

TEST(Runtime, AnEndlessLoopIsStoppedByTheTimeBudget) {
  Counter tools;
  Runtime rt(tools);
  auto r = rt.Run({.code = "print('started')\nwhile True:\n    pass\n",
                   .limits = {.wall = std::chrono::milliseconds(1500)}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stop, StopReason::kTimeBudget);
  EXPECT_EQ(r->output, "started\n");
  EXPECT_NE(r->error.find("time budget"), std::string::npos);
}

TEST(Runtime, ACrashingInterpreterIsReported) {
  Counter tools;
  Runtime rt(tools);
  auto r = rt.Run({.code = "import os\nos._exit(7)\n"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stop, StopReason::kCrashed);
  EXPECT_NE(r->error.find("exit code 7"), std::string::npos) << r->error;
  EXPECT_EQ(rt.Run({.code = "x", .arguments = Json::array()}).error().code(),
            Code::kInvalidArgument);
}

// ---- in the sandbox ----

namespace fs = std::filesystem;

class SandboxedRuntime : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Status s = sandbox::CheckIsolationAvailable(); !s.ok()) {
      GTEST_SKIP() << "no sandbox on this machine: " << s.ToString();
    }
    workspace_ = fs::temp_directory_path() / ("naut-rt-ws-" + NewId());
    outside_ = fs::temp_directory_path() / ("naut-rt-out-" + NewId());
    fs::create_directories(workspace_);
    fs::create_directories(outside_);
    Config config;
    auto options = SandboxedRuntimeOptions(config, workspace_);
    ASSERT_TRUE(options) << options.error().ToString();
    options_ = *options;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(workspace_, ec);
    fs::remove_all(outside_, ec);
  }
  // The workspace holds nothing but what the code left there (the bridge is cleaned up).
  std::vector<std::string> WorkspaceEntries() {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(workspace_)) names.push_back(e.path().filename());
    return names;
  }

  Counter tools_;
  fs::path workspace_, outside_;
  RuntimeOptions options_;
};

TEST_F(SandboxedRuntime, ToolsWorkThroughTheBridgeAndTheRunIsIsolated) {
  Runtime rt(tools_, options_);
  auto r = rt.Run({.code = R"py(import os, tools

def combo(a, b=2):
    """Adds, then echoes a long text (larger than a pipe buffer), writes in its workspace."""
    s = tools.game__add(a=a, b=b)["sum"]
    long = tools.call("game__echo", text="y" * 200000)
    with open("made.txt", "w") as f:
        f.write("sum %d" % s)
    print("cwd", os.getcwd(), "uid", os.getuid())
    return {"sum": s, "long": len(long)}
)py",
                   .entry = "combo",
                   .arguments = {{"a", 3}}});
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->stop, StopReason::kFinished) << r->error << r->traceback;
  EXPECT_TRUE(r->isolated);
  EXPECT_EQ(r->isolation_note, "");
  EXPECT_EQ(r->value["sum"], 5);
  EXPECT_EQ(r->value["long"], 200000);
  EXPECT_EQ(r->output, "cwd /work uid 1000\n");
  EXPECT_EQ(r->tool_calls.size(), 2u);
  std::ifstream made(workspace_ / "made.txt");
  std::string text;
  std::getline(made, text);
  EXPECT_EQ(text, "sum 5");
  EXPECT_EQ(WorkspaceEntries(), std::vector<std::string>{"made.txt"});
}

TEST_F(SandboxedRuntime, AFreshWorkspaceIsMadeAndRemovedWhenNoneIsGiven) {
  options_.sandbox->workspace.clear();
  Runtime rt(tools_, options_);
  auto r = rt.Run({.code = "import os\nopen('x', 'w').write('1')\nresult = os.listdir('.')\n"});
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->stop, StopReason::kFinished) << r->error << r->traceback;
  ASSERT_TRUE(r->value.is_array());
  EXPECT_EQ(r->value.size(), 2u);  // x and the bridge directory
}

TEST_F(SandboxedRuntime, AnEndlessLoopIsKilledByTheSandboxAtTheTimeBudget) {
  Runtime rt(tools_, options_);
  auto r = rt.Run({.code = "import tools\nprint(tools.game__echo(text='started'))\nwhile True:\n"
                           "    pass\n",
                   .limits = {.wall = std::chrono::milliseconds(1500)}});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->stop, StopReason::kTimeBudget) << r->error;
  EXPECT_EQ(r->output, "started\n");
  EXPECT_NE(r->error.find("time budget of 1.5 s"), std::string::npos) << r->error;
  EXPECT_TRUE(r->isolated);
  EXPECT_LT(r->ms, 10000);  // killed, not left to the host's guard
  EXPECT_TRUE(WorkspaceEntries().empty());
}

TEST_F(SandboxedRuntime, FloodingToolCallsIsStoppedByTheCallBudget) {
  Runtime rt(tools_, options_);
  auto r = rt.Run({.code = "import tools\nwhile True:\n    tools.game__echo(text='spam')\n",
                   .limits = {.max_tool_calls = 7}});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->stop, StopReason::kCallBudget) << r->error;
  EXPECT_EQ(tools_.calls, 7);
  EXPECT_EQ(r->tool_calls.size(), 8u);
  EXPECT_NE(r->error.find("call budget of 7 tool calls"), std::string::npos) << r->error;
}

TEST_F(SandboxedRuntime, TheNetworkIsUnreachable) {
  // A server listening on the host's loopback: the sandbox has a loopback of its own.
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  socklen_t len = sizeof addr;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  Runtime rt(tools_, options_);
  auto r = rt.Run({.code = "import socket\nout = []\nfor host in ['127.0.0.1', '1.1.1.1']:\n"
                           "    try:\n"
                           "        socket.create_connection((host, " +
                           std::to_string(port) +
                           "), timeout=3)\n"
                           "        out.append(host + ' connected')\n"
                           "    except OSError as e:\n"
                           "        out.append(host + ' ' + type(e).__name__)\n"
                           "result = out\n"});
  ::close(listener);
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->stop, StopReason::kFinished) << r->error << r->traceback;
  ASSERT_EQ(r->value.size(), 2u) << r->value.dump();
  EXPECT_EQ(r->value[0], "127.0.0.1 ConnectionRefusedError");
  EXPECT_EQ(r->value[1].get<std::string>().find("connected"), std::string::npos) << r->value;
}

TEST_F(SandboxedRuntime, WritingOutsideTheWorkspaceFails) {
  Runtime rt(tools_, options_);
  const std::string target = (outside_ / "escaped.txt").string();
  auto r = rt.Run({.code = "out = []\nfor p in [" + DumpJson(target) +
                           ", '/etc/escaped', '/usr/escaped', '/escaped']:\n"
                           "    try:\n"
                           "        open(p, 'w').write('x')\n"
                           "        out.append(p + ' written')\n"
                           "    except OSError as e:\n"
                           "        out.append(type(e).__name__)\n"
                           "result = out\n"});
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->stop, StopReason::kFinished) << r->error << r->traceback;
  ASSERT_EQ(r->value.size(), 4u);
  for (const auto& v : r->value) {
    EXPECT_EQ(v.get<std::string>().find("written"), std::string::npos) << r->value;
  }
  EXPECT_FALSE(fs::exists(target));
  EXPECT_FALSE(fs::exists("/etc/escaped"));
}

TEST_F(SandboxedRuntime, ACrashIsReportedWithTheSandboxesView) {
  Runtime rt(tools_, options_);
  auto r = rt.Run({.code = "import os\nos._exit(7)\n"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stop, StopReason::kCrashed);
  EXPECT_NE(r->error.find("exit code 7"), std::string::npos) << r->error;
}

TEST(SandboxedRuntimeOptions, UnisolatedModeIsExplicitAndSaidInTheResult) {
  Config config;
  config.sandbox.mode = "unisolated";
  auto options = SandboxedRuntimeOptions(config);
  ASSERT_TRUE(options);
  Counter tools;
  Runtime rt(tools, *options);
  auto r = rt.Run({.code = "import tools\nresult = tools.game__add(a=1, b=1)['sum']\n"});
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->stop, StopReason::kFinished) << r->error << r->traceback;
  EXPECT_EQ(r->value, 2);
  EXPECT_FALSE(r->isolated);
  EXPECT_NE(r->isolation_note.find("unisolated"), std::string::npos) << r->isolation_note;
  config.sandbox.mode = "loose";
  EXPECT_EQ(SandboxedRuntimeOptions(config).error().code(), Code::kInvalidArgument);
}

// A machine without user namespaces, made for real: a child process enters a user namespace
// of its own (mapping the host ids 0..1999999 onto themselves, so the sandbox's ids still
// exist) and sets user.max_user_namespaces to 0 there, so every namespace the sandbox asks
// for is refused. Needs root to write the id map; skipped otherwise.
std::string RunWithoutNamespaces(bool fall_back) {
  int to_parent[2], go[2];
  if (::pipe(to_parent) != 0 || ::pipe(go) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(to_parent[0]);
    ::close(go[1]);
    auto say = [&](const std::string& text) {
      [[maybe_unused]] ssize_t n = ::write(to_parent[1], text.data(), text.size());
      ::_exit(0);
    };
    if (::unshare(CLONE_NEWUSER) != 0) say("unshare failed");
    [[maybe_unused]] ssize_t w = ::write(to_parent[1], "u", 1);  // in the namespace now
    char c;
    if (::read(go[0], &c, 1) != 1) say("no go");
    {
      std::ofstream limit("/proc/sys/user/max_user_namespaces");
      limit << "0\n";
      if (!limit.flush()) say("cannot set max_user_namespaces");
    }
    Counter tools;
    Config config;
    auto options = SandboxedRuntimeOptions(config);
    options->sandbox->fall_back_to_unisolated = fall_back;
    Runtime rt(tools, *options);
    auto r = rt.Run({.code = "import tools\nresult = tools.game__add(a=2, b=3)['sum']\n"});
    if (!r)
      say("error " + std::to_string(static_cast<int>(r.error().code())) + ": " +
          r.error().message());
    say("ran stop=" + std::string(StopReasonName(r->stop)) + " value=" + r->value.dump() +
        " isolated=" + (r->isolated ? "yes" : "no") + " note=" + r->isolation_note + " " +
        r->error);
  }
  ::close(to_parent[1]);
  ::close(go[0]);
  std::string failure;
  char entered = 0;
  if (::read(to_parent[0], &entered, 1) != 1 || entered != 'u') failure = "the child did not start";
  for (const char* file : {"uid_map", "gid_map"}) {
    const std::string path = "/proc/" + std::to_string(pid) + "/" + file;
    const std::string map = "0 0 2000000\n";
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, map.data(), map.size()) != static_cast<ssize_t>(map.size())) {
      failure = "cannot write " + path + ": " + std::strerror(errno);
    }
    if (fd >= 0) ::close(fd);
  }
  [[maybe_unused]] ssize_t w = ::write(go[1], "g", 1);
  ::close(go[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(to_parent[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(to_parent[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (out.empty()) {
    out = "the child ended without a word (" +
          (WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                               : "exit " + std::to_string(WEXITSTATUS(status))) +
          ")";
  }
  return failure.empty() ? out : failure + "; " + out;
}

TEST(SandboxUnavailable, ARunIsRefusedWithTheReasonUnlessFallingBackIsAskedFor) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to map ids into a test user namespace";
  if (Status s = sandbox::CheckIsolationAvailable(); !s.ok()) GTEST_SKIP() << s.ToString();
  std::string refused = RunWithoutNamespaces(false);
  EXPECT_EQ(
      refused.rfind("error " + std::to_string(static_cast<int>(Code::kFailedPrecondition)), 0), 0u)
      << refused;
  EXPECT_NE(refused.find("skills run only in the sandbox"), std::string::npos) << refused;
  EXPECT_NE(refused.find("cannot create user/PID/mount/network namespaces"), std::string::npos)
      << refused;
  std::string fell_back = RunWithoutNamespaces(true);
  EXPECT_EQ(
      fell_back.rfind("ran stop=finished value=5 isolated=no note=isolation is unavailable", 0), 0u)
      << fell_back;
}

}  // namespace
}  // namespace naut::skills

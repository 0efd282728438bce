#include "skills/runtime.h"

#include <gtest/gtest.h>

#include <atomic>

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
    return NotFound("no tool named '" + name + "'");
  }
  std::atomic<int> calls{0};
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

}  // namespace
}  // namespace naut::skills

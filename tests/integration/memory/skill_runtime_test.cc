// End to end: a skill run by the runtime calls two tools of a real MCP server over stdio
// (@modelcontextprotocol/server-filesystem, and the built-in `neuronaut mcp-server fs` with the
// skill inside the sandbox) through the bridge and the ClientManager; a skill flooding calls
// of that server is stopped by the call budget, an endless one by the time budget.

#include <gtest/gtest.h>

#include <fstream>

#include "core/ids.h"
#include "skills/hub_invoker.h"
#include "skills/runtime.h"
#include "skills/validator.h"

namespace naut::skills {
namespace {

namespace fs = std::filesystem;

const fs::path kModules = fs::path(NAUT_SOURCE_DIR) / "tests" / "peers" / "node_modules";

// The default [permissions]: everything, and the fs server's writing tools by name.
mcp::PermissionPolicy DefaultPermissions() {
  return mcp::PermissionPolicy::FromConfig(PermissionsConfig{});
}

class SkillRuntimeMcpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kModules / "@modelcontextprotocol/server-filesystem")) {
      GTEST_SKIP()
          << "npm peers are not installed: run `npm ci` in tests/peers (scripts/setup.sh does)";
    }
    dir_ = fs::temp_directory_path() / ("naut-skillrt-" + NewId());
    fs::create_directories(dir_);
    std::ofstream(dir_ / "notes.txt") << "gold: 7\n";
    fs::path node = kModules / ".bin" / "node";
    McpServerConfig fs_server{
        .name = "fs",
        .command = fs::exists(node) ? node.string() : "node",
        .args = {(kModules / "@modelcontextprotocol/server-filesystem/dist/index.js").string(),
                 dir_.string()}};
    hub_ = std::make_unique<mcp::ClientManager>(std::vector<McpServerConfig>{fs_server},
                                                mcp::HubOptions{});
    hub_->ConnectAll();
  }
  void TearDown() override {
    hub_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  fs::path dir_;
  std::unique_ptr<mcp::ClientManager> hub_;
};

TEST_F(SkillRuntimeMcpTest, ASkillCallsTwoToolsOfARealServer) {
  const std::string code = R"py(import tools

def copy_notes(src: str, dst: str):
    """Read a text file and write an upper-cased copy; return the new file's first line."""
    text = tools.fs__read_text_file(path=src)["content"]  # its structuredContent
    tools.call("fs__write_file", path=dst, content=text.upper())
    print("copied", len(text), "characters")
    return tools.fs__read_text_file(path=dst)["content"].splitlines()[0]
)py";
  ASSERT_TRUE(ValidateSkill(code)) << "the skill itself must pass validation";
  HubToolInvoker invoker(*hub_, DefaultPermissions());
  Runtime rt(invoker);
  auto r = rt.Run({.code = code,
                   .entry = "copy_notes",
                   .arguments = {{"src", (dir_ / "notes.txt").string()},
                                 {"dst", (dir_ / "NOTES.txt").string()}}});
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->stop, StopReason::kFinished) << r->error << "\n" << r->traceback;
  EXPECT_EQ(r->value, "GOLD: 7");
  EXPECT_EQ(r->output, "copied 8 characters\n");
  ASSERT_EQ(r->tool_calls.size(), 3u);
  EXPECT_EQ(r->tool_calls[0].tool, "fs__read_text_file");
  EXPECT_EQ(r->tool_calls[1].tool, "fs__write_file");
  std::ifstream written(dir_ / "NOTES.txt");
  std::string line;
  std::getline(written, line);
  EXPECT_EQ(line, "GOLD: 7");
}

TEST_F(SkillRuntimeMcpTest, RefusedPathsAreToolErrorsAndFloodsHitTheBudget) {
  HubToolInvoker invoker(*hub_, DefaultPermissions());
  Runtime rt(invoker);
  auto r =
      rt.Run({.code = "import tools\nresult = tools.fs__read_text_file(path='/etc/hostname')\n"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stop, StopReason::kException);
  EXPECT_NE(r->error.find("ToolError"), std::string::npos) << r->error;
  r = rt.Run({.code = "import tools\nwhile True:\n    tools.fs__list_directory(path=" +
                      DumpJson(dir_.string()) + ")\n",
              .limits = {.max_tool_calls = 4}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stop, StopReason::kCallBudget) << r->error;
  EXPECT_EQ(r->tool_calls.size(), 5u);
}

// The built-in fs server (this binary) as the agent runs it, and the skill in the sandbox with
// the same directory as its workspace.
class SandboxedSkillBuiltinFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Status s = sandbox::CheckIsolationAvailable(); !s.ok()) {
      GTEST_SKIP() << "no sandbox on this machine: " << s.ToString();
    }
    home_ = fs::temp_directory_path() / ("naut-skillsb-home-" + NewId());
    dir_ = fs::temp_directory_path() / ("naut-skillsb-ws-" + NewId());
    fs::create_directories(home_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "notes.txt") << "gold: 7\n";
    std::ofstream(home_ / "neuronaut.toml")
        << "[sandbox]\nfs_roots = [" << DumpJson(dir_.string()) << "]\n";
    McpServerConfig fs_server{.name = "fs",
                              .command = NAUT_CLI,
                              .args = {"--home", home_.string(), "--config",
                                       (home_ / "neuronaut.toml").string(), "mcp-server", "fs"}};
    hub_ = std::make_unique<mcp::ClientManager>(std::vector<McpServerConfig>{fs_server},
                                                mcp::HubOptions{});
    hub_->ConnectAll();
    Config config;
    auto options = SandboxedRuntimeOptions(config, dir_);
    ASSERT_TRUE(options) << options.error().ToString();
    options_ = *options;
  }
  void TearDown() override {
    hub_.reset();
    std::error_code ec;
    fs::remove_all(home_, ec);
    fs::remove_all(dir_, ec);
  }

  fs::path home_, dir_;
  std::unique_ptr<mcp::ClientManager> hub_;
  RuntimeOptions options_;
};

TEST_F(SandboxedSkillBuiltinFsTest, ASkillCallsTwoToolsOfTheBuiltinFsServerFromTheSandbox) {
  const std::string code = R"py(import tools

def copy_notes(src: str, dst: str):
    """Read a text file, write an upper-cased copy; return the new file's first line."""
    text = tools.fs__read_text_file(path=src)["content"]
    tools.call("fs__write_file", path=dst, content=text.upper())
    print("copied", len(text), "characters")
    return tools.fs__read_text_file(path=dst)["content"].splitlines()[0]
)py";
  ASSERT_TRUE(ValidateSkill(code)) << "the skill itself must pass validation";
  HubToolInvoker invoker(*hub_, DefaultPermissions());
  Runtime rt(invoker, options_);
  auto r = rt.Run({.code = code,
                   .entry = "copy_notes",
                   .arguments = {{"src", (dir_ / "notes.txt").string()},
                                 {"dst", (dir_ / "NOTES.txt").string()}}});
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->stop, StopReason::kFinished) << r->error << "\n" << r->traceback;
  EXPECT_TRUE(r->isolated);
  EXPECT_EQ(r->value, "GOLD: 7");
  EXPECT_EQ(r->output, "copied 8 characters\n");
  ASSERT_EQ(r->tool_calls.size(), 3u);
  EXPECT_EQ(r->tool_calls[0].tool, "fs__read_text_file");
  EXPECT_EQ(r->tool_calls[1].tool, "fs__write_file");
  EXPECT_FALSE(r->tool_calls[1].is_error) << r->tool_calls[1].result;
  std::ifstream written(dir_ / "NOTES.txt");
  std::string line;
  std::getline(written, line);
  EXPECT_EQ(line, "GOLD: 7");
}

TEST_F(SandboxedSkillBuiltinFsTest, BudgetsStopFloodsAndEndlessLoops) {
  HubToolInvoker invoker(*hub_, DefaultPermissions());
  Runtime rt(invoker, options_);
  auto r = rt.Run({.code = "import tools\nwhile True:\n    tools.fs__list_directory(path=" +
                           DumpJson(dir_.string()) + ")\n",
                   .limits = {.max_tool_calls = 4}});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->stop, StopReason::kCallBudget) << r->error;
  EXPECT_EQ(r->tool_calls.size(), 5u);
  EXPECT_NE(r->error.find("call budget of 4"), std::string::npos) << r->error;
  r = rt.Run({.code = "import tools\ntools.fs__list_directory(path=" + DumpJson(dir_.string()) +
                      ")\nwhile True:\n    pass\n",
              .limits = {.wall = std::chrono::seconds(2)}});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->stop, StopReason::kTimeBudget) << r->error;
  EXPECT_EQ(r->tool_calls.size(), 1u);
  EXPECT_NE(r->error.find("time budget of 2 s"), std::string::npos) << r->error;
}

}  // namespace
}  // namespace naut::skills

// `neuronaut mcp-server skills` (a real process, driven by our MCP client over stdio) runs
// skills whose `tools.*` calls reach the built-in fs server under [permissions], the check the
// agent applies to its own calls: a denied tool, a destructive tool no `allow` pattern names and
// a tool in `ask` (nobody to ask) are refused and never called; an allowed tool runs.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/ids.h"
#include "core/subprocess.h"
#include "mcp/client.h"
#include "mcp/stdio.h"
#include "sandbox/sandbox.h"

namespace naut {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kSkills[][2] = {
    {"where_can_i_look", R"py(import tools

def where_can_i_look():
    """List the directories the fs server may touch."""
    return tools.fs__list_allowed_directories()
)py"},
    {"peek", R"py(import tools

def peek(path: str):
    """Read a text file through the fs server."""
    return tools.fs__read_text_file(path=path)
)py"},
    {"scribble", R"py(import tools

def scribble(path: str):
    """Write a text file through the fs server."""
    tools.fs__write_file(path=path, content="scribbled")
    return "written"
)py"},
    {"look_around", R"py(import tools

def look_around(path: str):
    """List a directory through the fs server."""
    return tools.fs__list_directory(path=path)
)py"},
};

class SkillsServerPermissionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Status s = sandbox::CheckIsolationAvailable(); !s.ok()) {
      GTEST_SKIP() << "no sandbox on this machine (skills run only in it): " << s.ToString();
    }
    home_ = fs::temp_directory_path() / ("naut-skillperm-" + NewId());
    dir_ = home_ / "files";
    fs::create_directories(dir_);
    std::ofstream(dir_ / "notes.txt") << "gold: 7\n";
    // Everything through "*" (so no destructive tool is named), reads denied, listing asked.
    std::ofstream(home_ / "neuronaut.toml") << "[permissions]\n"
                                               "allow = [\"*\"]\n"
                                               "deny = [\"fs__read_*\"]\n"
                                               "ask = [\"fs__list_directory\"]\n"
                                               "[sandbox]\n"
                                               "fs_roots = ["
                                            << DumpJson(dir_.string()) << "]\n";
    for (const auto& [name, code] : kSkills) {
      fs::path file = home_ / (std::string(name) + ".py");
      std::ofstream(file) << code;
      auto added = RunCommand(
          {.argv = {NAUT_CLI, "--home", home_.string(), "skills", "add", file.string()}}, "", 120s);
      ASSERT_TRUE(added) << added.error().ToString();
      ASSERT_TRUE(added->status.success()) << added->out << added->err;
    }
    auto client = mcp::Client::Connect(
        std::make_unique<mcp::StdioClientTransport>(
            "skills",
            SpawnOptions{.argv = {NAUT_CLI, "--home", home_.string(), "mcp-server", "skills"}}),
        mcp::ClientOptions{});
    ASSERT_TRUE(client) << client.error().ToString();
    client_ = std::move(*client);
  }
  void TearDown() override {
    if (client_) client_->Close();
    client_.reset();
    std::error_code ec;
    if (!home_.empty()) fs::remove_all(home_, ec);
  }

  // Calls the skill `name`; its result is JSON text (value, error, tool_calls, ...).
  Json Call(const std::string& name, const Json& args, bool* is_error) {
    auto r = client_->CallTool(name, args);
    EXPECT_TRUE(r) << r.error().ToString();
    if (!r) return nullptr;
    *is_error = r->is_error;
    auto j = ParseJson(r->AsText(), "skill result");
    EXPECT_TRUE(j) << r->AsText();
    return j ? *j : Json();
  }

  fs::path home_, dir_;
  std::unique_ptr<mcp::Client> client_;
};

TEST_F(SkillsServerPermissionsTest, AnAllowedToolRuns) {
  bool is_error = true;
  Json r = Call("where_can_i_look", Json::object(), &is_error);
  EXPECT_FALSE(is_error) << r.dump(2);
  EXPECT_EQ(r["stop"], "finished") << r.dump(2);
  EXPECT_NE(r["value"].dump().find(dir_.filename().string()), std::string::npos) << r.dump(2);
}

TEST_F(SkillsServerPermissionsTest, ADeniedToolIsRefused) {
  bool is_error = false;
  Json r = Call("peek", {{"path", (dir_ / "notes.txt").string()}}, &is_error);
  EXPECT_TRUE(is_error) << r.dump(2);
  EXPECT_EQ(r["stop"], "exception") << r.dump(2);
  EXPECT_EQ(r["error"],
            "ToolError: Refused: the permission policy denies fs__read_text_file ([permissions] "
            "deny = \"fs__read_*\")")
      << r.dump(2);
  ASSERT_EQ(r["tool_calls"].size(), 1u) << r.dump(2);
  EXPECT_EQ(r["tool_calls"][0]["tool"], "fs__read_text_file");
  EXPECT_EQ(r["tool_calls"][0]["is_error"], true);
  EXPECT_EQ(r.value("value", Json()), nullptr) << "the file's text reached the skill";
}

TEST_F(SkillsServerPermissionsTest, ADestructiveToolNoAllowNamesIsRefused) {
  bool is_error = false;
  Json r = Call("scribble", {{"path", (dir_ / "scribble.txt").string()}}, &is_error);
  EXPECT_TRUE(is_error) << r.dump(2);
  EXPECT_EQ(r["stop"], "exception") << r.dump(2);
  EXPECT_EQ(r["error"],
            "ToolError: Refused: fs__write_file changes or deletes data; it runs only when "
            "[permissions] allow names it (e.g. allow = [\"fs__write_file\"])")
      << r.dump(2);
  EXPECT_FALSE(fs::exists(dir_ / "scribble.txt")) << "the refused call was made";
}

TEST_F(SkillsServerPermissionsTest, AToolToAskAboutIsRefusedWithNobodyToAsk) {
  bool is_error = false;
  Json r = Call("look_around", {{"path", dir_.string()}}, &is_error);
  EXPECT_TRUE(is_error) << r.dump(2);
  EXPECT_EQ(r["error"], "ToolError: Refused: the user did not allow fs__list_directory")
      << r.dump(2);
}

}  // namespace
}  // namespace naut

// `neuronaut mcp-server skills` driven by the official TypeScript SDK client (a real process).

#include <gtest/gtest.h>

#include <fstream>

#include "core/ids.h"
#include "core/json.h"
#include "core/subprocess.h"

namespace naut {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path kModules = fs::path(NAUT_SOURCE_DIR) / "tests" / "peers" / "node_modules";

class SkillsServerSdkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kModules / "@modelcontextprotocol/sdk")) {
      GTEST_SKIP()
          << "npm peers are not installed: run `npm ci` in tests/peers (scripts/setup.sh does)";
    }
    home_ = fs::temp_directory_path() / ("naut-skillsrv-" + NewId());
    fs::create_directories(home_);
  }
  void TearDown() override {
    if (!home_.empty()) fs::remove_all(home_);
  }
  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {NAUT_CLI, "--home", home_.string()});
    auto r = RunCommand({.argv = args}, "", 120s);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : CommandResult{};
  }
  Json Sdk(const std::string& tool, const Json& args) {
    fs::path node = kModules / ".bin" / "node";
    std::vector<std::string> argv = {
        fs::exists(node) ? node.string() : "node",
        fs::path(NAUT_SOURCE_DIR "/tests/integration/memory/sdk_skills_client.mjs").string(),
        kModules.string(),
        tool,
        args.dump(),
        NAUT_CLI,
        "--home",
        home_.string(),
        "mcp-server",
        "skills"};
    auto r = RunCommand({.argv = argv}, "", 120s);
    EXPECT_TRUE(r) << r.error().ToString();
    if (!r) return nullptr;
    EXPECT_TRUE(r->status.success()) << r->out << r->err;
    auto j = ParseJson(r->out, "sdk client output");
    EXPECT_TRUE(j) << r->out << r->err;
    return j ? *j : Json();
  }
  fs::path home_;
};

TEST_F(SkillsServerSdkTest, ListsAndCallsALearnedSkill) {
  std::ofstream(home_ / "add_gold.py") << R"py(
def add_gold(purse: int, found: int = 5):
    """Add the gold found on a hunt to the purse and return the new total."""
    print("adding", found)
    return purse + found
)py";
  auto added = Cli({"skills", "add", (home_ / "add_gold.py").string()});
  ASSERT_EQ(added.status.exit_code, 0) << added.err;

  Json out = Sdk("add_gold", {{"purse", 7}});
  ASSERT_TRUE(out.is_object());
  ASSERT_EQ(out["tools"].size(), 1u);
  const Json& tool = out["tools"][0];
  EXPECT_EQ(tool["name"], "add_gold");
  EXPECT_EQ(tool["description"],
            "Add the gold found on a hunt to the purse and return the new total.");
  EXPECT_EQ(tool["inputSchema"]["properties"]["purse"]["type"], "integer");
  EXPECT_EQ(tool["inputSchema"]["required"], Json::array({"purse"}));
  ASSERT_NE(out["call"]["isError"], true) << out.dump();
  auto result = ParseJson(out["call"]["content"][0]["text"].get<std::string>(), "skill result");
  ASSERT_TRUE(result);
  EXPECT_EQ((*result)["value"], 12);
  EXPECT_EQ((*result)["output"], "adding 5\n");
  EXPECT_EQ((*result)["isolated"], true);  // the default [sandbox] mode runs skills isolated

  // The outcome was counted on the skill.
  auto show = Cli({"skills", "show", "add_gold", "--json"});
  auto shown = ParseJson(show.out, "show");
  ASSERT_TRUE(shown) << show.out << show.err;
  EXPECT_EQ((*shown)["uses"], 1);
  EXPECT_EQ((*shown)["successes"], 1);

  // Unisolated only when the configuration says so, and the result says it.
  std::ofstream(home_ / "neuronaut.toml") << "[sandbox]\nmode = \"unisolated\"\n";
  Json plain = Sdk("add_gold", {{"purse", 1}});
  ASSERT_TRUE(plain.is_object());
  ASSERT_NE(plain["call"]["isError"], true) << plain.dump();
  auto plain_result =
      ParseJson(plain["call"]["content"][0]["text"].get<std::string>(), "skill result");
  ASSERT_TRUE(plain_result);
  EXPECT_EQ((*plain_result)["value"], 6);
  EXPECT_EQ((*plain_result)["isolated"], false);
}

}  // namespace
}  // namespace naut

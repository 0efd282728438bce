// Environment profiles against real servers: the built-in rpg profile over a real
// `neuronaut mcp-server rpg` process, seen through the profile's prefix (game__*) whatever the
// server is called, and `neuronaut run` starting (or failing to start) a profile's servers.

#include "agent/profile_toolbox.h"

#include <gtest/gtest.h>

#include <fstream>

#include "agent/mcp_toolbox.h"
#include "agent/profile.h"
#include "core/files.h"
#include "core/ids.h"
#include "core/subprocess.h"
#include "mcp/hub.h"

namespace naut::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path kExamples = fs::path(NAUT_SOURCE_DIR) / "examples" / "profiles";

class ProfileToolBoxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = fs::temp_directory_path() / ("naut-profiles-" + NewId());
    fs::create_directories(home_);
  }
  void TearDown() override {
    hub_.reset();
    fs::remove_all(home_);
  }

  // The rpg simulator as a real process, registered in the hub under `server_name`.
  void StartRpg(const std::string& server_name) {
    McpServerConfig c;
    c.name = server_name;
    c.command = NAUT_CLI;
    c.args = {"--home", home_.string(), "mcp-server", "rpg"};
    hub_ = std::make_unique<mcp::ClientManager>(std::vector<McpServerConfig>{c}, mcp::HubOptions{});
    hub_->ConnectAll();
    for (const auto& s : hub_->Statuses())
      ASSERT_EQ(s.state, mcp::ServerState::kConnected) << s.detail;
    hub_tools_ = std::make_unique<McpToolBox>(*hub_, std::vector<std::string>{server_name});
  }

  ToolOutcome Call(ToolBox& tools, const std::string& name, const Json& args) {
    auto r = tools.CallTool(name, args, 30s, {});
    EXPECT_TRUE(r) << name << ": " << r.error().ToString();
    return r ? *r : ToolOutcome{};
  }

  fs::path home_;
  std::unique_ptr<mcp::ClientManager> hub_;
  std::unique_ptr<McpToolBox> hub_tools_;
};

TEST_F(ProfileToolBoxTest, TheModelSeesTheRpgServersToolsUnderTheGamePrefix) {
  StartRpg("rpg");
  auto profile = LoadProfile("rpg");
  ASSERT_TRUE(profile) << profile.error().ToString();
  ProfileToolBox tools(*hub_tools_, *profile);

  auto listed = tools.ListTools();
  ASSERT_TRUE(listed) << listed.error().ToString();
  std::vector<std::string> names, offered;
  for (const auto& t : *listed) {
    names.push_back(t.spec.name);
    if (profile->ToolAllowed(t.spec.name)) offered.push_back(t.spec.name);
    EXPECT_EQ(t.spec.name.rfind("game__", 0), 0u) << t.spec.name;
    EXPECT_FALSE(t.spec.description.empty()) << t.spec.name;
  }
  EXPECT_NE(std::find(names.begin(), names.end(), "game__check_goal"), names.end());
  std::sort(offered.begin(), offered.end());
  EXPECT_EQ(offered, (std::vector<std::string>{"game__get_messages", "game__list_chats",
                                               "game__list_inline_buttons",
                                               "game__press_inline_button", "game__send_message"}));

  // A call through the alias reaches the real server: the game changes, as the server's own
  // name shows.
  Call(tools, "game__reset", {{"seed", 5}});
  Call(tools, "game__send_message", {{"chat_id", "@dungeon_quest_bot"}, {"message", "/start"}});
  auto press = Call(tools, "game__press_inline_button",
                    {{"chat_id", "@dungeon_quest_bot"}, {"button_text", "🌲 Forest"}});
  EXPECT_FALSE(press.is_error) << press.text;
  EXPECT_NE(press.text.find("Whispering Forest"), std::string::npos) << press.text;
  auto state = hub_tools_->ReadResource("rpg://state");
  ASSERT_TRUE(state) << state.error().ToString();
  auto state_json = ParseJson(*state, "rpg://state");
  ASSERT_TRUE(state_json) << *state;
  EXPECT_EQ((*state_json)["location"], "forest") << *state;

  // The checker and the milestones go through the same aliases.
  auto goal = Call(tools, profile->checker_tool, {{profile->checker_argument, "start_game"}});
  ASSERT_TRUE(goal.structured || ParseJson(goal.text, "check_goal")) << goal.text;
  Json verdict = goal.structured ? *goal.structured : *ParseJson(goal.text, "check_goal");
  EXPECT_EQ(verdict.at(Json::json_pointer(profile->checker_success)), true) << goal.text;
  auto milestones = tools.ReadResource(profile->milestones_resource);
  ASSERT_TRUE(milestones) << milestones.error().ToString();
  auto parsed = ParseMilestones(*milestones, profile->milestones_resource);
  ASSERT_TRUE(parsed) << parsed.error().ToString();
  EXPECT_GE(parsed->size(), 10u);

  // The server's own name is not a tool of the environment, and says which names are.
  auto direct =
      tools.CallTool("rpg__press_inline_button", {{"chat_id", "@dungeon_quest_bot"}}, 30s, {});
  ASSERT_FALSE(direct);
  EXPECT_EQ(direct.error().code(), Code::kNotFound);
  EXPECT_NE(direct.error().message().find("game__<tool>"), std::string::npos)
      << direct.error().message();
}

TEST_F(ProfileToolBoxTest, TheBuiltinRpgProfileObservesTheGameChatAndItsButtons) {
  StartRpg("rpg");
  auto profile = LoadProfile("rpg");
  ASSERT_TRUE(profile) << profile.error().ToString();
  ProfileToolBox tools(*hub_tools_, *profile);
  Call(tools, "game__reset", {{"seed", 3}});
  Call(tools, "game__send_message", {{"chat_id", "@dungeon_quest_bot"}, {"message", "/start"}});

  // The agent observes by calling the profile's observe tool; it is not offered to the model.
  auto seen = Call(tools, profile->observe_tool, Json::object());
  EXPECT_FALSE(seen.is_error);
  const std::string& text = seen.text;
  size_t messages =
      text.find("[game__get_messages({\"chat_id\":\"@dungeon_quest_bot\",\"page_size\":2})]");
  size_t buttons = text.find("[game__list_inline_buttons({\"chat_id\":\"@dungeon_quest_bot\"})]");
  ASSERT_NE(messages, std::string::npos) << text;
  ASSERT_NE(buttons, std::string::npos) << text;
  EXPECT_LT(messages, buttons) << "the calls are joined in the profile's order";
  EXPECT_NE(text.find("Oakvale · town square"), std::string::npos)
      << "the game bot's town message: " << text;
  EXPECT_NE(text.find("🌲 Forest", buttons), std::string::npos)
      << "the buttons of the newest message: " << text;
  // The profile's omit list: no message dates or flags, each button on one line.
  EXPECT_EQ(text.find("date:"), std::string::npos) << text;
  EXPECT_EQ(text.find("has_inline_buttons"), std::string::npos) << text;
  EXPECT_NE(text.find("- has_callback: true, index: 0, text: 🌲 Forest\n"), std::string::npos)
      << text;
  auto listed = tools.ListTools();
  ASSERT_TRUE(listed);
  for (const auto& t : *listed) EXPECT_NE(t.spec.name, kObservationTool);
}

// The rpg profile's other_chats: once the agent writes to the shop bot, the observation shows
// the shop; a chat the profile does not name is never followed; writing to the game bot again
// brings the game back.
TEST_F(ProfileToolBoxTest, TheObservationFollowsTheChatTheAgentLastWroteTo) {
  StartRpg("rpg");
  auto profile = LoadProfile("rpg");
  ASSERT_TRUE(profile) << profile.error().ToString();
  ASSERT_EQ(profile->other_chats, std::vector<std::string>{"@goblin_market_bot"});
  ProfileToolBox tools(*hub_tools_, *profile);
  Call(tools, "game__reset", {{"seed", 3}});
  Call(tools, "game__send_message", {{"chat_id", "@dungeon_quest_bot"}, {"message", "/start"}});
  auto observe = [&] { return Call(tools, profile->observe_tool, Json::object()).text; };
  EXPECT_NE(observe().find("Oakvale · town square"), std::string::npos);

  Call(tools, "game__send_message", {{"chat_id", "@goblin_market_bot"}, {"message", "/start"}});
  std::string shop = observe();
  EXPECT_NE(shop.find("[game__get_messages({\"chat_id\":\"@goblin_market_bot\""), std::string::npos)
      << shop;
  EXPECT_NE(shop.find("Buy 🧪 Healing Potion"), std::string::npos) << shop;

  // A call that names no chat goes to the chat in view (once the tools were listed), and the
  // model is not told it must name one.
  auto listed = tools.ListTools();
  ASSERT_TRUE(listed);
  for (const auto& t : *listed) {
    if (t.spec.name != "game__press_inline_button") continue;
    EXPECT_TRUE(t.spec.parameters["properties"].contains("chat_id"));
    EXPECT_FALSE(t.spec.parameters.contains("required") &&
                 std::find(t.spec.parameters["required"].begin(),
                           t.spec.parameters["required"].end(),
                           Json("chat_id")) != t.spec.parameters["required"].end());
  }
  EXPECT_NE(Call(tools, "game__list_inline_buttons", Json::object()).text.find("Healing Potion"),
            std::string::npos);
  // Not a chat of the profile: the shop stays in view.
  Call(tools, "game__send_message", {{"chat_id", "@someone_else"}, {"message", "hi"}});
  EXPECT_NE(observe().find("Buy 🧪 Healing Potion"), std::string::npos);

  Call(tools, "game__send_message", {{"chat_id", "@dungeon_quest_bot"}, {"message", "/hero"}});
  std::string game = observe();
  EXPECT_NE(game.find("[game__get_messages({\"chat_id\":\"@dungeon_quest_bot\""), std::string::npos)
      << game;
}

// The Telegram example, with its chat set to the simulator's game bot and the simulator served
// under the Telegram server's name: the model's tools, the observation and a learned skill's
// calls are the same as in the rpg profile.
TEST_F(ProfileToolBoxTest, SkillsTransferToATelegramServerByChangingTheChat) {
  StartRpg("telegram-mcp");
  auto text = ReadFile(kExamples / "telegram.toml");
  ASSERT_TRUE(text);
  std::string edited = *text;
  size_t at = edited.find("chat = \"@your_rpg_bot\"");
  ASSERT_NE(at, std::string::npos);
  edited.replace(at, std::string("chat = \"@your_rpg_bot\"").size(),
                 "chat = \"@dungeon_quest_bot\"");
  auto telegram = ParseProfile(edited, "telegram.toml (chat edited)");
  ASSERT_TRUE(telegram) << telegram.error().ToString();
  auto rpg = LoadProfile("rpg");
  ASSERT_TRUE(rpg);
  ProfileToolBox tools(*hub_tools_, *telegram);

  auto listed = tools.ListTools();
  ASSERT_TRUE(listed) << listed.error().ToString();
  int offered = 0;
  for (const auto& t : *listed) {
    EXPECT_EQ(telegram->ToolAllowed(t.spec.name), rpg->ToolAllowed(t.spec.name)) << t.spec.name;
    offered += telegram->ToolAllowed(t.spec.name) ? 1 : 0;
  }
  EXPECT_EQ(offered, 5);

  // A skill's calls, written against game__*: they reach the server named telegram-mcp.
  ASSERT_FALSE(Call(*hub_tools_, "telegram-mcp__reset", {{"seed", 9}}).is_error);
  Call(tools, "game__send_message", {{"chat_id", "@dungeon_quest_bot"}, {"message", "/start"}});
  auto press = Call(tools, "game__press_inline_button",
                    {{"chat_id", "@dungeon_quest_bot"}, {"button_text", "🌲 Forest"}});
  EXPECT_NE(press.text.find("Whispering Forest"), std::string::npos) << press.text;
  auto seen = Call(tools, telegram->observe_tool, Json::object());
  EXPECT_NE(seen.text.find("[game__list_inline_buttons({\"chat_id\":\"@dungeon_quest_bot\"})]"),
            std::string::npos)
      << seen.text;
  EXPECT_NE(seen.text.find("Hunt"), std::string::npos) << seen.text;
}

TEST_F(ProfileToolBoxTest, AnObservationCallThatFailsIsReportedInItsPlace) {
  StartRpg("rpg");
  auto profile = ParseProfile(R"([environment]
name = "partial"
server = "rpg"
tool_prefix = "game"
chat = "@dungeon_quest_bot"
[[observation.calls]]
tool = "no_such_tool"
[[observation.calls]]
resource = "rpg://state"
)",
                              "partial.toml");
  ASSERT_TRUE(profile) << profile.error().ToString();
  ProfileToolBox tools(*hub_tools_, *profile);
  auto seen = Call(tools, profile->observe_tool, Json::object());
  EXPECT_NE(seen.text.find("[game__no_such_tool({})]"), std::string::npos) << seen.text;
  EXPECT_NE(seen.text.find("[resource rpg://state]\n{"), std::string::npos) << seen.text;

  // When every call fails, the observation is an error the agent shows as unavailable.
  auto none = ParseProfile(
      "[environment]\nname = \"n\"\nserver = \"rpg\"\n[[observation.calls]]\ntool = \"nope\"\n",
      "n.toml");
  ASSERT_TRUE(none);
  ProfileToolBox broken(*hub_tools_, *none);
  auto r = broken.CallTool(std::string(kObservationTool), Json::object(), 30s, {});
  EXPECT_TRUE(!r || r->is_error) << (r ? r->text : "");
}

// `neuronaut run` with a profile file: its server comes from mcp.json, and a server that is
// missing or cannot start stops the run with a message that says what to fix.
class RunProfileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = fs::temp_directory_path() / ("naut-run-profile-" + NewId());
    fs::create_directories(home_);
  }
  void TearDown() override { fs::remove_all(home_); }
  CommandResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), {NAUT_CLI, "--set", "llm.max_retries=0"});
    auto r = RunCommand(
        {.argv = args,
         .env = {{"NEURONAUT_HOME", home_.string()}, {"LLM_BASE_URL", "http://127.0.0.1:1"}}},
        "", 60s);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : CommandResult{};
  }
  fs::path home_;
};

TEST_F(RunProfileTest, TelegramProfileNeedsItsServerInMcpJson) {
  auto r = Run({"run", "--env", (kExamples / "telegram.toml").string(), "--max-tasks", "1"});
  EXPECT_EQ(r.status.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("plays on MCP server 'telegram-mcp', which is neither a built-in server"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find((home_ / "mcp.json").string() + " (no such file)"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("examples/profiles/telegram.mcp.json"), std::string::npos) << r.err;
}

TEST_F(RunProfileTest, TelegramProfileSaysWhenItsServerCannotStart) {
  // The example mcp.json as a user copies it, before installing telegram-mcp.
  auto example = ReadFile(kExamples / "telegram.mcp.json");
  ASSERT_TRUE(example);
  std::string text = *example;
  size_t at = text.find("\"uv\"");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 4, "\"" + (home_ / "no-such-uv").string() + "\"");
  std::ofstream(home_ / "mcp.json") << text;
  auto r = Run({"--set", "mcp.connect_timeout_s=10", "run", "--env",
                (kExamples / "telegram.toml").string(), "--max-tasks", "1"});
  EXPECT_EQ(r.status.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("environment 'telegram': MCP server 'telegram-mcp' could not start"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("no-such-uv"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("check its entry in " + (home_ / "mcp.json").string()), std::string::npos)
      << r.err;
}

// The Telegram example as a user runs it, with mcp.json's "telegram-mcp" entry pointing at the
// simulator: run starts that server from mcp.json and takes the profile's first milestone.
TEST_F(RunProfileTest, TelegramProfileStartsItsServerFromMcpJson) {
  Json mcp = {{"mcpServers",
               {{"telegram-mcp",
                 {{"command", NAUT_CLI},
                  {"args", {"--home", (home_ / "sim").string(), "mcp-server", "rpg"}}}}}}};
  std::ofstream(home_ / "mcp.json") << DumpJson(mcp);
  auto r =
      Run({"run", "--env", (kExamples / "telegram.toml").string(), "--max-tasks", "1", "--json"});
  EXPECT_EQ(r.status.exit_code, 1) << "the model is unreachable: " << r.err;
  EXPECT_EQ(r.err.find("could not start"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("\"env\":\"telegram\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"milestone\":\"start_game\""), std::string::npos) << r.out << r.err;
}

TEST_F(RunProfileTest, ADisabledServerIsNamedNotSkipped) {
  std::ofstream(home_ / "mcp.json")
      << R"({"mcpServers": {"telegram-mcp": {"command": "uv", "disabled": true}}})";
  auto r = Run({"run", "--env", (kExamples / "telegram.toml").string(), "--max-tasks", "1"});
  EXPECT_EQ(r.status.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("plays on MCP server 'telegram-mcp', which is disabled in " +
                       (home_ / "mcp.json").string()),
            std::string::npos)
      << r.err;
}

TEST_F(RunProfileTest, RpgProfileFileStartsTheGameAndTakesTheFirstMilestone) {
  auto r = Run({"run", "--env", (kExamples / "rpg.toml").string(), "--max-tasks", "1", "--json"});
  // The model is unreachable, so the run stops in the first task; everything before it worked:
  // the server started, the milestones were read and the first one became the task.
  EXPECT_EQ(r.status.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("\"type\":\"task_start\""), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("\"milestone\":\"start_game\""), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("could not start"), std::string::npos) << r.err;
}

// Permissions match the names the model sees, so a prefix can take a tool out of the default
// allow list; run says so before it starts rather than refusing in the middle of a task.
TEST_F(RunProfileTest, WarnsAboutToolsThePermissionsWillRefuse) {
  std::ofstream(home_ / "files.toml")
      << "[environment]\nname = \"files\"\nserver = \"fs\"\ntool_prefix = \"files\"\n";
  auto r = Run({"run", "--env", (home_ / "files.toml").string(), "--max-tasks", "1"});
  EXPECT_NE(r.err.find("warning: files__write_file changes or deletes data; it runs only when "
                       "[permissions] allow "
                       "names it"),
            std::string::npos)
      << r.err;
  std::ofstream(home_ / "fs.toml") << "[environment]\nname = \"fs\"\nserver = \"fs\"\n";
  r = Run({"run", "--env", (home_ / "fs.toml").string(), "--max-tasks", "1"});
  EXPECT_EQ(r.err.find("warning: fs__write_file"), std::string::npos)
      << "the default allow names it: " << r.err;
}

}  // namespace
}  // namespace naut::agent

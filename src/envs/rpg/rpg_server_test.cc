// The tool surface as a model meets it: names and arguments of the Telegram MCP server,
// bot-like answers to bad presses, errors naming the field, and a game that survives a restart.

#include <gtest/gtest.h>
#include <toml++/toml.h>

#include <algorithm>
#include <fstream>

#include "core/config.h"
#include "core/files.h"
#include "core/ids.h"
#include "envs/testing/rpg_driver.h"

namespace naut::envs::rpg {
namespace {

namespace fs = std::filesystem;
using testing::Driver;

Json Parse(const std::string& text) {
  auto j = ParseJson(text, "tool result");
  EXPECT_TRUE(j) << text;
  return j ? *j : Json();
}

class RpgServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("naut-rpg-" + NewId());
    fs::create_directories(dir_);
    auto w = RpgWorld::Open("", 3);
    ASSERT_TRUE(w);
    d_.world = *w;
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  Driver d_;
};

TEST_F(RpgServerTest, ToolsMirrorTheTelegramServerSurface) {
  auto tools = RpgWorld::Tools(d_.world);
  std::vector<std::string> names;
  for (const auto& t : tools) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"list_chats", "get_messages", "send_message",
                                             "list_inline_buttons", "press_inline_button",
                                             "check_goal", "reset", "save_state", "load_state"}));
  for (const auto& t : tools) {
    EXPECT_EQ(t.input_schema["type"], "object") << t.name;
    ASSERT_TRUE(t.handler) << t.name;
  }
  const auto& press = tools[4].input_schema["properties"];
  for (const char* arg : {"chat_id", "message_id", "button_text", "button_index"}) {
    EXPECT_TRUE(press.contains(arg)) << arg;
  }
  // The handler works through the tool value, as the server framework calls it.
  mcp::ToolContext ctx;
  auto r = tools[0].handler(Json::object(), ctx);
  Json chats = Parse(d_.Text(r));
  ASSERT_EQ(chats.size(), 2u);
  EXPECT_EQ(chats[0]["id"], kGameChatId);
  EXPECT_EQ(chats[0]["username"], "@dungeon_quest_bot");
  EXPECT_EQ(chats[1]["username"], "@goblin_market_bot");

  auto resources = RpgWorld::Resources(d_.world);
  ASSERT_EQ(resources.size(), 2u);
  EXPECT_EQ(resources[0].uri, "rpg://state");
  auto state = resources[0].read();
  ASSERT_TRUE(state);
  EXPECT_EQ(Parse(state->text)["hero"]["level"], 1);
  auto milestones = resources[1].read();
  ASSERT_TRUE(milestones);
  EXPECT_EQ(Parse(milestones->text)[0]["id"], "start_game");
}

TEST_F(RpgServerTest, AChatLooksLikeABotChat) {
  auto before = Parse(d_.Text(d_.Call("get_messages", Json{{"chat_id", "@dungeon_quest_bot"}})));
  ASSERT_EQ(before.size(), 1u);
  EXPECT_NE(before[0]["text"].get<std::string>().find("/start"), std::string::npos);
  EXPECT_EQ(
      d_.Text(d_.Call("list_inline_buttons", Json{{"chat_id", kGameChatId}})),
      "No message with inline buttons found. Specify message_id to target a specific message.");

  Json sent = Parse(d_.Send(kGameChatId, "/start"));
  EXPECT_EQ(sent["status"], "Message sent successfully.");
  auto messages =
      Parse(d_.Text(d_.Call("get_messages", Json{{"chat_id", kGameChatId}, {"limit", 2}})));
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_NE(messages[0]["text"].get<std::string>().find("Oakvale"),
            std::string::npos);  // newest first
  EXPECT_TRUE(messages[0]["has_inline_buttons"].get<bool>());

  Json buttons = Parse(d_.Text(d_.Call("list_inline_buttons", Json{{"chat_id", kGameChatId}})));
  EXPECT_EQ(buttons["message_id"], messages[0]["id"]);
  EXPECT_EQ(buttons["buttons"][0]["text"], "🌲 Forest");
  EXPECT_EQ(buttons["buttons"][0]["index"], 0);
  EXPECT_EQ(buttons["buttons"][0]["has_callback"], true);
  Json last = buttons["buttons"].back();
  EXPECT_EQ(last["has_callback"], false);
  EXPECT_EQ(last["url"], "https://t.me/goblin_market_bot");

  // Pressing edits the menu in place and answers with a notice.
  Json press = Parse(d_.Press("🌲 forest"));  // text matching is case-insensitive
  EXPECT_EQ(press["response"], "🌲 You walk into the Whispering Forest.");
  auto after =
      Parse(d_.Text(d_.Call("get_messages", Json{{"chat_id", kGameChatId}, {"limit", 1}})));
  EXPECT_NE(after[0]["text"].get<std::string>().find("Whispering Forest"), std::string::npos);
  EXPECT_TRUE(after[0].contains("edit_date"));
}

TEST_F(RpgServerTest, BadPressesGetTheAnswersARealBotGives) {
  d_.Send(kGameChatId, "/start");
  int64_t first_menu =
      Parse(d_.Text(d_.Call("list_inline_buttons", Json{{"chat_id", kGameChatId}})))["message_id"];
  EXPECT_EQ(d_.PressIndex(99), "button_index out of range. Valid indices: 0-6.");
  EXPECT_EQ(d_.PressIndex(-1), "button_index out of range. Valid indices: 0-6.");
  EXPECT_NE(
      d_.Press("Dance").find("Button not found. Available buttons: [0] 🌲 Forest, [1] 🕳 Cave"),
      std::string::npos);
  EXPECT_EQ(
      d_.Press("🛒 Goblin Market"),
      "Selected button opens a URL instead of sending a callback: https://t.me/goblin_market_bot");
  EXPECT_EQ(d_.Text(d_.Call("press_inline_button", Json{{"chat_id", kGameChatId}})),
            "Provide button_text or button_index to choose a button.");
  EXPECT_EQ(
      d_.Text(d_.Call("press_inline_button", Json{{"chat_id", "@nobody"}, {"button_index", 0}})),
      "Chat not found: '@nobody'. Use list_chats to see the available chats.");
  EXPECT_EQ(
      d_.Text(d_.Call("press_inline_button",
                      Json{{"chat_id", kGameChatId}, {"message_id", 999999}, {"button_index", 0}})),
      "Message not found: 999999 in this chat.");

  // A new menu makes the old one stale: the bot answers, the state does not move.
  d_.Send(kGameChatId, "/start");
  std::string before = DumpJson(d_.State()["hero"]);
  Json stale = Parse(d_.Text(
      d_.Call("press_inline_button",
              Json{{"chat_id", kGameChatId}, {"message_id", first_menu}, {"button_index", 0}})));
  EXPECT_EQ(stale["response"], "⌛ This menu has expired. Use the latest message.");
  EXPECT_EQ(d_.State()["location"], "town");
  EXPECT_EQ(DumpJson(d_.State()["hero"]), before);

  // The shop refuses politely what the hero cannot afford, with an alert.
  d_.Send(kShopChatId, "/start");
  Json r = Parse(d_.Press("Buy ⚔️ Steel Sword · 120💰", kShopChatId));
  EXPECT_EQ(r["response"],
            "💸 Not enough gold: the Steel Sword costs 120 💰, you have 25 💰. Telegram displayed an "
            "alert to the "
            "user.");
}

// After a run of text the bot answered without buttons, a press without message_id finds no
// keyboard (the newest kButtonSearchWindow messages have none); a listing with a larger limit
// still shows it with its id, and the checker's "not yet" names that id, so the press it
// describes works.
TEST_F(RpgServerTest, AKeyboardBehindARunOfTextIsNamedByItsMessageId) {
  d_.Send(kGameChatId, "/start");
  d_.Press("🌲 Forest");
  d_.Press("🐾 Hunt");
  ASSERT_TRUE(d_.world->Snapshot().fight());
  EXPECT_NE(d_.world->Snapshot()
                .MilestoneDetail("first_victory")
                .find("press ⚔️ Attack (button_index 0 in @dungeon_quest_bot)"),
            std::string::npos);
  int64_t fight =
      Parse(d_.Text(d_.Call("list_inline_buttons", Json{{"chat_id", kGameChatId}})))["message_id"];
  for (int i = 0; i < kButtonSearchWindow / 2; ++i) d_.Send(kGameChatId, "/back");

  EXPECT_EQ(
      d_.PressIndex(0),
      "No message with inline buttons found. Specify message_id to target a specific message.");
  Json listed = Parse(
      d_.Text(d_.Call("list_inline_buttons", Json{{"chat_id", kGameChatId}, {"limit", 100}})));
  EXPECT_EQ(listed["message_id"], fight);
  std::string hint = d_.world->Snapshot().MilestoneDetail("first_victory");
  EXPECT_NE(hint.find("press ⚔️ Attack (message_id " + std::to_string(fight) +
                      ", button_index 0 in @dungeon_quest_bot)"),
            std::string::npos)
      << hint;

  int enemy_hp = d_.State()["fight"]["enemy"]["hp"].get<int>();
  Json press = Parse(
      d_.Text(d_.Call("press_inline_button",
                      Json{{"chat_id", kGameChatId}, {"message_id", fight}, {"button_index", 0}})));
  EXPECT_TRUE(press.contains("response")) << press;
  Json after = d_.State();
  EXPECT_TRUE(after["fight"].is_null() || after["fight"]["enemy"]["hp"].get<int>() < enemy_hp);
}

TEST_F(RpgServerTest, WrongArgumentTypesAreErrorsNamingTheField) {
  struct Case {
    const char* tool;
    Json args;
    const char* field;
  } cases[] = {
      {"get_messages", Json{{"chat_id", Json::array()}}, "chat_id"},
      {"get_messages", Json::object(), "chat_id"},
      {"get_messages", Json{{"chat_id", kGameChatId}, {"limit", "many"}}, "limit"},
      {"get_messages", Json{{"chat_id", kGameChatId}, {"limit", 0}}, "limit"},
      {"send_message", Json{{"chat_id", kGameChatId}, {"message", 5}}, "message"},
      {"send_message", Json{{"chat_id", kGameChatId}}, "message"},
      {"list_inline_buttons", Json{{"chat_id", kGameChatId}, {"message_id", "latest"}},
       "message_id"},
      {"press_inline_button", Json{{"chat_id", kGameChatId}, {"button_text", 3}}, "button_text"},
      {"press_inline_button", Json{{"chat_id", kGameChatId}, {"button_index", 1.5}},
       "button_index"},
      {"check_goal", Json{{"goal_id", "fly_to_the_moon"}}, "goal_id"},
      {"check_goal", Json::object(), "goal_id"},
      {"reset", Json{{"seed", -4}}, "seed"},
      {"reset", Json{{"seed", "abc"}}, "seed"},
      {"reset", Json::array(), "arguments"},
  };
  for (const auto& c : cases) {
    auto r = d_.Call(c.tool, c.args);
    EXPECT_TRUE(r.is_error) << c.tool << " " << DumpJson(c.args) << " -> " << d_.Text(r);
    EXPECT_NE(d_.Text(r).find(c.field), std::string::npos) << c.tool << " -> " << d_.Text(r);
  }
  // Ids given as strings of digits are accepted, as the Telegram server accepts them.
  EXPECT_FALSE(
      d_.Call("get_messages", Json{{"chat_id", std::to_string(kGameChatId)}, {"limit", "3"}})
          .is_error);
}

TEST_F(RpgServerTest, CheckGoalIsTheGroundTruth) {
  Json g = Parse(d_.Text(d_.Call("check_goal", Json{{"goal_id", "start_game"}})));
  EXPECT_EQ(g["achieved"], false);
  d_.Send(kGameChatId, "/start");
  g = Parse(d_.Text(d_.Call("check_goal", Json{{"goal_id", "start_game"}})));
  EXPECT_EQ(g["achieved"], true);
  g = Parse(d_.Text(d_.Call("check_goal", Json{{"goal_id", "reach_level_2"}})));
  EXPECT_EQ(g["achieved"], false);
  EXPECT_EQ(g["detail"],
            "level 1 of 2 (0 of 20 XP): every fight won gives XP; fights are found in the 🌲 "
            "Forest: press 🌲 Forest (button_index 0 in @dungeon_quest_bot)");
}

TEST_F(RpgServerTest, GameSurvivesARestartAndResumesIdentically) {
  // Reference: one world in memory plays 30 moves, then on to the boss.
  Driver ref{*RpgWorld::Open("", 11)};
  testing::PlayScripted(ref, 30);
  ref.transcript.clear();
  testing::PlayScripted(ref, 400);

  // The same, with the server stopped after 30 moves and a new one opened on the stored file.
  fs::path file = StateFileIn(dir_);
  {
    auto w = RpgWorld::Open(file, 11);
    ASSERT_TRUE(w) << w.error().ToString();
    Driver first{*w};
    testing::PlayScripted(first, 30);
  }
  ASSERT_TRUE(fs::exists(file));
  auto w = RpgWorld::Open(file, 999);  // the stored game wins over the seed
  ASSERT_TRUE(w) << w.error().ToString();
  EXPECT_TRUE((*w)->load_note().empty()) << (*w)->load_note();
  EXPECT_EQ((*w)->StateJson()["seed"], "11");
  Driver second{*w};
  testing::PlayScripted(second, 400);

  EXPECT_EQ(second.transcript, ref.transcript);
  EXPECT_EQ(DumpJson(second.world->StateJson()), DumpJson(ref.world->StateJson()));
  EXPECT_TRUE(second.world->StateJson()["boss_defeated"].get<bool>());
}

TEST_F(RpgServerTest, ACorruptStateFileIsMovedAsideNotLost) {
  fs::path file = StateFileIn(dir_);
  fs::create_directories(file.parent_path());
  std::ofstream(file) << "{\"version\": 1, \"hero\": ";
  auto w = RpgWorld::Open(file, 4);
  ASSERT_TRUE(w) << w.error().ToString();
  EXPECT_NE((*w)->load_note().find("moved to"), std::string::npos) << (*w)->load_note();
  fs::path aside = file;
  aside += ".corrupt";
  auto kept = ReadFile(aside);
  ASSERT_TRUE(kept);
  EXPECT_EQ(*kept, "{\"version\": 1, \"hero\": ");
  EXPECT_EQ((*w)->StateJson()["seed"], "4");
  EXPECT_TRUE(fs::exists(file));  // the new game is stored
}

TEST_F(RpgServerTest, ADeeplyNestedStateFileIsRefusedAndMovedAside) {
  fs::path file = StateFileIn(dir_);
  fs::create_directories(file.parent_path());
  const std::string deep =
      "{\"version\": 1, \"hero\": " + std::string(200000, '[') + std::string(200000, ']') + "}";
  std::ofstream(file) << deep;
  auto w = RpgWorld::Open(file, 5);
  ASSERT_TRUE(w) << w.error().ToString();
  EXPECT_NE((*w)->load_note().find("nests deeper than 256 levels"), std::string::npos)
      << (*w)->load_note();
  fs::path aside = file;
  aside += ".corrupt";
  auto kept = ReadFile(aside);
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->size(), deep.size());
  EXPECT_EQ((*w)->StateJson()["seed"], "5");
}

TEST_F(RpgServerTest, ResetPersists) {
  fs::path file = StateFileIn(dir_);
  {
    Driver d{*RpgWorld::Open(file, 1)};
    d.Send(kGameChatId, "/start");
    d.Call("reset", Json{{"seed", 77}});
  }
  auto w = RpgWorld::Open(file, 0);
  ASSERT_TRUE(w);
  EXPECT_EQ((*w)->StateJson()["seed"], "77");
  EXPECT_EQ((*w)->StateJson()["started"], false);
}

// save_state's answer put back with load_state is the same game, played on the same way; a
// state that is not a game is refused and the game is left as it was.
TEST_F(RpgServerTest, ASavedStateLoadsBackAndPlaysOnIdentically) {
  fs::path file = StateFileIn(dir_);
  Driver d{*RpgWorld::Open(file, 21)};
  testing::PlayScripted(d, 25);
  auto saved = d.Call("save_state", Json::object());
  ASSERT_FALSE(saved.is_error) << d.Text(saved);
  Json state = Parse(d.Text(saved))["state"];
  const std::string before = DumpJson(d.world->StateJson());

  d.transcript.clear();
  testing::PlayScripted(d, 60);
  const auto played = d.transcript;
  const std::string after = DumpJson(d.world->StateJson());
  ASSERT_NE(after, before);

  auto loaded = d.Call("load_state", Json{{"state", state}});
  ASSERT_FALSE(loaded.is_error) << d.Text(loaded);
  EXPECT_EQ(DumpJson(d.world->StateJson()), before);
  auto stored = RpgWorld::Open(file, 0);  // and it is what the state file holds
  ASSERT_TRUE(stored);
  EXPECT_EQ(DumpJson((*stored)->StateJson()), before);
  d.transcript.clear();
  testing::PlayScripted(d, 60);
  EXPECT_EQ(d.transcript, played);
  EXPECT_EQ(DumpJson(d.world->StateJson()), after);

  for (const Json& bad : {Json::object(), Json{{"state", "x"}}, Json{{"state", {{"hero", 1}}}}}) {
    auto r = d.Call("load_state", bad);
    EXPECT_TRUE(r.is_error) << DumpJson(bad);
    EXPECT_NE(d.Text(r).find("state"), std::string::npos) << d.Text(r);
    EXPECT_EQ(DumpJson(d.world->StateJson()), after) << DumpJson(bad);
  }
}

}  // namespace
}  // namespace naut::envs::rpg

namespace naut::envs::rpg {
namespace {

namespace fs = std::filesystem;
using testing::Driver;

std::vector<std::string> TomlStrings(toml::node_view<toml::node> node) {
  std::vector<std::string> out;
  if (auto* arr = node.as_array()) {
    for (const auto& v : *arr) out.push_back(v.value_or(std::string()));
  }
  return out;
}

// The example profiles name tools and resources the servers really have, so a user who copies
// them gets a working environment.
TEST(RpgProfiles, ExampleProfilesMatchTheToolSurface) {
  const fs::path dir = fs::path(NAUT_SOURCE_DIR) / "examples" / "profiles";
  toml::table rpg, telegram;
  try {
    rpg = toml::parse_file((dir / "rpg.toml").string());
    telegram = toml::parse_file((dir / "telegram.toml").string());
  } catch (const toml::parse_error& e) {
    FAIL() << "profile does not parse: " << e.description();
  }
  auto world = RpgWorld::Open("", 1);
  ASSERT_TRUE(world);
  std::vector<std::string> tools;
  for (const auto& t : RpgWorld::Tools(*world)) tools.push_back(t.name);
  auto has_tool = [&](const std::string& name) {
    return std::find(tools.begin(), tools.end(), name) != tools.end();
  };

  auto allowed = TomlStrings(rpg["actions"]["allowed_tools"]);
  ASSERT_FALSE(allowed.empty());
  for (const auto& t : allowed) EXPECT_TRUE(has_tool(t)) << t;
  EXPECT_EQ(TomlStrings(telegram["actions"]["allowed_tools"]), allowed)
      << "the simulator and the real chat must offer the same actions";
  EXPECT_TRUE(has_tool(rpg["checker"]["tool"].value_or(std::string())));
  EXPECT_TRUE(has_tool(rpg["checker"]["reset_tool"].value_or(std::string())));
  EXPECT_TRUE(has_tool(rpg["checker"]["save_state_tool"].value_or(std::string())));
  EXPECT_TRUE(has_tool(rpg["checker"]["load_state_tool"].value_or(std::string())));
  EXPECT_EQ(telegram["checker"]["kind"].value_or(std::string()), "llm");

  // Every observation call works against the simulator and shows the game chat.
  auto* calls = rpg["observation"]["calls"].as_array();
  ASSERT_NE(calls, nullptr);
  Driver d{*world};
  d.Send(kGameChatId, "/start");
  for (const auto& call : *calls) {
    const auto& c = *call.as_table();
    std::string tool = c["tool"].value_or(std::string());
    ASSERT_TRUE(has_tool(tool)) << tool;
    Json args = Json::object();
    for (const auto& [k, v] : *c["arguments"].as_table()) {
      // "{chat}" stands for [environment] chat (the agent's profile loader substitutes it).
      std::string text = v.value_or(std::string());
      if (text == "{chat}") text = rpg["environment"]["chat"].value_or(std::string());
      if (v.is_string()) args[std::string(k.str())] = text;
      if (v.is_integer()) args[std::string(k.str())] = v.value_or(int64_t{0});
    }
    auto r = d.Call(tool, args);
    EXPECT_FALSE(r.is_error) << tool << ": " << d.Text(r);
    // The town menu: its text names the town, its buttons the forest.
    EXPECT_TRUE(d.Text(r).find("Oakvale") != std::string::npos ||
                d.Text(r).find("🌲 Forest") != std::string::npos)
        << tool << ": " << d.Text(r);
  }

  auto resources = RpgWorld::Resources(*world);
  std::string milestones = rpg["milestones"]["resource"].value_or(std::string());
  EXPECT_TRUE(std::any_of(resources.begin(), resources.end(),
                          [&](const auto& r) { return r.uri == milestones; }));
  EXPECT_TRUE(telegram["milestones"]["items"].is_array());

  auto mcp_json = ReadFile(dir / "telegram.mcp.json");
  ASSERT_TRUE(mcp_json);
  auto servers = ParseMcpServers(*mcp_json, "telegram.mcp.json");
  ASSERT_TRUE(servers) << servers.error().ToString();
  ASSERT_EQ(servers->size(), 1u);
  EXPECT_EQ((*servers)[0].name, telegram["environment"]["server"].value_or(std::string()));
}

}  // namespace
}  // namespace naut::envs::rpg

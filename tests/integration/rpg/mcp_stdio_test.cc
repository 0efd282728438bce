// The rpg server as the agent meets it: `neuronaut mcp-server rpg` started as a real process,
// driven over stdio by the MCP client; the game survives a restart of the server.

#include <gtest/gtest.h>

#include <filesystem>

#include "core/ids.h"
#include "core/subprocess.h"
#include "mcp/client.h"
#include "mcp/stdio.h"

namespace naut::mcp {
namespace {

namespace fs = std::filesystem;

std::string Text(const ToolResult& r) {
  std::string out;
  for (const auto& c : r.content) {
    if (c.data.contains("text")) out += c.data["text"].get<std::string>();
  }
  return out;
}

Json ParsedText(const ToolResult& r) {
  auto j = ParseJson(Text(r), "tool result");
  EXPECT_TRUE(j) << Text(r);
  return j ? *j : Json();
}

class RpgMcpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = fs::temp_directory_path() / ("naut-rpg-mcp-" + NewId());
    fs::create_directories(home_);
  }
  void TearDown() override { fs::remove_all(home_); }

  std::unique_ptr<Client> Start() {
    SpawnOptions spawn{.argv = {NAUT_CLI, "--home", home_.string(), "mcp-server", "rpg"}};
    auto client =
        Client::Connect(std::make_unique<StdioClientTransport>("rpg", spawn), ClientOptions{});
    EXPECT_TRUE(client) << client.error().ToString();
    return client ? std::move(*client) : nullptr;
  }
  ToolResult Call(Client& c, const std::string& tool, const Json& args) {
    auto r = c.CallTool(tool, args);
    EXPECT_TRUE(r) << tool << ": " << r.error().ToString();
    return r ? *r : ToolResult{};
  }
  fs::path home_;
};

TEST_F(RpgMcpTest, PlaysOverStdioAndResumesAfterARestart) {
  int64_t game_chat = 0;
  {
    auto c = Start();
    ASSERT_TRUE(c);
    EXPECT_NE(c->instructions().find("@dungeon_quest_bot"), std::string::npos);
    auto tools = c->ListTools();
    ASSERT_TRUE(tools) << tools.error().ToString();
    std::vector<std::string> names;
    for (const auto& t : *tools) names.push_back(t.name);
    for (const char* want : {"list_chats", "get_messages", "send_message", "list_inline_buttons",
                             "press_inline_button", "check_goal", "reset"}) {
      EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
    }

    Json chats = ParsedText(Call(*c, "list_chats", Json::object()));
    ASSERT_EQ(chats.size(), 2u);
    game_chat = chats[0]["id"];
    Call(*c, "reset", Json{{"seed", 21}});
    Call(*c, "send_message", Json{{"chat_id", "@dungeon_quest_bot"}, {"message", "/start"}});
    Json buttons = ParsedText(Call(*c, "list_inline_buttons", Json{{"chat_id", game_chat}}));
    EXPECT_EQ(buttons["buttons"][0]["text"], "🌲 Forest");
    Json press = ParsedText(
        Call(*c, "press_inline_button", Json{{"chat_id", game_chat}, {"button_text", "🌲 Forest"}}));
    EXPECT_EQ(press["response"], "🌲 You walk into the Whispering Forest.");

    // A bad press is an answer; a wrong argument type is an error naming the field.
    auto bad = Call(*c, "press_inline_button", Json{{"chat_id", game_chat}, {"button_index", 42}});
    EXPECT_FALSE(bad.is_error);
    EXPECT_EQ(Text(bad), "button_index out of range. Valid indices: 0-3.");
    auto wrong =
        c->CallTool("press_inline_button", Json{{"chat_id", game_chat}, {"button_index", "first"}});
    EXPECT_TRUE(!wrong || wrong->is_error);
    std::string why = wrong ? Text(*wrong) : wrong.error().message();
    EXPECT_NE(why.find("button_index"), std::string::npos) << why;

    Json goal = ParsedText(Call(*c, "check_goal", Json{{"goal_id", "start_game"}}));
    EXPECT_EQ(goal["achieved"], true);
    auto state = c->ReadResource("rpg://state");
    ASSERT_TRUE(state) << state.error().ToString();
    EXPECT_NE(DumpJson(*state).find("forest"), std::string::npos);
  }
  // A new server process on the same data home continues the same game.
  auto c = Start();
  ASSERT_TRUE(c);
  auto state = c->ReadResource("rpg://state");
  ASSERT_TRUE(state) << state.error().ToString();
  const Json& contents = state->is_array() ? (*state)[0] : (*state)["contents"][0];
  auto parsed = ParseJson(contents["text"].get<std::string>(), "rpg://state");
  ASSERT_TRUE(parsed);
  EXPECT_EQ((*parsed)["seed"], "21");
  EXPECT_EQ((*parsed)["location"], "forest");
  auto milestones = c->ReadResource("rpg://milestones");
  ASSERT_TRUE(milestones);
  EXPECT_NE(DumpJson(*milestones).find("defeat_goblin_boss"), std::string::npos);
  Json press = ParsedText(
      Call(*c, "press_inline_button", Json{{"chat_id", game_chat}, {"button_text", "🐾 Hunt"}}));
  EXPECT_FALSE(press["response"].get<std::string>().empty());
}

// One line nesting 200,000 arrays: before the JSON limits the server died of a stack overflow
// copying the params. Now it answers a parse error and goes on serving the same session.
TEST_F(RpgMcpTest, ADeeplyNestedMessageIsAnsweredAndTheServerGoesOn) {
  using namespace std::chrono_literals;
  auto process = Subprocess::Spawn(
      {.argv = {NAUT_CLI, "--home", home_.string(), "mcp-server", "rpg"}, .pipe_stderr = false});
  ASSERT_TRUE(process) << process.error().ToString();
  LineReader reader((*process)->stdout_fd());
  auto exchange = [&](const std::string& line) -> Json {
    EXPECT_TRUE(WriteLine((*process)->stdin_fd(), line).ok());
    bool too_long = false;
    auto reply = reader.Next(&too_long);
    if (!reply) return nullptr;  // the server closed its output
    auto j = ParseJson(*reply, "reply");
    EXPECT_TRUE(j) << *reply;
    return j ? *j : Json();
  };
  Json init = exchange(
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
      R"("capabilities":{},"clientInfo":{"name":"t","version":"1"}}})");
  ASSERT_TRUE(init.contains("result")) << init.dump();
  ASSERT_TRUE(
      WriteLine((*process)->stdin_fd(), R"({"jsonrpc":"2.0","method":"notifications/initialized"})")
          .ok());

  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  Json refused =
      exchange(R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"send_message",)"
               R"("arguments":{"chat_id":"@dungeon_quest_bot","message":)" +
               deep + "}}}");
  ASSERT_TRUE(refused.is_object()) << "the server died: " << (*process)->Wait().ToString();
  EXPECT_EQ(refused["error"]["code"], kParseError) << refused.dump();
  EXPECT_TRUE(refused["id"].is_null());
  EXPECT_NE(refused["error"]["message"].get<std::string>().find("nests deeper than 256 levels"),
            std::string::npos)
      << refused.dump();

  Json chats =
      exchange(R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_chats",)"
               R"("arguments":{}}})");
  ASSERT_TRUE(chats.contains("result")) << chats.dump();
  EXPECT_EQ(chats["id"], 3);
  EXPECT_NE(chats["result"]["content"][0]["text"].get<std::string>().find("dungeon_quest_bot"),
            std::string::npos)
      << chats.dump();
  (*process)->CloseStdin();
  EXPECT_TRUE((*process)->WaitFor(10s).has_value());
}

}  // namespace
}  // namespace naut::mcp

// `neuronaut play rpg` started as a real process: choices piped on stdin, the chat printed
// with numbered buttons, the game stored in the data home and continued by the next run.

#include <gtest/gtest.h>

#include <fstream>

#include "core/files.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/subprocess.h"

namespace naut {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class PlayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = fs::temp_directory_path() / ("naut-play-" + NewId());
    fs::create_directories(home_);
  }
  void TearDown() override { fs::remove_all(home_); }

  CommandResult Play(std::vector<std::string> args, const std::string& input) {
    args.insert(args.begin(), {NAUT_CLI, "play"});
    auto r = RunCommand({.argv = args, .env = {{"NEURONAUT_HOME", home_.string()}}}, input, 60s);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : CommandResult{};
  }
  Json StoredState() {
    auto text = ReadFile(home_ / "rpg" / "state.json");
    EXPECT_TRUE(text) << text.error().ToString();
    auto j = ParseJson(text ? *text : "", "state.json");
    EXPECT_TRUE(j);
    return j ? *j : Json();
  }
  fs::path home_;
};

TEST_F(PlayTest, PipedChoicesPlayTheGameAndItIsSaved) {
  auto r = Play({"rpg", "--seed", "3"}, "/start\n0\n0\nshop\n/start\ngame\nq\n");
  EXPECT_EQ(r.status.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("[0] 🌲 Forest  [1] 🕳 Cave"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("💬 🌲 You walk into the Whispering Forest."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("⚔️ Fight · round 0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[1] Buy 🗡 Iron Sword · 40💰"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Your game is saved"), std::string::npos);
  Json s = StoredState();
  EXPECT_EQ(s["seed"], "3");
  EXPECT_EQ(s["started"], true);
  EXPECT_FALSE(s["fight"].is_null());

  // The next run continues the same fight.
  r = Play({"rpg"}, "0\nq\n");
  EXPECT_EQ(r.status.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("round 1"), std::string::npos) << r.out;
  EXPECT_EQ(StoredState()["seed"], "3");
}

TEST_F(PlayTest, TheSameSeedAndChoicesPrintTheSameGame) {
  const std::string input = "/start\n0\n0\n0\n0\n0\n0\n/hero\n/inventory\n9\nq\n";
  auto a = Play({"rpg", "--memory", "--seed", "17"}, input);
  auto b = Play({"rpg", "--memory", "--seed", "17"}, input);
  EXPECT_EQ(a.status.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_FALSE(fs::exists(home_ / "rpg" / "state.json"));  // --memory stores nothing
}

TEST_F(PlayTest, BadInputIsAnsweredNotFatal) {
  auto r = Play({"rpg", "--memory"}, "42\n/dance\nhello\n\n   \n999\nq\n");
  EXPECT_EQ(r.status.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("(no buttons to press here; send /start or another /command)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Send /start to begin your adventure."), std::string::npos) << r.out;

  r = Play({"chess"}, "");
  EXPECT_EQ(r.status.exit_code, 2);
  EXPECT_NE(r.err.find("unknown game 'chess'; available: rpg"), std::string::npos) << r.err;
}

// What the terminal shows is what a player needs: an alert reads as a pop-up, and a message
// whose buttons the bot took away is not printed again.
TEST_F(PlayTest, AlertsAndEditsReadLikeAChat) {
  auto r = Play({"rpg", "--memory", "--seed", "4"}, "/start\n0\n0\nshop\n/start\n0\nq\n");
  EXPECT_EQ(r.status.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("  ❗ ⚔️ Finish your fight first!"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("Telegram displayed an alert"), std::string::npos) << r.out;
  size_t forest = r.out.find("│ 🌲 Whispering Forest");
  ASSERT_NE(forest, std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("│ 🌲 Whispering Forest", forest + 1), std::string::npos)
      << "the forest menu printed again after Hunt took its buttons away:\n"
      << r.out;
}

TEST_F(PlayTest, ACorruptSaveIsKeptAsideAndANewGameStarts) {
  fs::create_directories(home_ / "rpg");
  std::ofstream(home_ / "rpg" / "state.json") << "not json";
  auto r = Play({"rpg"}, "q\n");
  EXPECT_EQ(r.status.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("moved to"), std::string::npos) << r.err;
  auto kept = ReadFile(home_ / "rpg" / "state.json.corrupt");
  ASSERT_TRUE(kept);
  EXPECT_EQ(*kept, "not json");
}

}  // namespace
}  // namespace naut

#include "agent/rails.h"

#include <gtest/gtest.h>

namespace naut::agent {
namespace {

using V = RepeatDetector::Verdict;

TEST(RepeatDetectorTest, SameCallSameResultEscalates) {
  RepeatDetector d(3, 5);
  Json args = {{"button_text", "Hunt"}};
  EXPECT_EQ(d.Observe("rpg__press", args, "nothing"), V::kOk);
  EXPECT_EQ(d.Observe("rpg__press", args, "nothing"), V::kOk);
  EXPECT_EQ(d.Observe("rpg__press", args, "nothing"), V::kWarn);
  EXPECT_EQ(d.Observe("rpg__press", args, "nothing"), V::kWarn);
  EXPECT_EQ(d.Observe("rpg__press", args, "nothing"), V::kStop);
}

// A new message id in each answer is not progress (the 1.5B sent /start ten times); a changing
// hit-point count is.
TEST(RepeatDetectorTest, ANewIdInTheAnswerIsNotProgress) {
  RepeatDetector d(3, 5);
  const Json args = {{"message", "/start"}};
  EXPECT_EQ(d.Observe("game__send", args, "message_id: 19 status: sent"), V::kOk);
  EXPECT_EQ(d.Observe("game__send", args, "message_id: 21 status: sent"), V::kOk);
  EXPECT_EQ(d.Observe("game__send", args, "message_id: 23 status: sent"), V::kWarn);
  RepeatDetector json(3, 5);
  for (int id : {23, 25, 27, 29})
    json.Observe("game__send", args, R"({"message_id":)" + std::to_string(id) + "}");
  EXPECT_EQ(json.Observe("game__send", args, R"({"message_id": 31})"), V::kOk);  // another text
  for (int id : {33, 35, 37, 39})
    json.Observe("game__send", args, R"({"message_id": )" + std::to_string(id) + "}");
  EXPECT_EQ(json.repeats(), 5);
  RepeatDetector fight(3, 5);
  for (int hp : {12, 8, 4, 1, 0})
    EXPECT_EQ(fight.Observe("game__press", {{"i", 0}}, "id: 8 Slime " + std::to_string(hp)),
              V::kOk);
}

TEST(RepeatDetectorTest, SameCallWithChangingResultsIsProgress) {
  RepeatDetector d(3, 5);
  Json args = {{"button_text", "Attack"}};
  for (int hp = 30; hp > 0; hp -= 5) {
    EXPECT_EQ(d.Observe("rpg__press", args, "goblin hp " + std::to_string(hp)), V::kOk);
  }
}

TEST(RepeatDetectorTest, TwoCallCycleIsCaught) {
  RepeatDetector d(3, 4);
  V last = V::kOk;
  for (int i = 0; i < 8 && last != V::kStop; ++i) {
    last = d.Observe(i % 2 ? "a" : "b", Json::object(), "same");
  }
  EXPECT_EQ(last, V::kStop);
  d.Reset();
  EXPECT_EQ(d.Observe("a", Json::object(), "same"), V::kOk);
}

TEST(BudgetTest, NamesTheFirstLimitPassed) {
  Budget b({.rounds = 2, .tool_calls = 3, .tokens = 100});
  EXPECT_FALSE(b.Exceeded());
  b.AddToolCall();
  b.AddToolCall();
  b.AddToolCall();
  ASSERT_TRUE(b.Exceeded());
  EXPECT_EQ(*b.Exceeded(), "tool-call budget of 3 calls used up");
  Budget t({.rounds = 9, .tool_calls = 9, .tokens = 100});
  t.AddTokens(150);
  EXPECT_EQ(*t.Exceeded(), "token budget of 100 tokens used up");
  Budget w({.rounds = 9, .tool_calls = 9, .tokens = 100, .wall = std::chrono::milliseconds(0)});
  EXPECT_NE(w.Exceeded()->find("time budget"), std::string::npos);
}

}  // namespace
}  // namespace naut::agent

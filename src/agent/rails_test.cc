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

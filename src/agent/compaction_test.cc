#include "agent/compaction.h"

#include <gtest/gtest.h>

namespace naut::agent {
namespace {

TEST(CompactionTest, TextWithinTheCapIsKeptWhole) { EXPECT_EQ(Truncate("short", 5, "x"), "short"); }

TEST(CompactionTest, LongTextKeepsItsHeadAndTailAndSaysWhatWasCut) {
  std::string text(100, 'a');
  text.replace(90, 10, std::string(10, 'z'));
  std::string cut = Truncate(text, 40, "observation");
  // Three quarters of the cap from the start, one quarter from the end.
  EXPECT_EQ(cut.substr(0, 30), std::string(30, 'a'));
  EXPECT_NE(cut.find("[... 60 characters of observation cut to fit the context ...]"),
            std::string::npos)
      << cut;
  EXPECT_TRUE(cut.ends_with("\n" + std::string(10, 'z')));
}

TEST(CompactionTest, CutsNeverSplitAUtf8Sequence) {
  std::string text;
  for (int i = 0; i < 50; ++i) text += "é";  // two bytes each
  std::string cut = Truncate(text, 21, "text");
  // Head: 15 bytes would end inside a character, so 14; tail: 6 bytes start on a boundary.
  EXPECT_EQ(cut.substr(0, 14), text.substr(0, 14));
  EXPECT_NE(cut.find("[... 80 characters"), std::string::npos) << cut;
  EXPECT_TRUE(cut.ends_with("]\n" + text.substr(94)));
}

TEST(CompactionTest, OneLineFlattensAndCaps) {
  EXPECT_EQ(OneLine("a\nb\tc\rd", 100), "a b c d");
  EXPECT_EQ(OneLine("abcdef", 3), "abc...");
}

TEST(CompactionTest, NoEarlierRoundsNoFeedback) { EXPECT_EQ(CompactEarlierRounds({}, 1000), ""); }

TEST(CompactionTest, TheLatestRoundIsShownInItsLastStepsOlderOnesInALine) {
  RoundLog first{{"a()", "b()"}, "nothing happened", ""};
  RoundLog latest;
  for (int i = 1; i <= 12; ++i) latest.steps.push_back("step" + std::to_string(i) + "()");
  latest.error = "tool failed";
  latest.critique = "still 0 points";
  std::string feedback = CompactEarlierRounds({first, latest}, 100000);
  EXPECT_EQ(feedback,
            "Earlier rounds of this task did not succeed:\n"
            "Round 1: 2 steps;  critique: nothing happened\n\n"
            "Round 2:\n  (2 earlier steps omitted)\n"
            "  step3()\n  step4()\n  step5()\n  step6()\n  step7()\n  step8()\n  step9()\n"
            "  step10()\n  step11()\n  step12()\n"
            "  error: tool failed\n  critique: still 0 points\n");
}

TEST(CompactionTest, EarlierRoundsAreCutToTheirShare) {
  RoundLog latest{{std::string(500, 's')}, "", ""};
  std::string feedback = CompactEarlierRounds({latest}, 200);
  EXPECT_NE(feedback.find("characters of earlier rounds cut to fit"), std::string::npos);
  EXPECT_LT(feedback.size(), 300u);
}

TEST(CompactionTest, AnEpisodeIsEveryStepALineCapped) {
  std::vector<RoundLog> rounds = {{{"a()", "b()"}, "", ""}, {{"c()"}, "", ""}};
  EXPECT_EQ(EpisodeSummary(rounds, 100), "a()\nb()\nc()\n");
  EXPECT_NE(EpisodeSummary(rounds, 8).find("characters of episode cut"), std::string::npos);
}

TEST(CompactionTest, AConversationTooLongLosesItsOldestExchangeFirst) {
  std::vector<llm::Message> m = {llm::Message::System("sys"),   llm::Message::User("task"),
                                 llm::Message::Assistant("a1"), llm::Message::User("r1"),
                                 llm::Message::Assistant("a2"), llm::Message::User("r2")};
  ASSERT_TRUE(ShrinkConversation(m));
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[1].content, "task");
  EXPECT_EQ(m[2].content, "a2");
  ASSERT_TRUE(ShrinkConversation(m));
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[2].content, "r2");
  // Only the task prompt and a short latest message: nothing left to shorten.
  EXPECT_FALSE(ShrinkConversation(m));
}

TEST(CompactionTest, ALongLatestMessageIsCutToHalfWhenNothingElseCanGo) {
  std::vector<llm::Message> m = {llm::Message::System("sys"), llm::Message::User("task"),
                                 llm::Message::User(std::string(1000, 'x'))};
  ASSERT_TRUE(ShrinkConversation(m));
  EXPECT_LT(m[2].content.size(), 600u);
  EXPECT_NE(m[2].content.find("characters of message cut"), std::string::npos);
  std::vector<llm::Message> two = {llm::Message::System("sys"),
                                   llm::Message::User(std::string(1000, 'x'))};
  EXPECT_FALSE(ShrinkConversation(two));
}

}  // namespace
}  // namespace naut::agent

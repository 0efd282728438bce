#include "agent/library.h"

#include <gtest/gtest.h>

namespace naut::agent {
namespace {

TEST(WorkedExampleTest, TheStepsOfAnEpisodeRecordShortAndInOrder) {
  EXPECT_EQ(WorkedExample("Win a fight.\nsuccess\ngame__press({\"i\":0}) -> You walk in.\n\n"
                          "game__press({\"i\":0}) -> Victory!\n"),
            ". Steps: game__press({\"i\":0}) -> You walk in. | game__press({\"i\":0}) -> Victory!");
  // No steps: nothing to show.
  EXPECT_EQ(WorkedExample("Win a fight.\nsuccess: done\n"), "");
  EXPECT_EQ(WorkedExample(""), "");
  // Each step and the whole are capped.
  std::string text = "t\nsuccess\n";
  for (int i = 0; i < 40; ++i) text += "game__press(" + std::string(300, 'x') + ")\n";
  std::string shown = WorkedExample(text);
  EXPECT_LE(shown.size(), 1000u);
  EXPECT_GT(shown.size(), 400u);
}

}  // namespace
}  // namespace naut::agent

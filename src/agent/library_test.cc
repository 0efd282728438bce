#include "agent/library.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/ids.h"
#include "memory/embedder.h"

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

// A success is a worked example only for a task like it: the steps of an unlike one are left out.
TEST(StoreEpisodeMemoryTest, StepsAreShownOnlyForLikeTasks) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("naut-episodes-" + NewId());
  fs::create_directories(dir);
  {
    auto store = memory::MemoryStore::Open(dir / "neuronaut.db",
                                           std::make_unique<memory::HashingEmbedder>(256),
                                           {.index_dir = dir / "index"});
    ASSERT_TRUE(store) << store.error().ToString();
    StoreEpisodeMemory episodes(**store, 0.3);
    ASSERT_TRUE(episodes
                    .Record({.env = "rpg",
                             .task = "Send /start to the game bot.",
                             .success = true,
                             .summary = "game__send_message({})  # sent\n"})
                    .ok());
    auto like = episodes.Retrieve("Send /start to the game bot.", "rpg", 5);
    ASSERT_TRUE(like);
    ASSERT_EQ(like->size(), 1u);
    EXPECT_NE((*like)[0].find("Steps: game__send_message"), std::string::npos) << (*like)[0];
    auto unlike = episodes.Retrieve("Win a fight against any monster.", "rpg", 5);
    ASSERT_TRUE(unlike);
    ASSERT_EQ(unlike->size(), 1u);
    EXPECT_EQ((*unlike)[0], "\"Send /start to the game bot.\": success");
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace naut::agent

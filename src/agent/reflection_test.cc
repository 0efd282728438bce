#include "agent/reflection.h"

#include <gtest/gtest.h>

#include <deque>
#include <filesystem>

#include "agent/library.h"
#include "core/ids.h"
#include "memory/embedder.h"

namespace naut::agent {
namespace {

namespace fs = std::filesystem;

TEST(ParseLessonsTest, LessonsAreReadLenientlyAndKeepOnlyTheEpisodesShown) {
  auto lessons = ParseLessons(
      "```json\n{\"lessons\": [{\"lesson\": \"Rest at the inn before a fight when HP is low.\", "
      "\"importance\": 14, \"episodes\": [3, 99, 3, 4]}, {\"lesson\": \"Buy potions first.\", "
      "\"importance\": 0.5, \"episodes\": []}, {\"lesson\": \"\"}, {\"nope\": 1}, "
      "{\"lesson\": \"c\", \"importance\": 2, \"episodes\": [4]}, "
      "{\"lesson\": \"d\", \"importance\": 2, \"episodes\": [4]}]}\n```",
      {3, 4});
  ASSERT_TRUE(lessons) << lessons.error().ToString();
  ASSERT_EQ(lessons->size(), 3u);  // kLessonsPerReplay
  EXPECT_EQ((*lessons)[0].text, "Rest at the inn before a fight when HP is low.");
  EXPECT_EQ((*lessons)[0].importance, 10);  // clamped to 1..10
  EXPECT_EQ((*lessons)[0].episodes, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ((*lessons)[1].importance, 1);
  EXPECT_TRUE((*lessons)[1].episodes.empty());
  EXPECT_EQ((*lessons)[2].text, "c");

  auto none = ParseLessons("{\"lessons\": []}", {1});
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  for (const char* bad : {"I learned that fighting is hard.", "{\"lesson\": \"x\"}", "[]"}) {
    auto r = ParseLessons(bad, {1});
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message().find("not {\"lessons\""), std::string::npos);
  }
}

class ReflectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("naut-reflect-" + NewId());
    fs::create_directories(dir_);
    auto store = memory::MemoryStore::Open(dir_ / "neuronaut.db",
                                           std::make_unique<memory::HashingEmbedder>(256),
                                           {.index_dir = dir_ / "index"});
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
    episodes_ = std::make_unique<StoreEpisodeMemory>(*store_, 0.3);
    access_.ask_model = [this](std::vector<llm::Message> messages,
                               const llm::ResponseFormat& format) -> llm::ChatResult {
      prompts.push_back(messages.at(0).content);
      EXPECT_EQ(format.type, llm::ResponseFormat::Type::kJsonSchema);
      if (answers.empty()) return llm::LlmError{llm::LlmError::Kind::kNetwork, "unreachable"};
      llm::ChatResponse r;
      r.content = answers.front();
      answers.pop_front();
      return r;
    };
    access_.prompt = [](const std::string& name, const std::map<std::string, std::string>& v) {
      return Result<std::string>(name + "|" + v.at("env") + "|" + v.at("episodes") + "|" +
                                 v.at("lessons"));
    };
    access_.observe = [] { return std::string(); };
    access_.emit = [this](const std::string& type, const Json& f) {
      events.push_back(type + " " + DumpJson(f));
    };
  }
  void TearDown() override {
    episodes_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  void Record(const std::string& task, bool success, const std::string& critique) {
    ASSERT_TRUE(episodes_
                    ->Record({.env = "rpg",
                              .task = task,
                              .success = success,
                              .critique = critique,
                              .summary = "game__press({\"i\":0}) -> You attack.",
                              .run_id = "run-1"})
                    .ok());
  }

  fs::path dir_;
  std::unique_ptr<memory::MemoryStore> store_;
  std::unique_ptr<StoreEpisodeMemory> episodes_;
  LoopAccess access_;
  std::deque<std::string> answers;
  std::vector<std::string> prompts, events;
};

// A replay shows the episodes with their ids, stores the lessons the model draws with their
// importance and the episodes they came from, and is not asked again for the same episodes; a
// lesson stored already, or naming no episode shown, is dropped; the lessons come first, most
// important first, when the actor is shown its memories.
TEST_F(ReflectorTest, LessonsAreDrawnFromNewEpisodesOnlyAndShownBeforeThem) {
  Record("Win a fight against any monster.", false, "the hero died: HP 0");
  Record("Win a fight against any monster.", true, "");
  Reflector reflector(*episodes_, "rpg", "run-1", access_);
  answers = {R"({"lessons": [
      {"lesson": "Fighting with HP under 10 kills the hero: drink a potion first.",
       "importance": 9, "episodes": [1]},
      {"lesson": "Win fights in the forest by attacking until Victory.", "importance": 4,
       "episodes": [1, 2]},
      {"lesson": "A lesson from nowhere.", "importance": 5, "episodes": [77]}]})"};
  auto report = reflector.Replay("task failed");
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_EQ(report->episodes, 2);
  EXPECT_EQ(report->stored.size(), 2u);
  ASSERT_EQ(report->dropped.size(), 1u);
  EXPECT_EQ(report->dropped[0], "A lesson from nowhere.: names none of the episodes shown");
  ASSERT_EQ(prompts.size(), 1u);
  EXPECT_NE(prompts[0].find("- #1 Win a fight against any monster.\nfailure: the hero died"),
            std::string::npos)
      << prompts[0];
  EXPECT_NE(prompts[0].find("- #2 Win a fight"), std::string::npos);
  EXPECT_NE(prompts[0].find("|(none yet)"), std::string::npos);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_NE(events[0].find(R"("status":"done")"), std::string::npos) << events[0];
  EXPECT_NE(events[0].find(R"("why":"task failed")"), std::string::npos) << events[0];

  auto stored = store_->Recent(memory::Kind::kReflection, "rpg", 10);
  ASSERT_TRUE(stored);
  ASSERT_EQ(stored->size(), 2u);
  EXPECT_EQ((*stored)[0].importance, 9);
  EXPECT_EQ((*stored)[0].sources, (std::vector<int64_t>{1}));
  EXPECT_EQ((*stored)[0].run_id, "run-1");
  EXPECT_EQ((*stored)[1].sources, (std::vector<int64_t>{1, 2}));

  // Nothing new: no model call.
  auto again = reflector.Replay("run end");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->episodes, 0);
  EXPECT_EQ(prompts.size(), 1u);

  // A new episode is replayed alone, with the lessons known; the same lesson again is dropped.
  Record("Buy a Healing Potion from the Goblin Market.", false, "not enough gold: 3 of 10");
  answers = {
      R"({"lessons": [{"lesson": "Fighting with HP under 10 kills the hero: drink a potion first.",
      "importance": 9, "episodes": [5]}]})"};
  auto third = reflector.Replay("task failed");
  ASSERT_TRUE(third) << third.error().ToString();
  EXPECT_EQ(third->episodes, 1);
  ASSERT_EQ(prompts.size(), 2u);
  EXPECT_EQ(prompts[1].find("#2 "), std::string::npos) << prompts[1];
  EXPECT_NE(prompts[1].find("- #5 Buy a Healing Potion"), std::string::npos) << prompts[1];
  EXPECT_NE(prompts[1].find("- Fighting with HP under 10 kills the hero"), std::string::npos);
  EXPECT_TRUE(third->stored.empty());
  ASSERT_EQ(third->dropped.size(), 1u);
  EXPECT_NE(third->dropped[0].find("nearly the same as lesson #3"), std::string::npos)
      << third->dropped[0];

  // What the actor is shown for a fight: the lessons first, the more important one first.
  auto shown = episodes_->Retrieve("Win a fight against any monster.", "rpg", 5);
  ASSERT_TRUE(shown);
  ASSERT_GE(shown->size(), 4u);
  EXPECT_EQ((*shown)[0], "Lesson: Fighting with HP under 10 kills the hero: drink a potion first.");
  EXPECT_EQ((*shown)[1], "Lesson: Win fights in the forest by attacking until Victory.");
  EXPECT_EQ((*shown)[2].find("Lesson:"), std::string::npos);
}

// An answer that is not the JSON asked for stores nothing, says so, and is not asked again for
// the same episodes; a model that cannot be reached is an error and the episodes stay to replay.
TEST_F(ReflectorTest, ABadAnswerOrNoModelStoresNothingAndSaysSo) {
  Record("Win a fight against any monster.", false, "the hero died");
  Reflector reflector(*episodes_, "rpg", "run-1", access_);
  auto unreachable = reflector.Replay("task failed");
  ASSERT_FALSE(unreachable);
  EXPECT_NE(events.back().find(R"("status":"failed")"), std::string::npos);

  answers = {"Fighting is dangerous."};
  auto bad = reflector.Replay("task failed");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("not {\"lessons\""), std::string::npos);
  EXPECT_EQ(prompts.size(), 2u);  // the same episode was shown again after the network error
  auto stored = store_->Recent(memory::Kind::kReflection, "rpg", 10);
  ASSERT_TRUE(stored);
  EXPECT_TRUE(stored->empty());
  auto after = reflector.Replay("run end");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->episodes, 0);
  EXPECT_EQ(prompts.size(), 2u);
}

}  // namespace
}  // namespace naut::agent

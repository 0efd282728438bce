#include "agent/curriculum.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <set>

#include "core/ids.h"

namespace naut::agent {
namespace {

namespace fs = std::filesystem;

TEST(CurriculumParseTest, SubgoalsAreTheNonEmptyStringsInOrder) {
  EXPECT_EQ(ParseSubgoals(R"({"subgoals": ["open the chat", "", 3, "press start"]})"),
            (std::vector<std::string>{"open the chat", "press start"}));
  EXPECT_TRUE(ParseSubgoals("first open the chat").empty());
  EXPECT_TRUE(ParseSubgoals(R"({"subgoals": "open the chat"})").empty());
}

TEST(CurriculumParseTest, AProposedTaskNeedsATask) {
  auto t = ParseProposedTask(
      R"({"reasoning": "level up first", "task": "Win a fight", "milestone": "level_2"})");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->task, "Win a fight");
  EXPECT_EQ(t->milestone, "level_2");
  EXPECT_EQ(t->reasoning, "level up first");
  auto bare = ParseProposedTask(R"({"task": "Explore"})");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->milestone, "");
  EXPECT_FALSE(ParseProposedTask(R"({"task": ""})"));
  EXPECT_FALSE(ParseProposedTask(R"({"reasoning": "no idea"})"));
  EXPECT_FALSE(ParseProposedTask("Win a fight"));
}

TEST(CurriculumParseTest, OpenMilestonesSkipTheDoneAndWhatKeepsFailing) {
  std::vector<MilestoneRecord> ms = {{.id = "a", .done = true}, {.id = "b"}, {.id = "c"}};
  std::vector<TaskRecord> failed = {{.milestone = "b"}, {.milestone = "b"}, {.milestone = "c"}};
  auto ids = [](const std::vector<MilestoneRecord>& open) {
    std::vector<std::string> out;
    for (const auto& m : open) out.push_back(m.id);
    return out;
  };
  EXPECT_EQ(ids(OpenMilestones(ms, failed, 2)), (std::vector<std::string>{"c"}));
  EXPECT_EQ(ids(OpenMilestones(ms, failed, 3)), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(ids(OpenMilestones(ms, failed, 1)), (std::vector<std::string>{}));
  // Lessons drawn from b's failures (tasks 1 and 2) give b one more attempt, no more.
  failed = {{.id = 1, .milestone = "b"}, {.id = 2, .milestone = "b"}, {.id = 3, .milestone = "c"}};
  std::vector<std::vector<int64_t>> asked;
  auto lessons_about_b = [&](const std::vector<int64_t>& tasks) {
    asked.push_back(tasks);
    return tasks == std::vector<int64_t>{1, 2};
  };
  EXPECT_EQ(ids(OpenMilestones(ms, failed, 2, lessons_about_b)),
            (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(asked, (std::vector<std::vector<int64_t>>{{1, 2}}));  // c, failed once, is open anyway
  EXPECT_EQ(ids(OpenMilestones(ms, failed, 2, [](const auto&) { return false; })),
            (std::vector<std::string>{"c"}));
  failed.push_back({.id = 4, .milestone = "b"});
  EXPECT_EQ(ids(OpenMilestones(ms, failed, 2, lessons_about_b)), (std::vector<std::string>{"c"}));
}

class CurriculumTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("naut-curriculum-" + NewId());
    fs::create_directories(dir_);
    progress_ = std::move(ProgressStore::Open(dir_ / "neuronaut.db", dir_ / "PROGRESS.md")).value();
    ASSERT_TRUE(progress_
                    ->DeclareMilestones("counter", {{.id = "one", .description = "Get one point"},
                                                    {.id = "two", .description = "Get two"}})
                    .ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  Curriculum Make(CurriculumOptions options = {}) {
    options.env = "counter";
    options.run_id = "run-1";
    LoopAccess access;
    access.ask_model = [this](std::vector<llm::Message> messages,
                              const llm::ResponseFormat&) -> llm::ChatResult {
      prompts.push_back(messages.front().content);
      if (answers.empty()) return llm::LlmError{llm::LlmError::Kind::kNetwork, "unreachable"};
      llm::ChatResponse r;
      r.content = answers.front();
      answers.pop_front();
      return r;
    };
    access.prompt = [](const std::string& name, const std::map<std::string, std::string>& v) {
      std::string text = name;
      for (const auto& [k, value] : v) text += "|" + k + "=" + value;
      return Result<std::string>(text);
    };
    access.observe = [] { return std::string("points 0"); };
    access.emit = [this](const std::string& type, const Json& f) {
      events.push_back(type + " " + DumpJson(f));
    };
    return Curriculum(*progress_, options, access,
                      [this](const TaskRecord& t) { return achieved.contains(t.milestone); });
  }
  // The next task's milestone (or description when it has none); "-" when there is none.
  std::string Next(Curriculum& c) {
    auto next = c.Next({});
    EXPECT_TRUE(next) << next.error().ToString();
    if (!next || !next->has_value()) return "-";
    return (*next)->milestone.empty() ? (*next)->description : (*next)->milestone;
  }
  void Fail(const std::string& milestone) {
    auto id = progress_->BeginTask(
        {.env = "counter", .description = milestone, .milestone = milestone, .run_id = "run-0"});
    ASSERT_TRUE(id);
    ASSERT_TRUE(progress_->FinishTask(*id, TaskStatus::kFailed, "", "no").ok());
  }

  fs::path dir_;
  std::unique_ptr<ProgressStore> progress_;
  std::deque<std::string> answers;
  std::vector<std::string> prompts;
  std::vector<std::string> events;
  std::set<std::string> achieved;
};

TEST_F(CurriculumTest, ATaskLeftActiveComesFirstAsAnotherAttempt) {
  ASSERT_TRUE(progress_->BeginTask(
      {.env = "counter", .description = "Get two", .milestone = "two", .run_id = "run-0"}));
  Curriculum c = Make();
  auto next = c.Next({});
  ASSERT_TRUE(next && next->has_value());
  EXPECT_EQ((*next)->milestone, "two");
  EXPECT_EQ((*next)->attempts, 2);
  EXPECT_EQ((*next)->run_id, "run-1");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].starts_with("resume ")) << events[0];
}

TEST_F(CurriculumTest, AGoalIsPursuedAsItsSubgoalsThenNothingMore) {
  Curriculum c = Make({.goal = "Reach level 2"});
  answers = {R"({"subgoals": ["Train", "Fight"]})"};
  ASSERT_TRUE(c.DecomposeGoal().ok());
  EXPECT_NE(prompts[0].find("decompose|env_description=|env_name=counter|goal=Reach level 2"),
            std::string::npos)
      << prompts[0];
  EXPECT_EQ(Next(c), "Train");
  ASSERT_TRUE(progress_->FinishTask(1, TaskStatus::kDone, "", "").ok());
  EXPECT_EQ(Next(c), "Fight");
  ASSERT_TRUE(progress_->FinishTask(2, TaskStatus::kDone, "", "").ok());
  EXPECT_EQ(Next(c), "-");
  EXPECT_EQ(events[0], R"(goal {"goal":"Reach level 2","subgoals":["Train","Fight"]})");
}

TEST_F(CurriculumTest, AGoalTheModelDoesNotSplitIsOneTask) {
  Curriculum c = Make({.goal = "Reach level 2"});
  ASSERT_TRUE(c.DecomposeGoal().ok());  // the model is unreachable
  EXPECT_EQ(Next(c), "Reach level 2");
}

TEST_F(CurriculumTest, TheFixedCurriculumRetriesTheFirstMilestoneNotReached) {
  Fail("one");
  Fail("one");
  Fail("one");
  Curriculum c = Make({.kind = CurriculumKind::kFixed, .skip_after_failures = 1});
  EXPECT_EQ(Next(c), "one");
  ASSERT_TRUE(progress_->MarkMilestone("counter", "one", "").ok());
  ASSERT_TRUE(progress_->MarkMilestone("counter", "two", "").ok());
  ASSERT_TRUE(progress_->FinishTask(4, TaskStatus::kDone, "", "").ok());
  EXPECT_EQ(Next(c), "-");  // nothing proposed
  EXPECT_TRUE(prompts.empty());
}

TEST_F(CurriculumTest, TheAutomaticCurriculumSkipsWhatKeepsFailingAndWhatIsReached) {
  Fail("one");
  Fail("one");
  Curriculum c = Make({.skip_after_failures = 2});
  EXPECT_EQ(Next(c), "two");
  ASSERT_TRUE(progress_->FinishTask(3, TaskStatus::kFailed, "", "no").ok());

  achieved = {"two"};  // the world shows it reached: marked, not given
  answers = {R"({"task": "Explore the shop", "reasoning": "new", "milestone": ""})"};
  EXPECT_EQ(Next(c), "Explore the shop");
  EXPECT_TRUE((*progress_->Milestones("counter"))[1].done);
  EXPECT_TRUE(std::any_of(events.begin(), events.end(), [](const std::string& e) {
    return e.starts_with("milestone ") && e.find("already achieved") != std::string::npos;
  }));
  // The model was told what is done and what failed.
  ASSERT_EQ(prompts.size(), 1u);
  EXPECT_NE(prompts[0].find("failed=one; one; Get two"), std::string::npos) << prompts[0];
  EXPECT_NE(prompts[0].find("- [ ] one: Get one point"), std::string::npos) << prompts[0];
}

TEST_F(CurriculumTest, ANewGameGivesEveryMilestoneAFreshStart) {
  Fail("one");
  ASSERT_TRUE(progress_->StartNewGame("counter").ok());
  Curriculum c = Make({.skip_after_failures = 1});
  EXPECT_EQ(Next(c), "one");
}

TEST_F(CurriculumTest, AProposalNamingNoTaskIsAnError) {
  ASSERT_TRUE(progress_->MarkMilestone("counter", "one", "").ok());
  ASSERT_TRUE(progress_->MarkMilestone("counter", "two", "").ok());
  Curriculum c = Make();
  answers = {"I would explore."};
  auto next = c.Next({});
  ASSERT_FALSE(next);
  EXPECT_EQ(next.error().message(), "the curriculum's answer named no task: I would explore.");
  auto unreachable = c.Next({});
  ASSERT_FALSE(unreachable);
  EXPECT_NE(unreachable.error().message().find("the curriculum could not ask the model"),
            std::string::npos);
}

}  // namespace
}  // namespace naut::agent

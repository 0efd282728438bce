#include "agent/progress.h"

#include <gtest/gtest.h>

#include "core/files.h"
#include "core/ids.h"

namespace naut::agent {
namespace {

namespace fs = std::filesystem;

class ProgressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("naut-progress-" + NewId());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::unique_ptr<ProgressStore> Open() {
    auto s = ProgressStore::Open(dir_ / "neuronaut.db", dir_ / "PROGRESS.md");
    EXPECT_TRUE(s) << s.error().ToString();
    return s ? std::move(s).value() : nullptr;
  }
  fs::path dir_;
};

TEST_F(ProgressTest, MilestonesAndTasksSurviveReopenAndRenderAsChecklist) {
  {
    auto p = Open();
    ASSERT_TRUE(p->StartRun({.id = "run-1", .env = "rpg"}).ok());
    ASSERT_TRUE(p->DeclareMilestones("rpg", {{.id = "level_2", .description = "Reach level 2"},
                                             {.id = "boss", .description = "Defeat the boss"}})
                    .ok());
    auto id = p->BeginTask({.env = "rpg",
                            .description = "Hunt in the forest",
                            .milestone = "level_2",
                            .run_id = "run-1"});
    ASSERT_TRUE(id);
    ASSERT_TRUE(p->FinishTask(*id, TaskStatus::kDone, "hunt_forest", "").ok());
    ASSERT_TRUE(p->MarkMilestone("rpg", "level_2", "hunt_forest").ok());
    ASSERT_TRUE(p->BeginTask({.env = "rpg", .description = "Buy a sword", .run_id = "run-1"}));
  }
  auto p = Open();
  auto milestones = p->Milestones("rpg");
  ASSERT_TRUE(milestones);
  ASSERT_EQ(milestones->size(), 2u);
  EXPECT_TRUE((*milestones)[0].done);
  EXPECT_EQ((*milestones)[0].skill, "hunt_forest");
  EXPECT_FALSE((*milestones)[1].done);
  auto active = p->ActiveTask("rpg");
  ASSERT_TRUE(active && active->has_value());
  EXPECT_EQ((*active)->description, "Buy a sword");

  std::string md = *ReadFile(dir_ / "PROGRESS.md");
  EXPECT_NE(md.find("- [x] `level_2` Reach level 2"), std::string::npos) << md;
  EXPECT_NE(md.find("skill `hunt_forest`"), std::string::npos) << md;
  EXPECT_NE(md.find("- [ ] `boss` Defeat the boss"), std::string::npos) << md;
  EXPECT_NE(md.find("- [ ] Buy a sword (in progress, attempt 1)"), std::string::npos) << md;
}

TEST_F(ProgressTest, RedeclaringMilestonesKeepsTheirState) {
  auto p = Open();
  ASSERT_TRUE(p->DeclareMilestones("rpg", {{.id = "a", .description = "A"}}).ok());
  ASSERT_TRUE(p->MarkMilestone("rpg", "a", "").ok());
  ASSERT_TRUE(p->DeclareMilestones(
                   "rpg", {{.id = "a", .description = "A again"}, {.id = "b", .description = "B"}})
                  .ok());
  auto m = *p->Milestones("rpg");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_TRUE(m[0].done);
  EXPECT_EQ(m[0].description, "A again");
}

TEST_F(ProgressTest, RetryCountsAttemptsAndFailureRecordsReason) {
  auto p = Open();
  auto id = *p->BeginTask({.env = "pkg", .description = "Build a library"});
  ASSERT_TRUE(p->RetryTask(id, "run-2").ok());
  ASSERT_TRUE(p->FinishTask(id, TaskStatus::kFailed, "", "tests still fail").ok());
  auto failed = *p->Tasks("pkg", TaskStatus::kFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].attempts, 2);
  EXPECT_EQ(failed[0].critique, "tests still fail");
  EXPECT_FALSE(p->ActiveTask("pkg")->has_value());
  EXPECT_EQ(p->FinishTask(999, TaskStatus::kDone, "", "").code(), Code::kNotFound);
}

TEST_F(ProgressTest, ANewGameUndoesMilestonesAndAbandonsTheActiveTask) {
  auto store_ = Open();
  ASSERT_TRUE(store_->DeclareMilestones("rpg", {{"rpg", "a", "A"}, {"rpg", "b", "B"}}).ok());
  ASSERT_TRUE(store_->MarkMilestone("rpg", "a", "skill_a").ok());
  auto done = store_->BeginTask({.env = "rpg", .description = "A", .milestone = "a"});
  ASSERT_TRUE(store_->FinishTask(*done, TaskStatus::kDone, "skill_a", "").ok());
  auto open = store_->BeginTask({.env = "rpg", .description = "B", .milestone = "b"});
  ASSERT_TRUE(open);
  EXPECT_EQ(*store_->GameFirstTask("rpg"), 0);

  ASSERT_TRUE(store_->StartNewGame("rpg").ok());
  auto milestones = store_->Milestones("rpg");
  ASSERT_TRUE(milestones);
  for (const auto& m : *milestones) EXPECT_FALSE(m.done) << m.id;
  EXPECT_FALSE(store_->ActiveTask("rpg")->has_value());
  EXPECT_EQ(*store_->GameFirstTask("rpg"), *open + 1);
  EXPECT_EQ(store_->Tasks("rpg")->size(), 2u);  // the history is kept
  auto next = store_->BeginTask({.env = "rpg", .description = "A", .milestone = "a"});
  EXPECT_GE(*next, *store_->GameFirstTask("rpg"));
}

TEST_F(ProgressTest, FindRunByPrefix) {
  auto p = Open();
  ASSERT_TRUE(p->StartRun({.id = "20261126T050000Z-aaaa", .env = "rpg"}).ok());
  ASSERT_TRUE(p->StartRun({.id = "20261126T060000Z-bbbb", .env = "rpg"}).ok());
  auto r = p->FindRun("20261126T06");
  ASSERT_TRUE(r && r->has_value());
  EXPECT_EQ((*r)->id, "20261126T060000Z-bbbb");
  EXPECT_FALSE(p->FindRun("2026"));  // ambiguous
  EXPECT_FALSE(p->FindRun("nope")->has_value());
  ASSERT_TRUE(p->FinishRun("20261126T060000Z-bbbb", "finished", "2 tasks done").ok());
  EXPECT_EQ((*p->Runs())[0].status, "finished");
}

}  // namespace
}  // namespace naut::agent

#include "agent/consolidation.h"

#include <gtest/gtest.h>

#include <deque>

#include "agent/prompts.h"
#include "skills/testing/market_skill.h"
#include "skills/testing/temp_store.h"

namespace naut::agent {
namespace {

TEST(ParseConsolidationCallsTest, ReadsOneCallPerOldSkillOfTheNewFunction) {
  auto calls = ParseConsolidationCalls(
      "```python\ndef buy_item(item='Sword'): ...\n```\n"
      "- `buy_sword`: `buy_item()`\n"
      "buy_potion(): buy_item(item=\"Health Potion\").\n"
      "rest_at_inn: buy_item('Bed')\n"        // not in the group
      "buy_torch: purchase(item='Torch')\n",  // not the new function
      {"buy_sword", "buy_potion", "buy_torch"}, "buy_item");
  EXPECT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls["buy_sword"], "buy_item()");
  EXPECT_EQ(calls["buy_potion"], "buy_item(item=\"Health Potion\")");
}

using skills::testing::MarketSkill;

// The general skill as a model writes it; `uses_item` false: it ignores its parameter (a wrong
// merge that buys a sword whatever it is asked for).
std::string Answer(bool uses_item, bool with_calls = true) {
  std::string answer =
      "```python\nimport tools\n\ndef buy_item(item: str = \"Wooden Sword\"):\n    \"\"\"Buy an "
      "item at the goblin market.\"\"\"\n    tools.game__send_message(chat_id="
      "\"@goblin_market_bot\", message=\"/start\")\n    return "
      "tools.game__press_inline_button(chat_id=\"@goblin_market_bot\", button_text=\"Buy " +
      std::string(uses_item ? "\" + item" : "Wooden Sword\"") + ")\n```\n";
  if (with_calls)
    answer += "buy_wooden_sword: buy_item()\nbuy_health_potion: buy_item(\"Health Potion\")\n";
  return answer;
}

class ConsolidatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Status opened = store_.Open("naut-consolidate-");
    ASSERT_TRUE(opened.ok()) << opened.ToString();
    skills_ = store_.skills.get();
    for (const auto& [name, item, task] :
         {std::tuple{"buy_wooden_sword", "Wooden Sword", "Buy a Wooden Sword"},
          std::tuple{"buy_health_potion", "Health Potion", "Buy a Health Potion"}}) {
      ASSERT_TRUE(skills_->Add({.code = MarketSkill(name, item), .environment = "rpg"}));
      ASSERT_TRUE(skills_
                      ->AddCase({.skill = name,
                                 .task = task,
                                 .milestone = "buy",
                                 .start_state = Json{{"gold", 30}}})
                      .ok());
    }
    access_.ask_model = [this](std::vector<llm::Message> messages,
                               const llm::ResponseFormat&) -> llm::ChatResult {
      conversations.push_back(messages);
      if (answers.empty()) return llm::LlmError{llm::LlmError::Kind::kNetwork, "unreachable"};
      llm::ChatResponse r;
      r.content = answers.front();
      answers.pop_front();
      return r;
    };
    access_.prompt = [](const std::string& name,
                        const std::map<std::string, std::string>& v) -> Result<std::string> {
      NAUT_ASSIGN_OR_RETURN(std::string text, LoadPrompt(name));
      return RenderPrompt(text, v);
    };
    access_.observe = [] { return std::string(); };
    access_.emit = [this](const std::string& type, const Json& f) {
      if (type == "consolidation") events.push_back(f);
    };
  }
  // The game's checker, played by the test: the task is done when the code presses the button
  // of the task's item, which the call names or the parameter's default gives.
  SkillCheck Run(const skills::SkillCase& c, const std::string& code, const std::string& call) {
    runs.push_back(call + " for " + c.task);
    EXPECT_EQ(c.start_state, Json({{"gold", 30}}));
    const bool uses_item = code.find("\"Buy \" + item") != std::string::npos;
    const std::string item = c.task.substr(c.task.find("a ") + 2);
    const std::string bought =
        !uses_item ? "Wooden Sword"
                   : (call.find('"') != std::string::npos
                          ? call.substr(call.find('"') + 1, call.rfind('"') - call.find('"') - 1)
                          : "Wooden Sword");
    if (bought == item) return {SkillCheck::State::kPassed, "the checker agreed"};
    return {SkillCheck::State::kFailed, "it bought a " + bought + ", not a " + item};
  }
  Consolidator Make() {
    return Consolidator(*skills_, "rpg", access_,
                        [this](const skills::SkillCase& c, const std::string& code,
                               const std::string& call) { return Run(c, code, call); },
                        {.min_similarity = 0.5});
  }
  std::vector<std::string> Offered() {
    std::vector<std::string> names;
    auto offered = skills_->Offered();
    EXPECT_TRUE(offered) << offered.error().ToString();
    if (offered) {
      for (const auto& k : *offered) names.push_back(k.name);
    }
    return names;
  }

  skills::testing::TempSkillStore store_;
  skills::SkillStore* skills_ = nullptr;
  LoopAccess access_;
  std::deque<std::string> answers;
  std::vector<std::vector<llm::Message>> conversations;
  std::vector<std::string> runs;
  std::vector<Json> events;
};

TEST_F(ConsolidatorTest, AGeneralSkillThatDoesEveryTaskReplacesTheGroup) {
  answers = {Answer(true)};
  auto report = Make().Run();
  ASSERT_TRUE(report) << report.error().ToString();
  ASSERT_EQ(report->size(), 1u);
  const Consolidation& c = report->front();
  EXPECT_EQ(c.merged, "buy_item") << c.refused;
  EXPECT_EQ(c.checks.size(), 2u);
  // The prompt showed both skills with the tasks they passed on.
  const std::string& prompt = conversations.at(0).at(0).content;
  EXPECT_NE(prompt.find("buy_wooden_sword, checked on: \"Buy a Wooden Sword\" (as "
                        "buy_wooden_sword())"),
            std::string::npos)
      << prompt;
  EXPECT_NE(prompt.find("Buy Health Potion"), std::string::npos);
  EXPECT_EQ(Offered(), std::vector<std::string>{"buy_item"});
  auto merged = skills_->Get("buy_item");
  ASSERT_TRUE(merged);
  EXPECT_EQ(merged->verification, skills::Verification::kVerified);
  EXPECT_EQ(skills_->Get("buy_health_potion", 1)->consolidated_into, "buy_item");
  auto cases = skills_->Cases("buy_item");
  ASSERT_TRUE(cases);
  EXPECT_EQ(cases->size(), 2u);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["merged"], "buy_item");
}

// A merge that does not do what it claims (it buys a sword whatever it is asked for) goes back
// once with the failure, and when the repair is as wrong, nothing changes: it is never stored,
// let alone offered as verified.
TEST_F(ConsolidatorTest, AWrongMergeIsRefusedAndTheGroupStaysAsItWas) {
  answers = {Answer(false), Answer(false)};
  auto report = Make().Run();
  ASSERT_TRUE(report) << report.error().ToString();
  ASSERT_EQ(report->size(), 1u);
  const Consolidation& c = report->front();
  EXPECT_TRUE(c.merged.empty());
  EXPECT_NE(c.refused.find("it bought a Wooden Sword, not a Health Potion"), std::string::npos)
      << c.refused;
  ASSERT_EQ(conversations.size(), 2u);
  EXPECT_NE(conversations[1].back().content.find("not a Health Potion"), std::string::npos);
  EXPECT_EQ(Offered(), (std::vector<std::string>{"buy_health_potion", "buy_wooden_sword"}));
  EXPECT_EQ(skills_->Get("buy_item").error().code(), Code::kNotFound);
  EXPECT_EQ(events.at(0)["refused"], c.refused);
}

TEST_F(ConsolidatorTest, ARepairThatWorksIsTaken) {
  answers = {Answer(false), Answer(true)};
  auto report = Make().Run();
  ASSERT_TRUE(report);
  EXPECT_EQ(report->front().merged, "buy_item") << report->front().refused;
}

TEST_F(ConsolidatorTest, AnAnswerWithoutTheCallsIsSentBackThenRefused) {
  answers = {Answer(true, false), "no code here"};
  auto report = Make().Run();
  ASSERT_TRUE(report);
  const Consolidation& c = report->front();
  EXPECT_TRUE(c.merged.empty());
  EXPECT_NE(conversations.at(1).back().content.find("no `<old skill name>: buy_item(...)` line"),
            std::string::npos)
      << conversations[1].back().content;
  EXPECT_NE(c.refused.find("no ```python block"), std::string::npos) << c.refused;
  EXPECT_TRUE(runs.empty());
  EXPECT_EQ(Offered().size(), 2u);
}

// A skill that never passed a task cannot be checked: a group of it and one other is refused
// without asking the model.
TEST_F(ConsolidatorTest, ASkillWithoutATaskToCheckOnIsLeftOut) {
  ASSERT_TRUE(skills_->Add({.code = MarketSkill("buy_torch", "Torch"), .environment = "rpg"}));
  ASSERT_TRUE(skills_->Remove("buy_health_potion").ok());
  auto report = Make().Run();
  ASSERT_TRUE(report);
  ASSERT_EQ(report->size(), 1u);
  EXPECT_NE(report->front().refused.find("only 1 of the 2 skills passed a task"), std::string::npos)
      << report->front().refused;
  EXPECT_NE(report->front().refused.find("buy_torch"), std::string::npos);
  EXPECT_TRUE(conversations.empty());
}

// Replays (SkillOrigin::kReplay) are each one task's literal calls: never grouped for a merge.
TEST_F(ConsolidatorTest, ReplaysAreNotMerged) {
  ASSERT_EQ(Make().Groups()->size(), 1u);
  ASSERT_TRUE(skills_
                  ->Add({.code = MarketSkill("buy_torch", "Torch"),
                         .environment = "rpg",
                         .tags = {std::string(kReplayTag)}})
                  .ok());
  auto groups = Make().Groups();
  ASSERT_TRUE(groups) << groups.error().ToString();
  ASSERT_EQ(groups->size(), 1u);
  for (const auto& k : groups->front().skills) EXPECT_NE(k.name, "buy_torch");
  EXPECT_EQ(groups->front().skills.size(), 2u);
  // A group left with one skill is no group.
  ASSERT_TRUE(skills_->Remove("buy_health_potion").ok());
  groups = Make().Groups();
  ASSERT_TRUE(groups) << groups.error().ToString();
  EXPECT_TRUE(groups->empty());
  auto report = Make().Run();
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_TRUE(conversations.empty());
}

TEST(SplitAnswerTest, BlocksAndTaskLinesAreRead) {
  const std::string answer =
      "```python\ndef a():\n    pass\n```\ntext\n```python\ndef b():\n    '```'\n```\n"
      "1: a()\n- Task 2: `b(x=1)`\n3. c()\n9: a()\n";
  auto blocks = ExtractPythonBlocks(answer);
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[0], "def a():\n    pass\n");
  EXPECT_EQ(blocks[1], "def b():\n    '```'\n");
  auto calls = ParseSplitCalls(answer, 3, {"a", "b"});
  EXPECT_EQ(calls.size(), 2u);  // task 3 calls no new function, task 9 does not exist
  EXPECT_EQ(calls[1], "a()");
  EXPECT_EQ(calls[2], "b(x=1)");
}

std::string FightSkill(const std::string& name) {
  return "import tools\n\ndef " + name +
         "():\n    \"\"\"Win a fight in the forest.\"\"\"\n    "
         "return tools.game__press_inline_button(chat_id=\"@dungeon_quest_bot\", "
         "button_text=\"Attack\")\n";
}

// A skill that did a fight and a purchase: split into one function for each, each run on its
// own task; a "split" that keeps one function for both is refused.
class SplitTest : public ConsolidatorTest {
 protected:
  void SetUp() override {
    ConsolidatorTest::SetUp();
    ASSERT_TRUE(skills_->Remove("buy_wooden_sword").ok());
    ASSERT_TRUE(skills_->Remove("buy_health_potion").ok());
    ASSERT_TRUE(skills_->Add({.code = FightSkill("play"), .environment = "rpg"}));
    for (const char* task : {"Win a fight against a monster in the forest",
                             "Buy a Health Potion from the Goblin Market"}) {
      ASSERT_TRUE(
          skills_->AddCase({.skill = "play", .task = task, .start_state = Json{{"gold", 30}}})
              .ok());
    }
  }
  Consolidator MakeSplitter() {
    return Consolidator(
        *skills_, "rpg", access_,
        [this](const skills::SkillCase& c, const std::string& code, const std::string& call) {
          runs.push_back(call + " for " + c.task);
          const bool fight = c.task.find("fight") != std::string::npos;
          const bool ok = fight ? code.find("Attack") != std::string::npos
                                : code.find("Buy Health Potion") != std::string::npos;
          return ok ? SkillCheck{SkillCheck::State::kPassed, "the checker agreed"}
                    : SkillCheck{SkillCheck::State::kFailed, "not done"};
        },
        {.min_similarity = 0.5, .split_below = 0.3});
  }
};

TEST_F(SplitTest, ASkillOfTwoJobsIsSplitIntoOneForEach) {
  answers = {"```python\n" + FightSkill("win_fight") + "```\n```python\n" +
             MarketSkill("buy_potion", "Health Potion") + "```\n1: win_fight()\n2: buy_potion()\n"};
  auto report = MakeSplitter().Run();
  ASSERT_TRUE(report) << report.error().ToString();
  ASSERT_EQ(report->size(), 1u);
  const Consolidation& c = report->front();
  EXPECT_EQ(c.kind, "split");
  EXPECT_EQ(c.merged, "win_fight, buy_potion") << c.refused;
  EXPECT_NE(conversations.at(0).at(0).content.find(
                "2. \"Buy a Health Potion from the Goblin Market\" (as play())"),
            std::string::npos)
      << conversations[0][0].content;
  EXPECT_EQ(runs, (std::vector<std::string>{
                      "win_fight() for Win a fight against a monster in the forest",
                      "buy_potion() for Buy a Health Potion from the Goblin Market"}));
  EXPECT_EQ(Offered(), (std::vector<std::string>{"buy_potion", "win_fight"}));
  EXPECT_EQ(skills_->Get("play", 1)->consolidated_into, "win_fight, buy_potion");
  EXPECT_EQ(skills_->Cases("buy_potion")->size(), 1u);
  EXPECT_EQ(skills_->Get("win_fight")->verification, skills::Verification::kVerified);
  EXPECT_EQ(events.at(0)["kind"], "split");
}

TEST_F(SplitTest, OneFunctionForEveryTaskIsNotASplit) {
  const std::string same = "```python\n" + FightSkill("win_fight") + "```\n```python\n" +
                           MarketSkill("buy_potion", "Health Potion") +
                           "```\n1: win_fight()\n2: win_fight()\n";
  answers = {same, same};
  auto report = MakeSplitter().Run();
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->front().merged.empty());
  EXPECT_NE(report->front().refused.find("one function does every task"), std::string::npos)
      << report->front().refused;
  EXPECT_TRUE(runs.empty());
  EXPECT_EQ(Offered(), std::vector<std::string>{"play"});
}

TEST_F(SplitTest, APartThatFailsItsTaskKeepsTheSkillWhole) {
  const std::string wrong = "```python\n" + FightSkill("win_fight") + "```\n```python\n" +
                            MarketSkill("buy_potion", "Torch") +
                            "```\n1: win_fight()\n2: buy_potion()\n";
  answers = {wrong, wrong};
  auto report = MakeSplitter().Run();
  ASSERT_TRUE(report);
  EXPECT_NE(report->front().refused.find("buy_potion() for \"Buy a Health Potion"),
            std::string::npos)
      << report->front().refused;
  EXPECT_EQ(Offered(), std::vector<std::string>{"play"});
  EXPECT_EQ(skills_->Get("win_fight").error().code(), Code::kNotFound);
}

}  // namespace
}  // namespace naut::agent

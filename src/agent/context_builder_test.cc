#include "agent/context_builder.h"

#include <gtest/gtest.h>

namespace naut::agent {
namespace {

TEST(PromptBudgetTest, ATokenIsFourCharactersAndOneMore) {
  EXPECT_EQ(EstimateTokens(""), 1);
  EXPECT_EQ(EstimateTokens(std::string(400, 'x')), 101);
}

TEST(PromptBudgetTest, TheFixedPartIsTheSystemPromptTheToolsAndTheAnswersReserve) {
  PromptBudget budget{.context_tokens = 8192};
  std::string system(400, 's');
  // 101 for the system prompt, 1 for the (empty) tools list, 1024 kept for the answer.
  EXPECT_EQ(budget.FixedTokens(system, {}), 1126);
  llm::ToolSpec tool{"game__press", std::string(38, 'd'), Json::object()};
  // name + description + "{}" = 51 characters: 13 tokens more.
  EXPECT_EQ(budget.FixedTokens(system, {tool}), 1126 + 13);
}

TEST(PromptBudgetTest, TheRoomLeftIsSharedOut) {
  PromptBudget budget{.context_tokens = 8192};
  int64_t free_chars = budget.FreeChars(1126);
  EXPECT_EQ(free_chars, (8192 - 1126) * 4);
  EXPECT_EQ(budget.ObservationChars(free_chars), static_cast<size_t>(free_chars / 3));
  EXPECT_EQ(budget.SkillsChars(free_chars), static_cast<size_t>(free_chars / 3));
  EXPECT_EQ(budget.MemoriesChars(free_chars), static_cast<size_t>(free_chars / 6));
  EXPECT_EQ(budget.FeedbackChars(free_chars), static_cast<size_t>(free_chars / 4));
}

TEST(PromptBudgetTest, AFullContextStillLeavesTheMinimumRoom) {
  PromptBudget budget{.context_tokens = 2048};
  EXPECT_EQ(budget.FreeChars(5000), 2000);
}

TEST(PromptBudgetTest, ToolResultsAndAnswersScaleWithTheContext) {
  PromptBudget large{.context_tokens = 8192};
  EXPECT_EQ(large.ToolOutputChars(), 4096u);  // an eighth of the context
  EXPECT_EQ(large.AfterActionChars(), 2048u);
  EXPECT_EQ(large.MaxAnswerTokens(), 512);
  PromptBudget small{.context_tokens = 1024};
  EXPECT_EQ(small.ToolOutputChars(), 2000u);  // the floor
  EXPECT_EQ(small.AfterActionChars(), 1000u);
  EXPECT_EQ(small.MaxAnswerTokens(), 256);  // a quarter of a small context
}

TEST(SkillSignatureTest, TheDefinitionsArgumentsOrDots) {
  EXPECT_EQ(SkillSignature("import tools\ndef train_n(n, button='train'):\n    pass\n", "train_n"),
            "train_n(n, button='train')");
  EXPECT_EQ(SkillSignature("def other():\n    pass\n", "train_n"), "train_n(...)");
  EXPECT_EQ(SkillSignature("def train_n(n,\n            m):\n", "train_n"), "train_n(...)");
}

// A context so small that only the minimum room is left: 2000 characters, of which the
// observation gets 666, the skills 666, the memories 333.
ActorMaterial SmallMaterial() {
  ActorMaterial m;
  m.system_prompt = "";
  m.observation = std::string(5000, 'o');
  return m;
}
const PromptBudget kSmall{.context_tokens = 1100};

TEST(BuildActorContextTest, TheObservationIsCutToItsShare) {
  ActorContext c = BuildActorContext(kSmall, SmallMaterial());
  EXPECT_NE(c.observation.find("characters of observation cut to fit the context"),
            std::string::npos);
  EXPECT_EQ(c.observation.substr(0, 499), std::string(499, 'o'));  // 3/4 of 666
  EXPECT_LT(c.observation.size(), 800u);
  ActorMaterial small = SmallMaterial();
  small.observation = "points 2";
  EXPECT_EQ(BuildActorContext(kSmall, small).observation, "points 2");
}

TEST(BuildActorContextTest, SkillsAreOfferedBestFirstWhileTheNextWholeEntryFits) {
  ActorMaterial m = SmallMaterial();
  m.skills_min_similarity = 0.3;
  const std::string description(250, 'd');  // an entry of 259 characters: two fit in 666
  m.skills = {{"start", "Send /start", "def start():\n    pass\n", 0.1},
              {"a", description, "def a(x):\n    pass\n", 0.9},
              {"b", description, "def b(x):\n    pass\n", 0.8},
              {"x", description, "def x(x):\n    pass\n", 0.7},
              {"c", "short", "def c(x):\n    pass\n", 0.6}};
  ActorContext c = BuildActorContext(kSmall, m);
  EXPECT_EQ(c.offered_skills, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(c.skills_text, "- a(x): " + description + "\n- b(x): " + description + "\n");
  // A skill unlike the task is not shown but defined; the first that did not fit ends the
  // list, so neither it nor a smaller one after it is shown or defined.
  EXPECT_NE(c.skills_code.find("def start()"), std::string::npos);
  EXPECT_NE(c.skills_code.find("def b(x)"), std::string::npos);
  EXPECT_EQ(c.skills_code.find("def x(x)"), std::string::npos);
  EXPECT_EQ(c.skills_code.find("def c(x)"), std::string::npos);
}

TEST(BuildActorContextTest, MemoriesAreTakenWhileTheyFitTheirShare) {
  ActorMaterial m = SmallMaterial();
  m.memories = {std::string(150, '1'), std::string(150, '2'), std::string(150, '3')};
  ActorContext c = BuildActorContext(kSmall, m);
  EXPECT_EQ(c.memories_text, "- " + std::string(150, '1') + "\n- " + std::string(150, '2') + "\n");
  m.memories = {"line one\nline two"};
  EXPECT_EQ(BuildActorContext(kSmall, m).memories_text, "- line one line two\n");
}

TEST(BuildActorContextTest, EarlierRoundsBecomeFeedbackOnlyAfterTheFirstRound) {
  ActorMaterial m = SmallMaterial();
  EXPECT_EQ(BuildActorContext(kSmall, m).feedback, "");
  m.earlier_rounds = {{{"game__press({}) -> nothing happens"}, "0 points", ""}};
  std::string feedback = BuildActorContext(kSmall, m).feedback;
  EXPECT_NE(feedback.find("Earlier rounds of this task did not succeed"), std::string::npos);
  EXPECT_NE(feedback.find("critique: 0 points"), std::string::npos);
}

TEST(ActionStopsTest, AnAnswerEndsWhereTheModelStartsToWriteWhatItIsShown) {
  EXPECT_EQ(
      ActionStops("[game__get_messages({\"chat_id\": 1})]\n- id: 5\n\n[game__list]\n"),
      (std::vector<std::string>{"<tool_response>", "The observation now:", "[game__get_messages"}));
  // Plain text: its first line could be anything the model might rightly write.
  EXPECT_EQ(ActionStops("You are in the town square."),
            (std::vector<std::string>{"<tool_response>", "The observation now:"}));
  EXPECT_EQ(ActionStops("[]"),
            (std::vector<std::string>{"<tool_response>", "The observation now:"}));
}

}  // namespace
}  // namespace naut::agent

#include "agent/critic.h"

#include <gtest/gtest.h>

namespace naut::agent {
namespace {

EnvProfile CheckedProfile() {
  EnvProfile p;
  p.name = "counter";
  p.checker_tool = "game__check_goal";
  return p;
}

TEST(ReadCheckerAnswerTest, TheSuccessFieldIsTheVerdictAndTheDetailTheCritique) {
  EnvProfile p = CheckedProfile();
  Verdict yes = ReadCheckerAnswer(p, ToolOutcome{"", false, Json{{"achieved", true}}});
  EXPECT_TRUE(yes.success);
  EXPECT_EQ(yes.critique, "");
  EXPECT_EQ(yes.source, "checker");
  Verdict no = ReadCheckerAnswer(
      p, ToolOutcome{"", false, Json{{"achieved", false}, {"detail", "points 0"}}});
  EXPECT_FALSE(no.success);
  EXPECT_EQ(no.critique, "the checker game__check_goal says the goal is not reached: points 0");
  // Text that is JSON is read as the structured answer; "message" stands in for "detail".
  Verdict text = ReadCheckerAnswer(p, ToolOutcome{R"({"achieved": 0, "message": "not yet"})"});
  EXPECT_FALSE(text.success);
  EXPECT_EQ(text.critique, "the checker game__check_goal says the goal is not reached: not yet");
}

TEST(ReadCheckerAnswerTest, APlainTextCheckerIsQuotedAndAMissingFieldSaidSo) {
  EnvProfile p = CheckedProfile();
  p.checker_success = "/ok";
  Verdict build = ReadCheckerAnswer(p, ToolOutcome{"main.cc:3: error", false, Json{{"ok", false}}});
  EXPECT_EQ(build.critique,
            "the checker game__check_goal says the goal is not reached: main.cc:3: error");
  Verdict missing = ReadCheckerAnswer(p, ToolOutcome{"all good", false, std::nullopt});
  EXPECT_FALSE(missing.success);
  EXPECT_EQ(missing.critique, "the checker's answer has no /ok: all good");
  Verdict failed = ReadCheckerAnswer(p, Result<ToolOutcome>(Unavailable("server gone")));
  EXPECT_FALSE(failed.success);
  EXPECT_EQ(failed.critique.rfind("the checker game__check_goal failed: ", 0), 0u)
      << failed.critique;
  EXPECT_NE(failed.critique.find("server gone"), std::string::npos);
}

TEST(TruthyTest, BooleansNumbersAndWords) {
  Json j = {{"b", true}, {"n", 0}, {"s", "yes"}, {"o", Json::object()}, {"a", {{"x", 2}}}};
  EXPECT_EQ(Truthy(j, "/b"), true);
  EXPECT_EQ(Truthy(j, "/n"), false);
  EXPECT_EQ(Truthy(j, "/s"), true);
  EXPECT_EQ(Truthy(j, "/a/x"), true);
  EXPECT_EQ(Truthy(j, "/o"), std::nullopt);
  EXPECT_EQ(Truthy(j, "/missing"), std::nullopt);
  EXPECT_EQ(Truthy(j, "no-slash"), std::nullopt);
}

TEST(ReadLlmVerdictTest, AVerdictReadLenientlyOrAFailureSayingSo) {
  // An answer the model did not close is repaired.
  Verdict v = ReadLlmVerdict(R"({"reasoning": "r", "success": false, "critique": "press train")");
  EXPECT_FALSE(v.success);
  EXPECT_EQ(v.critique, "press train");
  EXPECT_EQ(v.source, "llm critic");
  EXPECT_TRUE(ReadLlmVerdict(R"({"success": true})").success);
  Verdict junk = ReadLlmVerdict("I think it worked");
  EXPECT_FALSE(junk.success);
  EXPECT_EQ(junk.critique, "the critic's answer was not a verdict: I think it worked");
  EXPECT_FALSE(ReadLlmVerdict(R"({"success": "yes"})").success);
}

// A checker that answers by a flag, counting its calls.
class FlagChecker : public ToolBox {
 public:
  bool achieved = false;
  std::vector<Json> calls;
  Result<std::vector<ToolInfo>> ListTools() override { return std::vector<ToolInfo>{}; }
  Result<ToolOutcome> CallTool(const std::string&, const Json& args, std::chrono::milliseconds,
                               std::stop_token) override {
    calls.push_back(args);
    return ToolOutcome{"", false, Json{{"achieved", achieved}}};
  }
  Result<std::string> ReadResource(const std::string&) override { return std::string("state"); }
};

class CriticTest : public ::testing::Test {
 protected:
  Critic Make(CriticKind kind, EnvProfile profile = CheckedProfile()) {
    LoopAccess access;
    access.ask_model = [this](std::vector<llm::Message> messages,
                              const llm::ResponseFormat& format) -> llm::ChatResult {
      asked.push_back(messages.front().content);
      formats.push_back(format.type);
      llm::ChatResponse r;
      r.content = answer;
      return r;
    };
    access.prompt = [](const std::string& name, const std::map<std::string, std::string>& v) {
      return Result<std::string>(name + "|" + v.at("task") + "|" + v.at("state") + "|" +
                                 v.at("actions"));
    };
    access.observe = [] { return std::string("points 1"); };
    access.emit = [this](const std::string& type, const Json& f) {
      events.push_back(type + " " + DumpJson(f));
    };
    return Critic(profile, kind, world, std::chrono::seconds(1), access);
  }
  FlagChecker world;
  std::string answer = R"({"reasoning": "", "success": true, "critique": ""})";
  std::vector<std::string> asked;
  std::vector<llm::ResponseFormat::Type> formats;
  std::vector<std::string> events;
  TaskRecord milestone_task{
      .env = "counter", .description = "Get two points", .milestone = "two_points"};
};

TEST_F(CriticTest, TheCheckerJudgesMilestonesTheModelEverythingElse) {
  Critic critic = Make(CriticKind::kChecker);
  EXPECT_TRUE(critic.HasCheckerFor(milestone_task));
  EXPECT_FALSE(critic.Verify(milestone_task, {}).success);
  ASSERT_EQ(world.calls.size(), 1u);
  EXPECT_EQ(world.calls[0], (Json{{"goal_id", "two_points"}}));
  EXPECT_TRUE(asked.empty());

  TaskRecord proposed{.env = "counter", .description = "Explore"};
  EXPECT_FALSE(critic.HasCheckerFor(proposed));
  EXPECT_TRUE(critic.Verify(proposed, {}).success);
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0], "critic|Explore|points 1|(none)");
  EXPECT_EQ(formats[0], llm::ResponseFormat::Type::kJsonSchema);
}

TEST_F(CriticTest, TheLlmCriticIsShownTheRoundsLastSteps) {
  Critic critic = Make(CriticKind::kLlm);
  EXPECT_FALSE(critic.HasCheckerFor(milestone_task));
  std::vector<std::string> steps;
  for (int i = 1; i <= 10; ++i) steps.push_back("s" + std::to_string(i));
  critic.Verify(milestone_task, steps);
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0],
            "critic|Get two points|points 1|- s3\n- s4\n- s5\n- s6\n- s7\n- s8\n- "
            "s9\n- s10\n");
  EXPECT_TRUE(world.calls.empty());
}

TEST_F(CriticTest, OnlyTheCheckerKnowsWhatIsAlreadyAchieved) {
  world.achieved = true;
  EXPECT_TRUE(Make(CriticKind::kChecker).AlreadyAchieved(milestone_task));
  EXPECT_FALSE(Make(CriticKind::kLlm).AlreadyAchieved(milestone_task));
  EXPECT_FALSE(Make(CriticKind::kChecker).AlreadyAchieved({.description = "Explore"}));
  EXPECT_TRUE(asked.empty());
}

TEST_F(CriticTest, TheMeasurementAsksTheCheckerWhoeverJudges) {
  world.achieved = true;
  EXPECT_TRUE(Make(CriticKind::kLlm).CheckerConfirms("two_points"));
  EnvProfile unchecked = CheckedProfile();
  unchecked.checker_tool.clear();
  EXPECT_FALSE(Make(CriticKind::kChecker, unchecked).CheckerConfirms("two_points"));
  EXPECT_EQ(world.calls.size(), 1u);
}

TEST_F(CriticTest, AJudgedVerdictIsReported) {
  Critic critic = Make(CriticKind::kChecker);
  Verdict v = critic.Judge(milestone_task, {});
  EXPECT_FALSE(v.success);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0],
            "critic {\"critique\":\"the checker game__check_goal says the goal is not "
            "reached\",\"source\":\"checker\",\"success\":false}");
}

}  // namespace
}  // namespace naut::agent

// The loop's logic with in-process fakes behind its interfaces; the scenario tests in
// tests/scenarios drive the same loop against the real servers.

#include "agent/agent.h"

#include <gtest/gtest.h>

#include <deque>
#include <fstream>
#include <tuple>

#include "agent/code_runner.h"
#include "core/files.h"
#include "core/ids.h"

namespace naut::agent {
namespace {

namespace fs = std::filesystem;

// Answers with scripted responses in order; records every request.
class ScriptedModel : public llm::ChatModel {
 public:
  std::deque<llm::ChatResponse> script;
  std::vector<llm::ChatRequest> requests;
  llm::ChatResult Chat(const llm::ChatRequest& request, const llm::CallOptions&) override {
    requests.push_back(request);
    if (script.empty()) return llm::LlmError{llm::LlmError::Kind::kBadResponse, "script exhausted"};
    auto r = script.front();
    script.pop_front();
    r.usage = {100, 80, 10};
    return r;
  }
  std::string Describe() const override { return "scripted"; }
};

llm::ChatResponse Text(std::string content) {
  llm::ChatResponse r;
  r.content = std::move(content);
  r.finish_reason = llm::FinishReason::kStop;
  return r;
}
llm::ChatResponse Call(std::string name, Json args) {
  llm::ChatResponse r;
  r.tool_calls.push_back({"call-" + NewId(), std::move(name), args, DumpJson(args)});
  r.finish_reason = llm::FinishReason::kToolCalls;
  return r;
}

// A tiny world: pressing "train" adds a point; the goal "two_points" needs two.
class CounterWorld : public ToolBox {
 public:
  int points = 0;
  std::vector<std::string> calls;
  Result<std::vector<ToolInfo>> ListTools() override {
    ToolInfo press{
        {"game__press", "Press a button",
         Json::parse(
             R"({"type":"object","properties":{"button":{"type":"string"}},"required":["button"]})")}};
    ToolInfo check{
        {"game__check_goal", "Check a goal",
         Json::parse(R"({"type":"object","properties":{"goal_id":{"type":"string"}}})")}};
    ToolInfo wipe{{"game__wipe", "Delete the save", Json{{"type", "object"}}}, true};
    return std::vector<ToolInfo>{press, check, wipe};
  }
  Result<ToolOutcome> CallTool(const std::string& name, const Json& args, std::chrono::milliseconds,
                               std::stop_token) override {
    calls.push_back(name);
    if (name == "game__check_goal") {
      return ToolOutcome{
          "", false,
          Json{{"achieved", points >= 2}, {"detail", "points " + std::to_string(points)}}};
    }
    if (name == "game__press") {
      if (args.value("button", "") == "train")
        return ToolOutcome{"points " + std::to_string(++points), false, {}};
      return ToolOutcome{"nothing happens", false, {}};
    }
    if (name == "game__wipe") {
      points = 0;
      return ToolOutcome{"wiped", false, {}};
    }
    return Unavailable("no such tool");
  }
  Result<std::string> ReadResource(const std::string&) override {
    return std::string("points " + std::to_string(points));
  }
};

class FakeSkills : public SkillLibrary {
 public:
  std::vector<SkillSnippet> stored;
  int asked_k = 0;
  Result<std::vector<SkillSnippet>> Retrieve(const std::string&, const std::string&,
                                             int k) override {
    asked_k = k;
    return stored;
  }
  Result<std::string> Add(const std::string& code, const std::string&, const std::string&,
                          SkillOrigin) override {
    if (code.find("def ") == std::string::npos) return InvalidArgument("no function definition");
    stored.push_back({"train_twice", "Train twice", code});
    return std::string("train_twice");
  }
  Status RecordOutcome(const std::string&, bool, const std::string&) override {
    return Status::Ok();
  }
  Status SetVerification(const std::string& name, bool verified, const std::string& note) override {
    checks.emplace_back(name, verified, note);
    return Status::Ok();
  }
  std::vector<std::tuple<std::string, bool, std::string>> checks;
  Result<std::optional<std::string>> SkillForTask(const std::string&, const std::string&) override {
    return std::optional<std::string>();
  }
};

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("naut-agent-" + NewId());
    fs::create_directories(dir_);
    progress_ = std::move(ProgressStore::Open(dir_ / "neuronaut.db", dir_ / "PROGRESS.md")).value();
    trace_ = std::move(TraceWriter::Open(dir_ / "runs", "run-1")).value();
    profile_.name = "counter";
    profile_.observe_resource = "counter://state";
    profile_.deny = {"game__check_goal"};
    profile_.checker_tool = "game__check_goal";
    profile_.milestones = {{"two_points", "Get two points"}};
    options_.run_id = "run-1";
    options_.max_tasks = 1;
  }
  void TearDown() override { fs::remove_all(dir_); }

  RunSummary Run(SkillLibrary* skills = nullptr, CodeRunner* code = nullptr) {
    Agent agent(model_, world_, *progress_, *trace_, profile_, options_, skills, nullptr, code,
                [this](const std::string& type, const Json& f) {
                  events_.push_back(type + " " + DumpJson(f));
                });
    auto r = agent.Run({});
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : RunSummary{};
  }
  bool Saw(const std::string& needle) {
    for (const auto& e : events_) {
      if (e.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  fs::path dir_;
  std::unique_ptr<ProgressStore> progress_;
  std::unique_ptr<TraceWriter> trace_;
  EnvProfile profile_;
  AgentOptions options_;
  ScriptedModel model_;
  CounterWorld world_;
  std::vector<std::string> events_;
};

// A stop that cuts a model call short (SIGTERM, --max-minutes) ends the run as asked, not as a
// failure of the model, and leaves the task for the next run.
TEST_F(AgentTest, AStopDuringAModelCallEndsTheRunAsAskedWithTheTaskActive) {
  struct StoppedMidCall : llm::ChatModel {
    std::stop_source stop;
    llm::ChatResult Chat(const llm::ChatRequest&, const llm::CallOptions&) override {
      stop.request_stop();
      return llm::LlmError{llm::LlmError::Kind::kCancelled, "cancelled"};
    }
    std::string Describe() const override { return "stopped mid-call"; }
  } model;
  Agent agent(model, world_, *progress_, *trace_, profile_, options_, nullptr, nullptr, nullptr,
              [this](const std::string& type, const Json& f) {
                events_.push_back(type + " " + DumpJson(f));
              });
  auto r = agent.Run(model.stop.get_token());
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_FALSE(r->error);
  EXPECT_EQ(r->stop_reason, "stopped during a model call; the task stays active and is resumed");
  EXPECT_TRUE(Saw(R"(run_end {"done":0,"failed":0,"model_calls")"));
  EXPECT_TRUE(Saw(R"("status":"stopped")"));
  auto active = progress_->ActiveTask("counter");
  ASSERT_TRUE(active);
  ASSERT_TRUE(active->has_value());
  EXPECT_EQ((*active)->milestone, "two_points");
}

TEST_F(AgentTest, SucceedsVerifiesAndLearnsASkill) {
  model_.script = {Call("game__press", {{"button", "train"}}),
                   Call("game__press", {{"button", "train"}}), Text("Done: two points."),
                   Text("```python\ndef train_twice():\n    \"\"\"Train twice.\"\"\"\n    "
                        "tools.game__press(button='train')\n```")};
  FakeSkills skills;
  auto s = Run(&skills);
  EXPECT_EQ(s.done, 1);
  EXPECT_EQ(world_.points, 2);
  ASSERT_EQ(skills.stored.size(), 1u);
  auto m = *progress_->Milestones("counter");
  EXPECT_TRUE(m[0].done);
  EXPECT_EQ(m[0].skill, "train_twice");
  // The checker tool is denied to the model but used by the critic.
  for (const auto& t : model_.requests[0].tools) EXPECT_NE(t.name, "game__check_goal");
  EXPECT_NE(ReadFile(dir_ / "PROGRESS.md")->find("- [x] `two_points`"), std::string::npos);
}

// The benchmark's measurement: every milestone the checker confirms is reported once, with
// the model calls spent by then, whoever judged the task.
TEST_F(AgentTest, ReachedMilestonesAreReportedWithTheCallsSpent) {
  profile_.milestones = {{"two_points", "Get two points"}, {"one_more", "Get one more"}};
  model_.script = {Call("game__press", {{"button", "train"}}),
                   Call("game__press", {{"button", "train"}}), Text("Done: two points.")};
  auto s = Run();
  EXPECT_EQ(s.done, 1);
  // The counter world's checker answers every goal by the points alone: both are reached at
  // once, each reported once although the checker is asked again after every step.
  std::vector<std::string> reached;
  for (const auto& e : events_) {
    if (e.starts_with("milestone_reached ")) {
      auto f = Json::parse(e.substr(e.find(' ') + 1));
      reached.push_back(f["milestone"]);
      EXPECT_EQ(f["model_calls"], 2);  // reached after the second call's tool ran
    }
  }
  EXPECT_EQ(reached, (std::vector<std::string>{"two_points", "one_more"}));
}

// --critic llm: the checker is not consulted for the verdict (the model judges), but the run's
// measurement still says what the world reached.
TEST_F(AgentTest, TheLlmCriticJudgesEvenWhereACheckerExists) {
  options_.max_rounds = 1;
  options_.critic = CriticKind::kLlm;
  model_.script = {Text("I have two points now."),
                   Text(R"({"reasoning": "it says so", "success": true, "critique": ""})")};
  auto s = Run();
  EXPECT_EQ(s.done, 1);  // the model believed the claim
  EXPECT_EQ(world_.points, 0);
  EXPECT_TRUE(Saw("\"source\":\"llm critic\""));
  EXPECT_FALSE(Saw("milestone_reached"));
  EXPECT_TRUE(Saw("\"critic\":\"llm\""));  // in run_start
}

// A backend that cannot constrain output refuses response_format; the critic asks again
// without it (its prompt asks for the same JSON).
TEST_F(AgentTest, TheLlmCriticAsksAgainWhenJsonOutputIsRefused) {
  options_.max_rounds = 1;
  options_.critic = CriticKind::kLlm;
  struct Refusing : ScriptedModel {
    llm::ChatResult Chat(const llm::ChatRequest& r, const llm::CallOptions& o) override {
      if (r.response_format.type != llm::ResponseFormat::Type::kText) {
        requests.push_back(r);
        return llm::LlmError{llm::LlmError::Kind::kBadRequest, "no response_format here"};
      }
      return ScriptedModel::Chat(r, o);
    }
  } refusing;
  refusing.script = {Text("done"),
                     Text(R"({"reasoning": "", "success": false, "critique": "no"})")};
  Agent agent(refusing, world_, *progress_, *trace_, profile_, options_, nullptr, nullptr, nullptr,
              [this](const std::string& type, const Json& f) {
                events_.push_back(type + " " + DumpJson(f));
              });
  auto s = agent.Run({});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->failed, 1);
  EXPECT_TRUE(Saw("\"critique\":\"no\""));
  EXPECT_EQ(refusing.requests.size(), 3u);  // actor, critic with format, critic without
}

// --curriculum fixed: the milestones in order, a failed one again and again; the automatic
// curriculum skips one after skip_after_failures failures.
TEST_F(AgentTest, TheFixedCurriculumRetriesWhatTheAutomaticOneSkips) {
  profile_.milestones = {{"two_points", "Get two points"}, {"one_more", "Get one more"}};
  options_.max_rounds = 1;
  options_.max_tasks = 3;
  options_.skip_after_failures = 1;
  options_.curriculum = CurriculumKind::kFixed;
  model_.script = {Text("no"), Text("no"), Text("no"), Text("no"), Text("no"), Text("no")};
  Run();
  auto tasks = *progress_->Tasks("counter");
  ASSERT_EQ(tasks.size(), 3u);
  for (const auto& t : tasks) EXPECT_EQ(t.milestone, "two_points");

  events_.clear();
  options_.curriculum = CurriculumKind::kAuto;
  options_.max_tasks = 1;
  options_.run_id = "run-2";
  model_.script = {Text("no"), Text("no")};
  Run();
  EXPECT_TRUE(Saw("\"milestone\":\"one_more\""));  // two_points failed: skipped
}

// A new game (neuronaut run --seed) gives every milestone a fresh start: failures of the old
// game no longer make the curriculum skip it.
TEST_F(AgentTest, ANewGameForgetsTheOldGamesFailures) {
  profile_.milestones = {{"two_points", "Get two points"}, {"one_more", "Get one more"}};
  options_.max_rounds = 1;
  options_.skip_after_failures = 1;
  model_.script = {Text("no"), Text("no")};
  Run();
  ASSERT_TRUE(progress_->StartNewGame("counter").ok());
  options_.run_id = "run-2";
  model_.script = {Text("no"), Text("no")};
  events_.clear();
  Run();
  EXPECT_TRUE(Saw("task_start {\"attempt\":1,\"milestone\":\"two_points\""));
}

TEST_F(AgentTest, FalseClaimOfSuccessIsRejectedByTheChecker) {
  options_.max_rounds = 2;
  // The first claim of a round goes back with the checker's reason; the second ends it.
  model_.script = {Text("I have two points now."), Text("Really, it is done."),
                   Text("I have two points now."), Text("Really, it is done.")};
  auto s = Run();
  EXPECT_EQ(s.failed, 1);
  EXPECT_EQ(model_.requests.size(), 4u);
  EXPECT_NE(model_.requests[1].messages.back().content.find(
                "The task is not done: the checker game__check_goal says the goal is not "
                "reached: points 0"),
            std::string::npos);
  EXPECT_TRUE(
      Saw("\"critique\":\"the checker game__check_goal says the goal is not reached: points 0\""));
  auto failed = *progress_->Tasks("counter", TaskStatus::kFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(failed[0].critique.find("not verified after 2 rounds"), std::string::npos)
      << failed[0].critique;
}

TEST_F(AgentTest, MalformedCallIsCorrectedAndTheTaskStillSucceeds) {
  llm::ChatResponse broken =
      Text("[TOOL_CALLS][{\"name\": \"game__press\", \"arguments\": {\"butt\": \"train\"}}]");
  model_.script = {broken, Call("game__press", {{"button", "train"}}),
                   Call("game__press", {{"button", "train"}}), Text("done")};
  auto s = Run();
  EXPECT_EQ(s.done, 1);
  EXPECT_TRUE(Saw("correction"));
  // The correction reached the model as a message.
  const auto& second = model_.requests[1].messages;
  EXPECT_EQ(second.back().role, llm::Role::kUser);
}

// Qwen2.5-Coder-1.5B (run kept in tests/fixtures/real_runs/) answered a tool result with nothing
// at all (0 tokens), which ended the round as if it had claimed success. An empty answer is
// asked about once per round.
TEST_F(AgentTest, AnEmptyAnswerIsAskedAboutNotTakenAsDone) {
  options_.max_rounds = 1;
  model_.script = {Call("game__press", {{"button", "train"}}), Text(""),
                   Call("game__press", {{"button", "train"}}), Text("done")};
  auto s = Run();
  EXPECT_EQ(s.done, 1);
  EXPECT_EQ(world_.points, 2);
  ASSERT_GE(model_.requests.size(), 3u);
  EXPECT_NE(model_.requests[2].messages.back().content.find("Your answer was empty"),
            std::string::npos);
}

TEST_F(AgentTest, TwoEmptyAnswersEndTheRound) {
  options_.max_rounds = 1;
  model_.script = {Text(""), Text("  \n")};
  auto s = Run();
  EXPECT_EQ(s.failed, 1);
  EXPECT_EQ(model_.requests.size(), 2u);
}

TEST_F(AgentTest, LoopingModelIsStoppedByTheRail) {
  for (int i = 0; i < 20; ++i) model_.script.push_back(Call("game__press", {{"button", "wait"}}));
  auto s = Run();
  EXPECT_EQ(s.failed, 1);
  auto failed = *progress_->Tasks("counter", TaskStatus::kFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(failed[0].critique.find("stopped by the loop rail: game__press was called 5 times"),
            std::string::npos)
      << failed[0].critique;
}

// A code action that keeps getting the same answer is told so before the rail stops it (the
// 1.5B pressed Buy five times against "come back to town first" and never heard it was stuck).
TEST_F(AgentTest, ACodeActionStuckOnTheSameAnswerIsWarnedBeforeTheStop) {
  for (int i = 0; i < 20; ++i)
    model_.script.push_back(Text("```python\ntools.game__press(button='wait')\n```"));
  FakeSkills skills;
  SkillsCodeRunner code;
  auto s = Run(&skills, &code);
  EXPECT_EQ(s.failed, 1);
  ASSERT_GE(model_.requests.size(), 4u);
  EXPECT_EQ(model_.requests[2].messages.back().content.find("Repeating it will not help"),
            std::string::npos);
  EXPECT_NE(model_.requests[3].messages.back().content.find(
                "Note: you have made this same call 3 times and got the same answer. Repeating "
                "it will not help: do what the answer says instead"),
            std::string::npos)
      << model_.requests[3].messages.back().content;
  auto failed = *progress_->Tasks("counter", TaskStatus::kFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(failed[0].critique.find("stopped by the loop rail"), std::string::npos);
}

TEST_F(AgentTest, DestructiveToolNeedsExplicitAllow) {
  model_.script = {Call("game__wipe", Json::object()), Call("game__press", {{"button", "train"}}),
                   Call("game__press", {{"button", "train"}}), Text("done")};
  options_.permissions.allow = {"*"};
  auto s = Run();
  EXPECT_EQ(s.done, 1);
  EXPECT_EQ(std::count(world_.calls.begin(), world_.calls.end(), "game__wipe"), 0);
  const auto& msgs = model_.requests[1].messages;
  EXPECT_NE(msgs.back().content.find("Refused: game__wipe changes or deletes data"),
            std::string::npos)
      << msgs.back().content;
}

TEST_F(AgentTest, ResumedTaskAlreadyAchievedIsNotRedone) {
  ASSERT_TRUE(
      progress_
          ->DeclareMilestones("counter", {{.id = "two_points", .description = "Get two points"}})
          .ok());
  ASSERT_TRUE(progress_->BeginTask(
      {.env = "counter", .description = "Get two points", .milestone = "two_points"}));
  world_.points = 2;  // the killed run got there before it could record it
  auto s = Run();
  EXPECT_EQ(s.done, 1);
  EXPECT_TRUE(model_.requests.empty());
  EXPECT_TRUE(Saw("\"attempt\":2"));
}

TEST_F(AgentTest, BudgetRailEndsATask) {
  options_.task_limits.tool_calls = 1;
  model_.script = {Call("game__press", {{"button", "train"}}),
                   Call("game__press", {{"button", "train"}})};
  auto s = Run();
  EXPECT_EQ(s.failed, 1);
  EXPECT_NE((*progress_->Tasks("counter"))[0].critique.find("tool-call budget of 1 calls used up"),
            std::string::npos);
}

TEST_F(AgentTest, CodeActionCallsToolsThroughTheSkillRuntime) {
  model_.script = {Text("One code action:\n```python\nfor _ in range(2):\n    "
                        "print(tools.game__press(button='train'))\n```"),
                   Text("```python\ndef train_twice():\n    \"\"\"Train twice.\"\"\"\n    "
                        "tools.game__press(button='train')\n```")};
  FakeSkills skills;
  SkillsCodeRunner code;
  auto s = Run(&skills, &code);
  EXPECT_EQ(s.done, 1);
  EXPECT_EQ(world_.points, 2);
  EXPECT_EQ(s.tool_calls, 2);
  EXPECT_TRUE(Saw("\"ok\":true,\"tool_calls\":2"));
  EXPECT_TRUE(Saw("\"via\":\"code\""));
  // Verified right after the action: the second model call is the skill writer's, shown the code.
  ASSERT_EQ(model_.requests.size(), 2u);
  EXPECT_NE(model_.requests[1].messages[0].content.find("tools.game__press(button='train')"),
            std::string::npos);
}

// What the model is shown after a code action that prints nothing: each call's answer; the
// checker's critique once, not again while it is the same; its own turn as the code alone.
TEST_F(AgentTest, ACodeActionShowsEachCallsAnswerAndTheCritiqueOnlyWhenItChanges) {
  model_.script = {Text("I will press.\n```python\ntools.game__press(button='look')\n```\nDone."),
                   Text("```python\ntools.game__press(button='look')\n```"),
                   Text("game__press(button='train')"), Text("I have two points now.")};
  SkillsCodeRunner code;
  options_.max_steps_per_round = 3;
  Run(nullptr, &code);
  ASSERT_GE(model_.requests.size(), 3u);
  const auto& second = model_.requests[1].messages;
  ASSERT_GE(second.size(), 4u);
  EXPECT_EQ(second[2].content, "```python\ntools.game__press(button='look')\n```");
  EXPECT_NE(second[3].content.find("game__press({\"button\":\"look\"})  # nothing happens"),
            std::string::npos)
      << second[3].content;
  // The critique comes last, after the observation: what the model reads just before it answers.
  size_t critique_at = second[3].content.find("The task is not complete yet: ");
  EXPECT_NE(critique_at, std::string::npos);
  EXPECT_LT(second[3].content.find("The observation now:"), critique_at) << second[3].content;
  // The same critique after the second press is not said again.
  const auto& third = model_.requests[2].messages;
  EXPECT_EQ(third.back().content.find("The task is not complete yet"), std::string::npos)
      << third.back().content;
  // The unfenced call ran as code: the world has a point.
  EXPECT_EQ(world_.points, 1);
}

// A function call's turn is kept as the call alone: the prose around it is not shown again,
// and the model is asked with the stops that end a made-up observation.
TEST_F(AgentTest, TheConversationKeepsACallWithoutItsProse) {
  llm::ChatResponse first = Call("game__press", {{"button", "train"}});
  first.content = "I will train now. After that the observation will show...";
  model_.script = {first, Call("game__press", {{"button", "train"}})};
  Run();
  ASSERT_GE(model_.requests.size(), 2u);
  const auto& second = model_.requests[1].messages;
  ASSERT_GE(second.size(), 3u);
  EXPECT_EQ(second[2].role, llm::Role::kAssistant);
  EXPECT_EQ(second[2].content, "");
  ASSERT_EQ(second[2].tool_calls.size(), 1u);
  EXPECT_EQ(second[2].tool_calls[0].name, "game__press");
  EXPECT_NE(
      std::find(model_.requests[0].stop.begin(), model_.requests[0].stop.end(), "<tool_response>"),
      model_.requests[0].stop.end());
}

// Qwen2.5-Coder-1.5B (run kept in tests/fixtures/real_runs/) wrote its code actions as a
// function `act()` that nothing called, seven times: "ran to the end, 0 tool calls". A function
// that needs no arguments is called; one that does is reported to the model.
TEST_F(AgentTest, ACodeActionThatOnlyDefinesAFunctionHasItCalled) {
  model_.script = {
      Text("```python\ndef act(button):\n    tools.game__press(button=button)\n```"),
      Text("```python\nimport json\n\ndef act():\n    # Train twice\n    "
           "tools.game__press({\"button\": \"train\"})\n    result = "
           "tools.game__press(button=\"train\")\n    if result:\n        print(\"trained\")\n```\n"
           "This action trains twice."),
      Text("```python\ndef train_twice():\n    \"\"\"Train twice.\"\"\"\n    "
           "tools.game__press(button='train')\n```")};
  FakeSkills skills;
  SkillsCodeRunner code;
  auto s = Run(&skills, &code);
  EXPECT_EQ(s.done, 1);
  EXPECT_EQ(world_.points, 2);
  ASSERT_GE(model_.requests.size(), 2u);
  const std::string& told = model_.requests[1].messages.back().content;
  EXPECT_NE(told.find("only defines act(button) and never calls it"), std::string::npos) << told;
}

TEST_F(AgentTest, CodeActionErrorFeedsTheNextTurnAndPermissionsHold) {
  // The first action tries the checker the profile hides from the model, then a destructive
  // tool: both refused, raised in Python as ToolError. The second action reads the refusal from
  // its message and trains.
  model_.script = {
      Text("```python\ntry:\n    tools.game__check_goal(goal_id='two_points')\nexcept "
           "tools.ToolError "
           "as e:\n    print('refused:', e)\ntools.game__wipe()\n```"),
      Text("```python\ntools.game__press(button='train')\ntools.game__press(button='train')\n```")};
  SkillsCodeRunner code;
  options_.permissions.allow = {"*"};
  auto s = Run(nullptr, &code);
  EXPECT_EQ(s.done, 1);
  EXPECT_EQ(std::count(world_.calls.begin(), world_.calls.end(), "game__wipe"), 0);
  ASSERT_GE(model_.requests.size(), 2u);
  const std::string& feedback = model_.requests[1].messages.back().content;
  EXPECT_NE(feedback.find("The code action failed."), std::string::npos) << feedback;
  EXPECT_NE(feedback.find("ToolError"), std::string::npos) << feedback;
  EXPECT_NE(feedback.find("changes or deletes data"), std::string::npos) << feedback;
  EXPECT_NE(feedback.find("refused: Refused: tool 'game__check_goal' is not available"),
            std::string::npos)
      << feedback;
}

TEST_F(AgentTest, LearnedSkillsAreCallableFromCodeActions) {
  FakeSkills skills;
  skills.stored.push_back(
      {"train_n", "Train n times",
       "def train_n(n):\n    \"\"\"Train n times.\"\"\"\n    for _ in range(n):\n"
       "        tools.game__press(button='train')\n"});
  model_.script = {Text("```python\ntrain_n(2)\n```"),
                   Text("```python\ndef again():\n    \"\"\"x\"\"\"\n```")};
  SkillsCodeRunner code;
  auto s = Run(&skills, &code);
  EXPECT_EQ(s.done, 1);
  EXPECT_EQ(world_.points, 2);
  // The skill was offered in the prompt as it is called.
  EXPECT_NE(model_.requests[0].messages[1].content.find("- train_n(n): Train n times"),
            std::string::npos);
}

// The recorded code actions themselves: each defines act() and never calls it. Run now, the
// first one reaches its tools (the first is a checker it guessed, refused as unknown here).
TEST(SkillsCodeRunnerTest, TheRecordedUncalledActionsNowRunTheirTools) {
  std::ifstream in(
      NAUT_SOURCE_DIR
      "/tests/fixtures/real_runs/qwen2.5-coder-1.5b-rpg-uncalled-function.events.jsonl");
  ASSERT_TRUE(in) << "fixture missing";
  std::vector<std::string> codes;
  for (std::string line; std::getline(in, line);) {
    auto e = ParseJson(line, "event");
    ASSERT_TRUE(e.ok());
    if ((*e)["type"] == "code_action") codes.push_back((*e)["code"]);
  }
  ASSERT_GE(codes.size(), 5u);
  for (const auto& c : codes) {
    ASSERT_NE(c.find("def act():"), std::string::npos) << c;
    CounterWorld world;
    SkillsCodeRunner runner;
    auto r = runner.Run(c, "", world, 10, std::chrono::seconds(30));
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    ASSERT_FALSE(world.calls.empty()) << "the action still did nothing: " << r->output;
    EXPECT_EQ(world.calls[0], "check_goal");
    EXPECT_NE(r->output.find("NeuroNaut called it"), std::string::npos) << r->output;
  }
}

// Through llama-server the 1.5B wrote `game__check_goal()` as a bare name and sent the same
// failing action again and again (tests/fixtures/real_runs/). Tools answer to their bare
// names; the same code failing the same way three times ends the task.
// Qwen2.5-Coder-1.5B (learning benchmark, seed 1) printed the text of a call nine times instead
// of making it: the model is told that nothing changed, and the third identical run stops.
TEST_F(AgentTest, ACodeActionThatCallsNoToolIsToldSoAndStoppedWhenRepeated) {
  const std::string printed = "```python\nprint(\"game__press(button='train')\")\n```";
  model_.script = {Text(printed), Text(printed), Text(printed), Text(printed)};
  SkillsCodeRunner code;
  auto s = Run(nullptr, &code);
  EXPECT_EQ(s.failed, 1);
  EXPECT_EQ(model_.requests.size(), 3u);
  EXPECT_NE(model_.requests[1].messages.back().content.find("Nothing in the environment changed"),
            std::string::npos);
  EXPECT_NE(model_.requests[2].messages.back().content.find("again it called no tool"),
            std::string::npos);
  EXPECT_TRUE(Saw("the same code action called no tool 3 times in a row"));
}

// A real run offered the only skill it had ("send /start") for "win a fight", and the model
// called it again and again: skills unlike the task are not offered.
TEST_F(AgentTest, EachModelCallHasItsOwnSeedDerivedFromTheRuns) {
  options_.max_rounds = 1;
  options_.sampling.seed = 7;
  model_.script = {Call("game__press", {{"button", "train"}}), Text("no"), Text("no")};
  Run();
  ASSERT_GE(model_.requests.size(), 3u);
  EXPECT_EQ(model_.requests[0].sampling.seed, 7);
  EXPECT_EQ(model_.requests[1].sampling.seed, 8);
  EXPECT_EQ(model_.requests[2].sampling.seed, 9);
}

TEST_F(AgentTest, SkillsUnlikeTheTaskAreNotOffered) {
  options_.max_rounds = 1;
  options_.skills_min_similarity = 0.3;
  FakeSkills skills;
  skills.stored.push_back({"start_game", "Send /start", "def start_game():\n    pass\n", 0.05});
  skills.stored.push_back({"train_n", "Train n times", "def train_n(n):\n    pass\n", 0.6});
  model_.script = {Text("no"), Text("no")};
  Run(&skills);
  const std::string& prompt = model_.requests[0].messages[1].content;
  EXPECT_EQ(prompt.find("start_game"), std::string::npos);
  EXPECT_NE(prompt.find("- train_n(n): Train n times"), std::string::npos);
  EXPECT_TRUE(Saw("\"skills\":[\"train_n\"]"));
}

TEST_F(AgentTest, AReplayOfAnotherTaskIsNotOffered) {
  options_.max_rounds = 1;
  FakeSkills skills;
  SkillSnippet other{"buy_healing_potion", "Buy a healing potion. Replays the 2 tool calls...",
                     "def buy_healing_potion():\n"
                     "    pass\n",
                     0.8};
  other.replay = true;
  SkillSnippet same{"get_two_points", "Get two points. Replays the 2 tool calls...",
                    "def get_two_points():\n    pass\n", 0.7};
  same.replay = true;
  skills.stored = {other, same};
  skills.stored.push_back({"buy_item", "Buy an item.", "def buy_item(item):\n    pass\n", 0.6});
  // The held-back replay leaves its place to the next best skill.
  options_.skills_top_k = 2;
  skills.stored.push_back({"train_n", "Train n times.", "def train_n(n):\n    pass\n", 0.5});
  model_.script = {Text("no"), Text("no")};
  Run(&skills);
  const std::string& prompt = model_.requests[0].messages[1].content;
  EXPECT_EQ(prompt.find("buy_healing_potion"), std::string::npos) << prompt;
  EXPECT_NE(prompt.find("get_two_points"), std::string::npos) << prompt;
  EXPECT_NE(prompt.find("buy_item"), std::string::npos) << prompt;
  EXPECT_EQ(prompt.find("train_n"), std::string::npos) << "more than skills_top_k shown";
  EXPECT_TRUE(Saw("\"replays_withheld\":[\"buy_healing_potion\"]"));
  EXPECT_EQ(skills.asked_k, 4);
}

TEST_F(AgentTest, ToolsAnswerToBareNamesAndARepeatedFailingActionIsStopped) {
  options_.max_rounds = 1;
  const std::string stuck = "```python\nundefined_helper()\n```";
  model_.script = {Text("```python\ngame__press(button='train')\n```"), Text(stuck), Text(stuck),
                   Text(stuck), Text(stuck)};
  SkillsCodeRunner code;
  auto s = Run(nullptr, &code);
  EXPECT_EQ(world_.points, 1);
  EXPECT_EQ(s.failed, 1);
  EXPECT_EQ(model_.requests.size(), 4u) << "the fourth identical failure was not needed";
  EXPECT_NE(model_.requests[3].messages.back().content.find("same code that failed before"),
            std::string::npos);
  auto failed = *progress_->Tasks("counter", TaskStatus::kFailed);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_NE(failed[0].critique.find("the same code action failed 3 times"), std::string::npos)
      << failed[0].critique;
}

TEST(SkillsCodeRunnerTest, ProgramImportsTheBridgeThenSkillsThenTheAction) {
  std::string p = SkillsCodeRunner::Program("x = helper()", "def helper():\n    return 1\n");
  EXPECT_EQ(p.rfind("import tools\n", 0), 0u);
  EXPECT_LT(p.find("def helper"), p.find("x = helper()"));
}

}  // namespace
}  // namespace naut::agent

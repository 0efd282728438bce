#include "agent/skill_writer.h"

#include <gtest/gtest.h>

#include <deque>
#include <tuple>

#include "agent/library.h"
#include "skills/testing/temp_store.h"
#include "skills/validator.h"

namespace naut::agent {
namespace {

TEST(ExtractPythonBlockTest, TheFirstFencedBlock) {
  EXPECT_EQ(ExtractPythonBlock("Here:\n```python\nprint(1)\n```\n```python\nx\n```"), "print(1)\n");
  EXPECT_EQ(ExtractPythonBlock("```py\nx = 1\n```"), "x = 1\n");
  EXPECT_EQ(ExtractPythonBlock("```python\nunclosed()\n"), "unclosed()\n");
  EXPECT_FALSE(ExtractPythonBlock("no code here"));
  EXPECT_FALSE(ExtractPythonBlock("```json\n{}\n```"));
  // A fence inside the code (a small model quoted the prompt in a comment) does not end it.
  EXPECT_EQ(ExtractPythonBlock("```python\n# write one ```python block\nf()\n```\ntext"),
            "# write one ```python block\nf()\n");
  EXPECT_EQ(ExtractPythonBlock("```python\n```"), "");
}

TEST(ExtractBareToolCodeTest, AnUnfencedCallOfAKnownToolIsCode) {
  const std::vector<std::string> tools = {"game__press_inline_button", "game__send_message"};
  EXPECT_EQ(ExtractBareToolCode("game__press_inline_button({\"button_index\": 0})", tools),
            "game__press_inline_button({\"button_index\": 0})\n");
  EXPECT_EQ(ExtractBareToolCode("  tools.game__send_message(message=\"/start\")\nprint(1)\n\nSo "
                                "the game starts.",
                                tools),
            "tools.game__send_message(message=\"/start\")\nprint(1)\n");
  EXPECT_EQ(ExtractBareToolCode("print(game__send_message(message=\"/hero\"))", tools),
            "print(game__send_message(message=\"/hero\"))\n");
  // Prose, an unknown tool, a name without a call: not code.
  EXPECT_FALSE(ExtractBareToolCode("Press game__press_inline_button(...) to go on.", tools));
  EXPECT_FALSE(ExtractBareToolCode("game__reset(seed=1)", tools));
  EXPECT_FALSE(ExtractBareToolCode("game__send_message is the tool to use", tools));
  EXPECT_FALSE(ExtractBareToolCode("", tools));
}

TEST(WithCallParenthesesTest, ACallWrittenLikeAnObservationLabelIsMadeACall) {
  const std::vector<std::string> tools = {"game__send_message", "game__press_inline_button"};
  EXPECT_EQ(
      WithCallParentheses("game__send_message {\"chat_id\":\"@bot\",\"message\":\"/start\"}\n"
                          "if x:\n    tools.game__press_inline_button{\"button_index\": 0}  \n"
                          "game__send_message({\"a\": 1})\nother {\"a\": 1}\n",
                          tools),
      "game__send_message({\"chat_id\":\"@bot\",\"message\":\"/start\"})\n"
      "if x:\n    tools.game__press_inline_button({\"button_index\": 0})\n"
      "game__send_message({\"a\": 1})\nother {\"a\": 1}\n");
  EXPECT_EQ(WithCallParentheses("", tools), "");
  EXPECT_EQ(ExtractBareToolCode("game__send_message {\"message\": \"/start\"}\n\nDone.", tools),
            "game__send_message({\"message\": \"/start\"})\n");
}

// Stores what has a function definition; refuses the rest.
class Library : public SkillLibrary {
 public:
  std::vector<std::string> added;
  std::optional<std::string> for_task;
  Result<std::vector<SkillSnippet>> Retrieve(const std::string&, const std::string&,
                                             int k) override {
    EXPECT_EQ(k, 5);
    return std::vector<SkillSnippet>{{"train_n", "Train n times", "def train_n(n): pass"},
                                     {"start", "Start", "def start(): pass"}};
  }
  Result<std::string> Add(const std::string& code, const std::string&, const std::string& env,
                          SkillOrigin) override {
    EXPECT_EQ(env, "counter");
    if (code.find("def ") == std::string::npos) return InvalidArgument("no function definition");
    added.push_back(code);
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
    return for_task;
  }
};

class SkillWriterTest : public ::testing::Test {
 protected:
  SkillWriter Make(SkillLibrary* library) {
    LoopAccess access;
    access.ask_model = [this](std::vector<llm::Message> messages,
                              const llm::ResponseFormat&) -> llm::ChatResult {
      requests.push_back(messages);
      if (answers.empty()) return llm::LlmError{llm::LlmError::Kind::kNetwork, "unreachable"};
      llm::ChatResponse r;
      r.content = answers.front();
      answers.pop_front();
      return r;
    };
    access.prompt = [](const std::string& name, const std::map<std::string, std::string>& v) {
      return Result<std::string>(name + "|" + v.at("task") + "|" + v.at("actions") + "|" +
                                 v.at("skill_names"));
    };
    access.observe = [] { return std::string(); };
    access.emit = [this](const std::string& type, const Json& f) {
      events.push_back(type + " " + DumpJson(f));
    };
    return SkillWriter(library, "counter", 5, access);
  }
  std::deque<std::string> answers;
  std::vector<std::vector<llm::Message>> requests;
  std::vector<std::string> events;
};

TEST_F(SkillWriterTest, TheActionsThatWorkedBecomeAStoredSkill) {
  Library library;
  answers = {"```python\ndef train_twice():\n    \"\"\"Train twice.\"\"\"\n```"};
  EXPECT_EQ(Make(&library).Learn("Get two points", {"game__press({})", "game__press({})"}),
            "train_twice");
  ASSERT_EQ(library.added.size(), 1u);
  EXPECT_EQ(library.added[0], "def train_twice():\n    \"\"\"Train twice.\"\"\"\n");
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0][0].content,
            "skill_writer|Get two points|game__press({})  # 2 times in a row\n|train_n, start");
  EXPECT_EQ(events,
            (std::vector<std::string>{R"(skill {"name":"train_twice","status":"learned"})"}));
}

// The 1.5B ended most skills by calling them, which the validator refuses: the call is dropped
// (the agent calls a skill itself) and the skill is learned on the first answer.
TEST_F(SkillWriterTest, ASkillThatCallsItselfWhenLoadedIsLearnedWithoutTheCall) {
  Library library;
  answers = {
      "```python\ndef train_twice():\n    \"\"\"Train twice.\"\"\"\n\n"
      "# Call the function\ntrain_twice()\n```"};
  EXPECT_EQ(Make(&library).Learn("Get two points", {"game__press({})"}), "train_twice");
  ASSERT_EQ(library.added.size(), 1u);
  EXPECT_EQ(library.added[0],
            "def train_twice():\n    \"\"\"Train twice.\"\"\"\n\n# Call the function\n");
  EXPECT_EQ(requests.size(), 1u);
}

TEST_F(SkillWriterTest, ASkillWithoutADocstringIsDescribedByItsTask) {
  Library library;
  answers = {"```python\ndef train_twice():\n    return 2\n```"};
  EXPECT_EQ(Make(&library).Learn("Get two points", {"game__press({})"}), "train_twice");
  ASSERT_EQ(library.added.size(), 1u);
  EXPECT_EQ(library.added[0], "def train_twice():\n    \"\"\"Get two points\"\"\"\n    return 2\n");
  EXPECT_EQ(requests.size(), 1u);
}

TEST_F(SkillWriterTest, ARefusedSkillGoesBackOnceWithTheReason) {
  Library library;
  answers = {"tools.game__press()", "still no function", "never asked"};
  EXPECT_EQ(Make(&library).Learn("Get two points", {}), "");
  EXPECT_TRUE(library.added.empty());
  ASSERT_EQ(requests.size(), 2u);  // kSkillAttempts
  EXPECT_EQ(requests[0][0].content, "skill_writer|Get two points|(none recorded)|train_n, start");
  ASSERT_EQ(requests[1].size(), 3u);
  EXPECT_EQ(requests[1][1].content, "tools.game__press()");
  EXPECT_NE(requests[1][2].content.find("That skill was refused: no function definition"),
            std::string::npos);
  EXPECT_EQ(events.size(), 2u);
  EXPECT_NE(events[1].find("\"status\":\"refused\""), std::string::npos);
}

// With a check: a skill that passes is verified; one that fails is a draft, goes back to the
// model with the reason, and its repair is checked again; a check that cannot run leaves the
// skill unverified, learned as before.
TEST_F(SkillWriterTest, ACheckedSkillIsVerifiedOrADraftSentBackForRepair) {
  const std::string wrong =
      "```python\ndef train_twice():\n    \"\"\"Train twice.\"\"\"\n    return 1\n```";
  const std::string right =
      "```python\ndef train_twice():\n    \"\"\"Train twice.\"\"\"\n    return 2\n```";
  std::vector<std::string> checked;
  auto check = [&](const std::string& name, const std::string& code) {
    checked.push_back(name + ": " + code.substr(code.rfind("return")));
    return code.find("return 2") != std::string::npos
               ? SkillCheck{SkillCheck::State::kPassed, "the checker agreed"}
               : SkillCheck{SkillCheck::State::kFailed, "it ran, and the points are 1 of 2"};
  };
  {  // wrong, then repaired
    Library library;
    answers = {wrong, right};
    EXPECT_EQ(Make(&library).Learn("Get two points", {}, check), "train_twice");
    EXPECT_EQ(checked,
              (std::vector<std::string>{"train_twice: return 1\n", "train_twice: return 2\n"}));
    ASSERT_EQ(requests.size(), 2u);
    EXPECT_EQ(requests[1][2].content,
              "That skill was run from the state the task started in, as train_twice(), and it "
              "did not do the task: it ran, and the points are 1 of 2\nWrite it again, fixing "
              "that. One ```python block only.");
    using Check = std::tuple<std::string, bool, std::string>;
    EXPECT_EQ(library.checks,
              (std::vector<Check>{{"train_twice", false, "it ran, and the points are 1 of 2"},
                                  {"train_twice", true, "the checker agreed"}}));
    EXPECT_NE(events[0].find(R"("status":"draft")"), std::string::npos) << events[0];
    EXPECT_NE(events[1].find(R"("status":"verified")"), std::string::npos) << events[1];
  }
  {  // wrong twice: a draft it stays, and its name is still the task's skill
    Library library;
    answers = {wrong, wrong, "never asked"};
    requests.clear();
    events.clear();
    checked.clear();
    EXPECT_EQ(Make(&library).Learn("Get two points", {}, check), "train_twice");
    EXPECT_EQ(requests.size(), 2u);
    ASSERT_EQ(library.checks.size(), 2u);
    EXPECT_FALSE(std::get<1>(library.checks[0]) || std::get<1>(library.checks[1]));
    for (const auto& e : events) EXPECT_EQ(e.find("verified"), std::string::npos) << e;
  }
  {  // the check cannot run: learned, unverified, saying why
    Library library;
    answers = {wrong};
    events.clear();
    auto cannot = [](const std::string&, const std::string&) {
      return SkillCheck{SkillCheck::State::kNotRun, "no save_state_tool"};
    };
    EXPECT_EQ(Make(&library).Learn("Get two points", {}, cannot), "train_twice");
    EXPECT_TRUE(library.checks.empty());
    EXPECT_EQ(
        events,
        (std::vector<std::string>{
            R"(skill {"name":"train_twice","status":"learned","unverified":"no save_state_tool"})"}));
  }
}

TEST(CompactActionsTest, ACallRepeatedInARowIsOneLineWithItsCountAndLastAnswer) {
  EXPECT_EQ(CompactActions({"go({})  # forest", "hit({\"i\":0})  # -6", "hit({\"i\":0})  # -4",
                            "hit({\"i\":0})  # Victory", "go({})  # town", "```python\nx()\n```"}),
            "go({})  # forest\n"
            "hit({\"i\":0})  # 3 times in a row; the last answer: Victory\n"
            "go({})  # town\n```python\nx()\n```\n");
  EXPECT_EQ(CompactActions({}), "");
  EXPECT_EQ(CompactActions({"a()", "a()"}), "a()  # 2 times in a row\n");
}

TEST(SkillDraftProblemTest, CopiedLinesAndWrongToolNamesAreCaught) {
  std::string copied = "import tools\ndef f():\n    \"\"\"F.\"\"\"\n";
  for (int i = 0; i < 4; ++i) copied += "    tools.game__press({\"button_index\": 0})\n";
  auto problem = SkillDraftProblem(copied, {});
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("line 7 repeats the line above 3 times: write a loop"), std::string::npos)
      << *problem;
  // Three copies pass; so do blank lines between different lines.
  std::string three = "def f():\n    a()\n    a()\n\n    a()\n    b()\n";
  EXPECT_FALSE(SkillDraftProblem(three, {}));

  auto no_server = SkillDraftProblem("def f():\n    tools.press_inline_button({})\n", {});
  ASSERT_TRUE(no_server);
  EXPECT_NE(no_server->find("tools.press_inline_button(...) is not a tool"), std::string::npos);
  // A made-up tool is told which tools the actions used, not sent to a prefixed guess.
  auto made_up = SkillDraftProblem("def f():\n    tools.get_response()\n", {},
                                   {"game__press_inline_button", "game__get_messages"});
  ASSERT_TRUE(made_up);
  EXPECT_NE(made_up->find("the actions used tools.game__press_inline_button, "
                          "tools.game__get_messages"),
            std::string::npos)
      << *made_up;
  EXPECT_EQ(made_up->find("tools.game__get_response"), std::string::npos) << *made_up;
  EXPECT_FALSE(SkillDraftProblem("def f():\n    tools.start_game('x')\n", {"start_game"}));
  EXPECT_FALSE(
      SkillDraftProblem("import tools\ndef f():\n    tools.game__send_message(message='/start')\n"
                        "    tools.call('game__x')\n    start_game()\n    mytools.go()\n",
                        {"start_game"}));
}

TEST(WithToolPrefixesTest, AToolWrittenWithoutItsServerGetsTheOneItMeans) {
  const std::vector<std::string> actions = {
      "game__press_inline_button({\"button_index\":0})  # ok",
      "```python\nfor _ in range(2):\n    game__send_message(message='/start')\n```",
      "shop__send_message({})  # ok"};
  EXPECT_EQ(WithToolPrefixes("tools.press_inline_button(button_index=0)\n"
                             "x = tools.press_inline_button({})\n",
                             actions),
            "tools.game__press_inline_button(button_index=0)\n"
            "x = tools.game__press_inline_button({})\n");
  // Two servers have send_message: left as written (the check says what is wrong); a skill, a
  // full name and tools.call are untouched.
  const std::string unchanged =
      "tools.send_message(m=1)\ntools.my_skill()\ntools.game__x()\ntools.call('a')\n"
      "mytools.press_inline_button()\n";
  EXPECT_EQ(WithToolPrefixes(unchanged, actions), unchanged);
  EXPECT_EQ(WithToolPrefixes("", actions), "");
}

TEST_F(SkillWriterTest, ADraftThatCopiesALineIsRefusedBeforeTheLibrary) {
  Library library;
  std::string copied = "```python\ndef win():\n    \"\"\"Win.\"\"\"\n";
  for (int i = 0; i < 5; ++i) copied += "    tools.game__press({})\n";
  answers = {copied + "```",
             "```python\ndef win():\n    \"\"\"Win.\"\"\"\n    while True:\n        "
             "tools.game__press({})\n```"};
  EXPECT_EQ(Make(&library).Learn("Win", {"game__press({})  # hit"}), "train_twice");
  ASSERT_EQ(library.added.size(), 1u);  // only the loop reached the library
  EXPECT_NE(library.added[0].find("while True"), std::string::npos);
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_NE(requests[1][2].content.find("write a loop"), std::string::npos);
}

TEST_F(SkillWriterTest, ASkillAlreadyLearnedForTheTaskIsKeptWithoutAsking) {
  Library library;
  library.for_task = "train_twice";
  EXPECT_EQ(Make(&library).Learn("Get two points", {}), "train_twice");
  EXPECT_TRUE(requests.empty());
  EXPECT_NE(events[0].find("\"status\":\"kept\""), std::string::npos);
}

TEST_F(SkillWriterTest, WithoutALibraryOrAModelNothingIsLearnedAndItIsSaid) {
  EXPECT_EQ(Make(nullptr).Learn("Get two points", {}), "");
  EXPECT_NE(events[0].find("\"status\":\"unavailable\""), std::string::npos);
  Library library;
  EXPECT_EQ(Make(&library).Learn("Get two points", {}), "");  // the model is unreachable
  EXPECT_NE(events[1].find("\"status\":\"failed\""), std::string::npos);
}

// The calls that did a task, made again in order; a call repeated in a row is one loop.
TEST(ReplaySkillTest, TheCallsInOrderWithARepeatAsOneLoop) {
  const Json attack = {{"chat_id", "@bot"}, {"button_text", "Attack"}};
  auto code = ReplaySkill("win_fight", "Win a fight.",
                          {{"game__send_message", {{"chat_id", "@bot"}, {"message", "/hunt"}}},
                           {"game__press_inline_button", attack},
                           {"game__press_inline_button", attack},
                           {"game__press_inline_button", attack},
                           {"game__get_messages", Json::object()}});
  ASSERT_TRUE(code);
  EXPECT_EQ(*code,
            "import tools\n\n\ndef win_fight():\n"
            "    \"Win a fight. Replays the 5 tool calls that did it, in order; returns the last "
            "call's answer.\"\n"
            "    answer = None\n"
            "    answer = tools.game__send_message(chat_id=\"@bot\", message=\"/hunt\")\n"
            "    for _ in range(3):\n"
            "        answer = tools.game__press_inline_button(button_text=\"Attack\", "
            "chat_id=\"@bot\")\n"
            "    answer = tools.game__get_messages()\n"
            "    return answer\n");
  // It is a skill the library takes: one function, a docstring, no top-level call.
  auto shape = skills::ValidateSkill(*code);
  ASSERT_TRUE(shape) << shape.error().ToString();
}

// JSON values are written as Python's; keys that are no Python names go in one dict.
TEST(ReplaySkillTest, ArgumentsAsPythonLiterals) {
  auto code = ReplaySkill("f", "Say \"hi\" \\ there.",
                          {{"s__t",
                            {{"flag", true},
                             {"off", false},
                             {"none", nullptr},
                             {"list", {1, 2.5, "x\n"}},
                             {"obj", {{"k", "é"}}}}},
                           {"s__u", {{"not a name", 1}, {"class", 2}}}});
  ASSERT_TRUE(code);
  EXPECT_NE(code->find("tools.s__t(flag=True, list=[1, 2.5, \"x\\n\"], none=None, "
                       "obj={\"k\": \"é\"}, off=False)"),
            std::string::npos)
      << *code;
  EXPECT_NE(code->find("tools.s__u({\"class\": 2, \"not a name\": 1})"), std::string::npos)
      << *code;
  EXPECT_NE(code->find("\"Say \\\"hi\\\" \\\\ there. Replays"), std::string::npos) << *code;
  auto shape = skills::ValidateSkill(*code);
  ASSERT_TRUE(shape) << shape.error().ToString();
}

TEST(ReplaySkillTest, NothingToReplayOrTooMuch) {
  EXPECT_FALSE(ReplaySkill("f", "Task.", {}));
  EXPECT_FALSE(ReplaySkill("not a name", "Task.", {{"s__t", Json::object()}}));
  EXPECT_FALSE(ReplaySkill("f", "Task.", {{"s__t; import os", Json::object()}}));
  std::vector<ActionCall> many;
  for (size_t i = 0; i <= kMaxReplaySteps; ++i) many.push_back({"s__t", {{"i", i}}});
  EXPECT_FALSE(ReplaySkill("f", "Task.", many));
  many.pop_back();
  EXPECT_TRUE(ReplaySkill("f", "Task.", many));
}

TEST(SkillNameForTaskTest, TheTasksWordsWithoutSmallOnes) {
  EXPECT_EQ(SkillNameForTask("Buy a Healing Potion from the Goblin Market."),
            "buy_healing_potion_goblin_market");
  EXPECT_EQ(SkillNameForTask("Win a fight against any monster."), "win_fight_against_monster");
  EXPECT_EQ(SkillNameForTask("Send /start to the game bot, then wait for it"),
            "send_start_game_bot_then");
  EXPECT_EQ(SkillNameForTask("2 potions"), "do_2_potions");
  EXPECT_EQ(SkillNameForTask("¿?"), "do_task");
  EXPECT_EQ(SkillNameForTask("Import"), "do_import");  // a Python keyword
  EXPECT_EQ(TaskWords("Earn 20 XP, then rest at the Inn."),
            (std::vector<std::string>{"earn", "20", "xp", "then", "rest", "inn"}));
}

TEST(ReplayFitsTaskTest, AReplayIsOfferedOnlyForATaskInItsWords) {
  auto replay = [](const std::string& task) {
    return task + std::string(kReplayNote) + "3 tool calls that did it, in order.";
  };
  const std::string potion = replay("Buy a Healing Potion from the Goblin Market.");
  EXPECT_TRUE(ReplayFitsTask(potion, "Buy a Healing Potion from the Goblin Market."));
  EXPECT_TRUE(ReplayFitsTask(potion, "At the Goblin Market, buy one more Healing Potion"));
  EXPECT_FALSE(ReplayFitsTask(potion, "Buy a sword from the Goblin Market."));
  EXPECT_FALSE(ReplayFitsTask(replay("Earn 20 XP."), "Earn 40 XP."));
  EXPECT_FALSE(ReplayFitsTask(replay("Win a fight against any monster."), "Earn 20 XP."));
  EXPECT_TRUE(ReplayFitsTask(replay("Reach level 2."), "Reach level 2"));
  EXPECT_FALSE(ReplayFitsTask(replay("Reach level 2."), "Reach level 3."));
  EXPECT_FALSE(ReplayFitsTask(replay("?"), "Press twice."));  // no words: fits nothing
}

// With a real library: the calls that worked are tried as the skill first; kept, verified, when
// the check passes (no model call), removed when it fails (the model writes one).
class ReplayLearnTest : public SkillWriterTest {
 protected:
  void SetUp() override {
    Status opened = store_.Open("naut-replay-");
    ASSERT_TRUE(opened.ok()) << opened.ToString();
    library_ = std::make_unique<StoreSkillLibrary>(*store_.skills);
  }
  void TearDown() override { library_.reset(); }
  const std::vector<ActionCall> calls_ = {{"counter__press", {{"times", 1}}},
                                          {"counter__press", {{"times", 1}}}};
  skills::testing::TempSkillStore store_;
  std::unique_ptr<StoreSkillLibrary> library_;
};

TEST_F(ReplayLearnTest, AReplayThatPassesItsCheckIsTheSkillAndNoModelIsAsked) {
  std::vector<std::string> checked;
  auto check = [&](const std::string& name, const std::string& code) {
    checked.push_back(name + "\n" + code);
    return SkillCheck{SkillCheck::State::kPassed, "the checker agreed"};
  };
  EXPECT_EQ(Make(library_.get()).Learn("Press twice.", {"counter__press({})"}, check, calls_),
            "press_twice");
  EXPECT_TRUE(requests.empty());
  ASSERT_EQ(checked.size(), 1u);
  EXPECT_NE(
      checked[0].find("    for _ in range(2):\n        answer = tools.counter__press(times=1)"),
      std::string::npos)
      << checked[0];
  auto stored = store_.skills->Get("press_twice");
  ASSERT_TRUE(stored) << stored.error().ToString();
  EXPECT_EQ(stored->verification, skills::Verification::kVerified);
  EXPECT_NE(std::find(stored->tags.begin(), stored->tags.end(), kReplayTag), stored->tags.end());
  auto offered = library_->Retrieve("Press twice.", "counter", 5);
  ASSERT_TRUE(offered) << offered.error().ToString();
  ASSERT_EQ(offered->size(), 1u);
  EXPECT_TRUE(offered->front().replay);
  ASSERT_FALSE(events.empty());
  EXPECT_NE(events.back().find(R"("source":"replay","status":"verified")"), std::string::npos)
      << events.back();
  // The next task of the same words gets a name of its own, not a new version of this one.
  const std::vector<ActionCall> other = {{"counter__reset", {{"hard", true}}},
                                         {"counter__inspect", {{"verbose", false}, {"depth", 3}}},
                                         {"counter__reset", {{"hard", false}}}};
  EXPECT_EQ(Make(library_.get()).Learn("Press twice!", {"counter__reset({})"}, check, other),
            "press_twice_2")
      << ::testing::PrintToString(events);
  EXPECT_EQ(store_.skills->Get("press_twice", 0)->version, 1);
}

TEST_F(ReplayLearnTest, AReplayThatFailsItsCheckIsRemovedAndTheModelWritesTheSkill) {
  int checks = 0;
  auto check = [&](const std::string& name, const std::string&) {
    ++checks;
    if (name == "press_twice") return SkillCheck{SkillCheck::State::kFailed, "it ran, not done"};
    return SkillCheck{SkillCheck::State::kPassed, "the checker agreed"};
  };
  answers = {
      "```python\nimport tools\n\ndef press_until_two():\n    \"\"\"Press until two.\"\"\"\n"
      "    return tools.counter__press(times=2)\n```"};
  EXPECT_EQ(Make(library_.get()).Learn("Press twice.", {"counter__press({})"}, check, calls_),
            "press_until_two");
  EXPECT_EQ(checks, 2);
  EXPECT_EQ(requests.size(), 1u);
  EXPECT_FALSE(store_.skills->Get("press_twice"));
  EXPECT_NE(events.front().find(R"("reason":"it ran, not done","status":"not_replayed")"),
            std::string::npos)
      << events.front();
  // Without a check nothing is replayed: an unchecked replay would be trusted blindly.
  answers = {
      "```python\nimport tools\n\ndef press_again():\n    \"\"\"Press again.\"\"\"\n"
      "    return tools.counter__press(times=1)\n```"};
  EXPECT_EQ(Make(library_.get()).Learn("Press again.", {"counter__press({})"}, {}, calls_),
            "press_again");
  // What the model wrote is no replay.
  auto offered = library_->Retrieve("Press again.", "counter", 5);
  ASSERT_TRUE(offered) << offered.error().ToString();
  ASSERT_FALSE(offered->empty());
  for (const auto& s : *offered) EXPECT_FALSE(s.replay) << s.name;
}

}  // namespace
}  // namespace naut::agent

#include "skills/skill_store.h"

#include <gtest/gtest.h>

#include <set>

#include "core/files.h"
#include "core/ids.h"
#include "skills/testing/market_skill.h"

namespace naut::skills {
namespace {

namespace fs = std::filesystem;

std::string SkillCode(const std::string& name, const std::string& doc, const std::string& body) {
  return "import tools\n\ndef " + name + "(chat_id: int):\n    \"\"\"" + doc + "\"\"\"\n    " +
         body + "\n";
}

class SkillStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("naut-skills-" + NewId());
    fs::create_directories(dir_);
    Reopen();
  }
  void TearDown() override {
    skills_.reset();
    memory_.reset();
    fs::remove_all(dir_);
  }
  void Reopen() {
    skills_.reset();
    memory_.reset();
    auto m = memory::MemoryStore::Open(dir_ / "neuronaut.db",
                                       std::make_unique<memory::HashingEmbedder>(256),
                                       {.index_dir = dir_ / "index"});
    ASSERT_TRUE(m) << m.error().ToString();
    memory_ = std::move(*m);
    auto s = SkillStore::Open(*memory_, {.skills_dir = dir_ / "skills"});
    ASSERT_TRUE(s) << s.error().ToString();
    skills_ = std::move(*s);
  }
  AddedSkill Add(const std::string& code, std::string env = "") {
    auto r = skills_->Add({.code = code, .environment = env});
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : AddedSkill{};
  }

  fs::path dir_;
  std::unique_ptr<memory::MemoryStore> memory_;
  std::unique_ptr<SkillStore> skills_;
};

TEST_F(SkillStoreTest, AddsMirrorsAndRetrieves) {
  auto a =
      Add(SkillCode("hunt_monster", "Press Hunt to fight a monster for gold.",
                    "return tools.rpg__press_inline_button(chat_id=chat_id, button_text='Hunt')"),
          "rpg");
  EXPECT_EQ(a.skill.version, 1);
  EXPECT_EQ(a.skill.description, "Press Hunt to fight a monster for gold.");
  Add(SkillCode("rest_at_inn", "Rest at the inn to restore health.",
                "return tools.rpg__press_inline_button(chat_id=chat_id, button_text='Inn')"),
      "rpg");
  auto file = ReadFile(dir_ / "skills/hunt_monster.py");
  ASSERT_TRUE(file);
  EXPECT_NE(file->find("def hunt_monster(chat_id: int):"), std::string::npos);
  auto hits = skills_->Search("fight monsters to earn gold", 1);
  ASSERT_TRUE(hits) << hits.error().ToString();
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ(hits->at(0).skill.name, "hunt_monster");
  EXPECT_TRUE(skills_->Search("gold", 5, "fs")->empty());
  auto got = skills_->Get("rest_at_inn");
  ASSERT_TRUE(got);
  ASSERT_EQ(got->params.size(), 1u);
  EXPECT_EQ(got->params[0].annotation, "int");
}

TEST_F(SkillStoreTest, SameNameMakesANewVersionAndKeepsTheOld) {
  Add(SkillCode("hunt_monster", "Press Hunt once.", "return 1"));
  auto v2 = Add(SkillCode("hunt_monster", "Press Hunt until a monster is beaten.", "return 2"));
  EXPECT_EQ(v2.skill.version, 2);
  ASSERT_TRUE(v2.superseded);
  EXPECT_EQ(v2.superseded->version, 1);
  EXPECT_EQ(skills_->Get("hunt_monster")->version, 2);
  EXPECT_TRUE(skills_->Get("hunt_monster", 1)->superseded);
  EXPECT_EQ(skills_->List()->size(), 1u);
  EXPECT_EQ(skills_->List(true)->size(), 2u);
  // The old version is no longer retrieved; the file shows the new one.
  auto hits = skills_->Search("Press Hunt once", 5);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ(hits->at(0).skill.version, 2);
  EXPECT_NE(ReadFile(dir_ / "skills/hunt_monster.py")->find("return 2"), std::string::npos);
  // Adding the same code again changes nothing.
  auto same = Add(SkillCode("hunt_monster", "Press Hunt until a monster is beaten.", "return 2"));
  EXPECT_TRUE(same.unchanged);
  EXPECT_EQ(skills_->Versions("hunt_monster")->size(), 2u);
}

TEST_F(SkillStoreTest, NearDuplicatesAreRefusedUnlessAllowed) {
  Add(SkillCode("hunt_monster", "Press Hunt to fight a monster for gold.", "return 1"));
  auto twin = skills_->Add(
      {.code = SkillCode("hunt_a_monster", "Press Hunt to fight a monster for gold.", "return 1")});
  ASSERT_FALSE(twin);
  EXPECT_EQ(twin.error().code(), Code::kAlreadyExists);
  EXPECT_NE(twin.error().message().find("near-duplicate of skill 'hunt_monster'"),
            std::string::npos)
      << twin.error().message();
  EXPECT_TRUE(skills_->Add(
      {.code = SkillCode("hunt_a_monster", "Press Hunt to fight a monster for gold.", "return 1"),
       .allow_near_duplicate = true}));
}

TEST_F(SkillStoreTest, InvalidSkillsAreRefusedWithTheReasonAndNothingIsStored) {
  auto r = skills_->Add({.code = "import os\ndef f():\n    '''x'''\n"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("import of 'os' is not allowed"), std::string::npos);
  r = skills_->Add({.code = SkillCode("f", "x", "return 1"), .name = "g"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("entry function is 'f'"), std::string::npos);
  EXPECT_TRUE(skills_->List(true)->empty());
  EXPECT_FALSE(fs::exists(dir_ / "skills/f.py"));
}

TEST_F(SkillStoreTest, OutcomesAreCounted) {
  Add(SkillCode("hunt_monster", "Hunt.", "return 1"));
  ASSERT_TRUE(skills_->RecordOutcome("hunt_monster", true).ok());
  ASSERT_TRUE(skills_->RecordOutcome("hunt_monster", false).ok());
  ASSERT_TRUE(skills_->RecordOutcome("hunt_monster", true).ok());
  auto k = skills_->Get("hunt_monster");
  EXPECT_EQ(k->uses, 3);
  EXPECT_EQ(k->successes, 2);
  EXPECT_EQ(k->failures, 1);
  EXPECT_EQ(skills_->RecordOutcome("nope", true).error().code(), Code::kNotFound);
}

// A skill that keeps failing is retired: kept, listed with its last error, but no longer
// offered or found; a success in between resets the count, and a new version starts afresh.
TEST_F(SkillStoreTest, ASkillThatKeepsFailingIsRetiredWithItsLastError) {
  Add(SkillCode("hunt_monster", "Hunt the monster in the forest.", "return 1"));
  Add(SkillCode("rest_at_inn", "Rest at the inn in town.", "return 2"));
  auto fail = [&](const std::string& why) {
    auto k = skills_->RecordOutcome("hunt_monster", false, why);
    EXPECT_TRUE(k.ok()) << k.error().ToString();
    return k.ok() ? *k : skills::Skill{};
  };
  EXPECT_FALSE(fail("KeyError: 'hp'").retired);
  EXPECT_FALSE(fail("KeyError: 'hp'").retired);
  ASSERT_TRUE(skills_->RecordOutcome("hunt_monster", true).ok());  // the count starts again
  EXPECT_FALSE(fail("timeout").retired);
  EXPECT_FALSE(fail("timeout").retired);
  skills::Skill k = fail("Traceback ...\nValueError: no monster here");
  EXPECT_TRUE(k.retired);
  EXPECT_EQ(k.failures_in_a_row, 3);
  EXPECT_EQ(k.failures, 5);
  EXPECT_EQ(k.last_error, "Traceback ...\nValueError: no monster here");
  // Listed, with what went wrong; not offered, not found.
  auto listed = skills_->List();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 2u);
  auto offered = skills_->Offered();
  ASSERT_TRUE(offered.ok());
  ASSERT_EQ(offered->size(), 1u);
  EXPECT_EQ(offered->front().name, "rest_at_inn");
  auto hits = skills_->Search("hunt the monster in the forest", 5);
  ASSERT_TRUE(hits.ok());
  for (const auto& h : *hits) EXPECT_NE(h.skill.name, "hunt_monster");
  Json j = skills::SkillToJson(*skills_->Get("hunt_monster"), false);
  EXPECT_EQ(j["retired"], true);
  EXPECT_EQ(j["last_error"], "Traceback ...\nValueError: no monster here");
  // A new version is offered again, with a clean record.
  Add(SkillCode("hunt_monster", "Hunt the monster in the forest.", "return 3"));
  auto fresh = skills_->Get("hunt_monster");
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->version, 2);
  EXPECT_FALSE(fresh->retired);
  EXPECT_EQ(fresh->failures_in_a_row, 0);
  EXPECT_EQ(skills_->Offered()->size(), 2u);
  EXPECT_TRUE(skills_->Versions("hunt_monster")->front().retired);
}

// Among skills about as relevant, the one that has worked is found first.
TEST_F(SkillStoreTest, SearchPrefersTheSkillThatHasWorked) {
  Add(SkillCode("fight_slime", "Fight a slime near the village.", "return 1"));
  ASSERT_TRUE(skills_
                  ->Add({.code = SkillCode("fight_slime_twice",
                                           "Fight a slime near the village, twice.", "return 2"),
                         .allow_near_duplicate = true})
                  .ok());
  auto before = skills_->Search("fight a slime near the village", 2);
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->size(), 2u);
  const std::string second = (*before)[1].skill.name;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(skills_->RecordOutcome(second, true).ok());
  ASSERT_TRUE(skills_->RecordOutcome((*before)[0].skill.name, false, "lost").ok());
  auto after = skills_->Search("fight a slime near the village", 2);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 2u);
  EXPECT_EQ((*after)[0].skill.name, second);
}

// A check's result is kept with the version it checked (and survives a reopen); a new version
// starts unverified; among skills about as relevant, a verified one comes before a draft.
TEST_F(SkillStoreTest, AVersionsCheckIsKeptAndAVerifiedSkillRanksBeforeADraft) {
  Add(SkillCode("fight_slime", "Fight a slime near the village.", "return 1"));
  ASSERT_TRUE(skills_
                  ->Add({.code = SkillCode("fight_slime_twice",
                                           "Fight a slime near the village, twice.", "return 2"),
                         .allow_near_duplicate = true})
                  .ok());
  EXPECT_EQ(skills_->Get("fight_slime")->verification, Verification::kUnverified);
  auto before = skills_->Search("fight a slime near the village", 2);
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->size(), 2u);
  const std::string first = (*before)[0].skill.name, second = (*before)[1].skill.name;
  auto draft = skills_->SetVerification(first, 0, Verification::kDraft,
                                        "it ran (2 tool calls), and the checker says no");
  ASSERT_TRUE(draft.ok()) << draft.error().ToString();
  EXPECT_EQ(draft->verification, Verification::kDraft);
  ASSERT_TRUE(skills_->SetVerification(second, 1, Verification::kVerified, "agreed").ok());
  EXPECT_EQ(skills_->SetVerification(second, 7, Verification::kVerified, "").error().code(),
            Code::kNotFound);

  Reopen();
  auto after = skills_->Search("fight a slime near the village", 2);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 2u);
  EXPECT_EQ((*after)[0].skill.name, second);
  EXPECT_EQ((*after)[0].skill.verification, Verification::kVerified);
  EXPECT_EQ((*after)[1].skill.verification, Verification::kDraft);
  EXPECT_EQ((*after)[1].skill.verification_note, "it ran (2 tool calls), and the checker says no");
  Json j = SkillToJson((*after)[1].skill, false);
  EXPECT_EQ(j["verification"], "draft");
  EXPECT_EQ(j["verification_note"], "it ran (2 tool calls), and the checker says no");

  // A new version is a new skill as far as checks go.
  auto v2 = Add(SkillCode(second, "Fight a slime near the village, twice.", "return 3"));
  EXPECT_EQ(v2.skill.version, 2);
  EXPECT_EQ(skills_->Get(second)->verification, Verification::kUnverified);
  EXPECT_EQ(skills_->Get(second, 1)->verification, Verification::kVerified);
  EXPECT_EQ(VerificationFromString("verified"), Verification::kVerified);
  EXPECT_FALSE(VerificationFromString("trusted").has_value());
}

using skills::testing::MarketSkill;

TEST(CodeSimilarityTest, CountsTheWordsTwoSourcesShare) {
  EXPECT_DOUBLE_EQ(CodeSimilarity("a = b + c", "a = b + c"), 1.0);
  EXPECT_DOUBLE_EQ(CodeSimilarity("alpha beta", "gamma delta"), 0.0);
  // Keywords do not count: "def", "return" and "tools" are in every skill.
  EXPECT_DOUBLE_EQ(CodeSimilarity("def f(): return tools.x", "def g(): return tools.x"), 1.0 / 3);
}

// Skills that do the same thing with another constant form a group; an unrelated one does not
// join it, whatever the threshold it would pass with one member alone.
TEST_F(SkillStoreTest, AlikeSkillsAreGrouped) {
  Add(MarketSkill("buy_wooden_sword", "Wooden Sword"), "rpg");
  Add(MarketSkill("buy_health_potion", "Health Potion"), "rpg");
  Add(SkillCode("rest_at_inn", "Rest at the inn to restore health.",
                "return tools.game__press_inline_button(chat_id=chat_id, button_text='Rest')"),
      "rpg");
  Add(MarketSkill("buy_torch", "Torch"), "pkg");  // another environment
  auto groups = skills_->SimilarGroups("rpg", 0.5);
  ASSERT_TRUE(groups) << groups.error().ToString();
  ASSERT_EQ(groups->size(), 1u);
  const auto& g = groups->front();
  ASSERT_EQ(g.skills.size(), 2u);
  std::set<std::string> names = {g.skills[0].name, g.skills[1].name};
  EXPECT_EQ(names, (std::set<std::string>{"buy_wooden_sword", "buy_health_potion"}));
  EXPECT_GE(g.similarity, 0.5);
  EXPECT_LT(g.similarity, 1.0);
  auto none = skills_->SimilarGroups("rpg", 0.99);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(SkillStoreTest, CasesAreKeptOnePerTaskAndABigStateIsRefused) {
  Add(MarketSkill("buy_wooden_sword", "Wooden Sword"), "rpg");
  SkillCase c{.skill = "buy_wooden_sword",
              .task = "Buy a sword",
              .milestone = "buy_weapon",
              .start_state = Json{{"gold", 10}}};
  ASSERT_TRUE(skills_->AddCase(c).ok());
  c.start_state = Json{{"gold", 12}};  // the same task again: replaces the first
  ASSERT_TRUE(skills_->AddCase(c).ok());
  auto cases = skills_->Cases("buy_wooden_sword");
  ASSERT_TRUE(cases) << cases.error().ToString();
  ASSERT_EQ(cases->size(), 1u);
  EXPECT_EQ((*cases)[0].start_state, Json({{"gold", 12}}));
  EXPECT_EQ((*cases)[0].call, "buy_wooden_sword()");
  EXPECT_EQ((*cases)[0].environment, "rpg");
  EXPECT_EQ((*cases)[0].milestone, "buy_weapon");
  c.start_state = Json{{"blob", std::string(SkillStore::kMaxCaseStateBytes, 'x')}};
  Status big = skills_->AddCase(c);
  EXPECT_EQ(big.code(), Code::kInvalidArgument) << big.ToString();
  EXPECT_EQ(skills_->AddCase({.skill = "no_such_skill", .task = "t"}).code(), Code::kNotFound);
}

TEST_F(SkillStoreTest, AConsolidatedSkillReplacesItsSourcesAndKeepsThemAsVersions) {
  Add(MarketSkill("buy_wooden_sword", "Wooden Sword"), "rpg");
  Add(MarketSkill("buy_health_potion", "Health Potion"), "rpg");
  ASSERT_TRUE(
      skills_
          ->AddCase(
              {.skill = "buy_wooden_sword", .task = "Buy a sword", .start_state = Json{{"s", 1}}})
          .ok());
  ASSERT_TRUE(
      skills_
          ->AddCase(
              {.skill = "buy_health_potion", .task = "Buy a potion", .start_state = Json{{"s", 2}}})
          .ok());
  const std::string general =
      "import tools\n\ndef buy_item(item: str = \"Wooden Sword\"):\n    \"\"\"Buy an item at the "
      "goblin market.\"\"\"\n    return tools.game__press_inline_button(chat_id="
      "\"@goblin_market_bot\", button_text=\"Buy \" + item)\n";
  auto added = skills_->AddConsolidated(
      {.code = general, .environment = "rpg"}, {"buy_wooden_sword", "buy_health_potion"},
      "checked on 2 tasks",
      {{.task = "Buy a sword", .call = "buy_item()", .start_state = Json{{"s", 1}}},
       {.task = "Buy a potion",
        .call = "buy_item(\"Health Potion\")",
        .start_state = Json{{"s", 2}}}});
  ASSERT_TRUE(added) << added.error().ToString();
  EXPECT_EQ(added->skill.name, "buy_item");
  EXPECT_EQ(added->skill.verification, Verification::kVerified);
  auto offered = skills_->Offered();
  ASSERT_TRUE(offered);
  ASSERT_EQ(offered->size(), 1u);
  EXPECT_EQ(offered->front().name, "buy_item");
  for (const char* old : {"buy_wooden_sword", "buy_health_potion"}) {
    auto v = skills_->Get(old, 1);
    ASSERT_TRUE(v) << v.error().ToString();
    EXPECT_TRUE(v->superseded);
    EXPECT_EQ(v->consolidated_into, "buy_item");
    EXPECT_FALSE(fs::exists(skills_->FileOf(old))) << old;
  }
  EXPECT_TRUE(fs::exists(skills_->FileOf("buy_item")));
  auto cases = skills_->Cases("buy_item");
  ASSERT_TRUE(cases);
  ASSERT_EQ(cases->size(), 2u);
  EXPECT_EQ((*cases)[1].call, "buy_item(\"Health Potion\")");
  // Retrieval finds the new skill only.
  auto hits = skills_->Search("buy a health potion", 5, "rpg");
  ASSERT_TRUE(hits);
  ASSERT_FALSE(hits->empty());
  for (const auto& h : *hits) EXPECT_EQ(h.skill.name, "buy_item");
}

TEST_F(SkillStoreTest, RemoveDeletesEveryVersionAndTheFile) {
  Add(SkillCode("hunt_monster", "Hunt once.", "return 1"));
  Add(SkillCode("hunt_monster", "Hunt twice.", "return 2"));
  ASSERT_TRUE(skills_->Remove("hunt_monster").ok());
  EXPECT_EQ(skills_->Get("hunt_monster").error().code(), Code::kNotFound);
  EXPECT_FALSE(fs::exists(dir_ / "skills/hunt_monster.py"));
  EXPECT_TRUE(skills_->Search("hunt", 5)->empty());
  EXPECT_EQ(skills_->Remove("hunt_monster").code(), Code::kNotFound);
}

TEST_F(SkillStoreTest, ExportImportRoundTripAndFilesComeBack) {
  Add(SkillCode("hunt_monster", "Hunt a monster.", "return 1"), "rpg");
  Add(SkillCode("read_notes", "Read the notes file.",
                "return tools.call('fs__read_text_file', path='notes.txt')"));
  auto bundle = skills_->Export();
  ASSERT_TRUE(bundle);
  EXPECT_EQ((*bundle)["skills"].size(), 2u);
  fs::remove(dir_ / "skills/read_notes.py");
  Reopen();  // a missing mirror file is rewritten
  EXPECT_TRUE(fs::exists(dir_ / "skills/read_notes.py"));

  // Import into a fresh home, with one bad entry that is refused alone.
  fs::path other = dir_ / "other";
  fs::create_directories(other);
  auto m = memory::MemoryStore::Open(other / "neuronaut.db",
                                     std::make_unique<memory::HashingEmbedder>(256), {});
  ASSERT_TRUE(m);
  auto s = SkillStore::Open(**m, {});
  ASSERT_TRUE(s);
  (*bundle)["skills"].push_back(
      {{"name", "evil"}, {"code", "import os\ndef evil():\n  '''x'''\n"}});
  auto report = (*s)->Import(*bundle);
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_EQ(report->added.size(), 2u);
  ASSERT_EQ(report->refused.size(), 1u);
  EXPECT_EQ(report->refused[0].first, "evil");
  EXPECT_EQ((*s)->Get("hunt_monster")->environment, "rpg");
  EXPECT_TRUE(fs::exists(other / "skills/hunt_monster.py"));
  auto again = (*s)->Import(*bundle);
  EXPECT_EQ(again->unchanged.size(), 2u);
  EXPECT_EQ((*s)->Import(Json{{"format", "x"}}).error().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace naut::skills

#include "agent/knowledge.h"

#include <gtest/gtest.h>

namespace naut::agent {
namespace {

TEST(WorldFactsTest, AnswersAreReadLenientlyAndIncompleteEntriesLeftOut) {
  auto facts = ParseWorldFacts(
      "Here you go:\n```json\n{\"entities\": [{\"name\": \"Goblin Market\", \"entityType\": "
      "\"bot\", \"observations\": [\"sells potions for 10 gold\", 3, \"\"]}, {\"entityType\": "
      "\"place\"}, \"x\"], \"relations\": [{\"from\": \"Goblin Market\", \"to\": \"Healing "
      "Potion\", \"relationType\": \"sells\"}, {\"from\": \"Goblin Market\", \"relationType\": "
      "\"x\"}],}\n```");
  ASSERT_TRUE(facts) << facts.error().ToString();
  ASSERT_EQ(facts->entities.size(), 1u);
  EXPECT_EQ(facts->entities[0].name, "Goblin Market");
  EXPECT_EQ(facts->entities[0].type, "bot");
  EXPECT_EQ(facts->entities[0].observations, std::vector<std::string>{"sells potions for 10 gold"});
  ASSERT_EQ(facts->relations.size(), 1u);
  EXPECT_EQ(facts->relations[0].type, "sells");
  for (const char* bad : {"I saw a goblin.", "[1, 2]", "{\"facts\": []}"}) {
    auto r = ParseWorldFacts(bad);
    EXPECT_FALSE(r) << bad;
  }
  auto empty = ParseWorldFacts("{\"entities\": [], \"relations\": []}");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->entities.empty());
}

TEST(WorldFactsTest, OnlyFactsSharingWordsWithTheTaskAreShownMostWordsFirst) {
  WorldFacts graph;
  graph.entities = {{"Oakvale Inn", "place", {"a room costs 10 gold", "restores HP"}},
                    {"Goblin Market", "bot", {"sells a Healing Potion for 10 gold"}},
                    {"Cave Troll", "monster", {"hits hard"}}};
  graph.relations = {{"Goblin Market", "Healing Potion", "sells"},
                     {"Cave Troll", "Echoing Cave", "lives in"}};
  const std::string facts =
      RelevantFacts(graph, "Buy a Healing Potion from the Goblin Market.", 1000);
  EXPECT_EQ(facts,
            "- Goblin Market (bot): sells a Healing Potion for 10 gold\n"
            "- Goblin Market sells Healing Potion\n");
  const std::string both = RelevantFacts(graph, "Pay 10 gold for a room at the inn", 1000);
  EXPECT_EQ(both.find("- Oakvale Inn"), 0u) << both;  // three words shared, before one
  EXPECT_NE(both.find("Goblin Market (bot)"), std::string::npos);
  EXPECT_EQ(both.find("Troll"), std::string::npos);
  EXPECT_EQ(RelevantFacts(graph, "Win a fight", 1000), "");
  EXPECT_LE(RelevantFacts(graph, "gold gold", 40).size(), 40u);
}

}  // namespace
}  // namespace naut::agent

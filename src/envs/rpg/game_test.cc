// The game's promises: a planner wins, a naive hunter dies, the boss needs preparation, the
// same seed replays byte for byte, and no sequence of presses breaks the state.

#include <gtest/gtest.h>

#include <random>

#include "envs/testing/rpg_driver.h"

namespace naut::envs::rpg {
namespace {

using testing::Driver;

Driver NewDriver(uint64_t seed) {
  auto world = RpgWorld::Open("", seed);
  EXPECT_TRUE(world) << world.error().ToString();
  return Driver{*world};
}

TEST(RpgGame, ScriptedPolicyReachesLevel2AndDefeatsTheBossForManySeeds) {
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    Driver d = NewDriver(seed);
    d.check_invariants = seed <= 2;  // full invariant checks on a few runs keep the test fast
    auto out = testing::PlayScripted(d);
    EXPECT_TRUE(out.boss_defeated) << "seed " << seed << " level " << out.level << " deaths "
                                   << out.deaths << " steps " << out.steps;
    EXPECT_GE(out.level, 2) << "seed " << seed;
    Game g = d.world->Snapshot();
    EXPECT_TRUE(g.MilestoneAchieved("reach_level_2"));
    EXPECT_TRUE(g.MilestoneAchieved("defeat_goblin_boss"));
    EXPECT_TRUE(g.MilestoneAchieved("buy_weapon"));
    EXPECT_TRUE(g.MilestoneAchieved("equip_weapon"));
  }
}

TEST(RpgGame, NaivePolicyThatNeverHealsDies) {
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    Driver d = NewDriver(seed);
    auto out = testing::PlayNaive(d);
    EXPECT_GE(out.deaths, 1) << "seed " << seed << " survived " << out.steps << " steps at level "
                             << out.level;
    EXPECT_FALSE(out.boss_defeated);
  }
}

// Straight to the boss at level 1 with the starting kit (even with the inn's full HP and the
// one potion): the boss must win, every seed.
TEST(RpgGame, BossCannotBeBeatenAtLevel1WithoutPreparation) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Driver d = NewDriver(seed);
    d.Send(kGameChatId, "/start");
    d.Press("📜 Quest board");
    EXPECT_NE(d.Press("✅ Accept bounty").find("Bounty accepted"), std::string::npos);
    d.Press("⬅️ Back");
    d.Press("🌲 Forest");
    EXPECT_NE(d.Press("👹 Goblin Camp").find("Goblin Boss"), std::string::npos);
    for (int i = 0; i < 100 && !d.State()["fight"].is_null(); ++i) {
      Json s = d.State();
      if (s["fight"]["boss_winding_up"].get<bool>()) {
        d.Press("🛡 Defend");
      } else if (s["hero"]["hp"].get<int>() < 14 && s["hero"]["potions"].get<int>() > 0) {
        d.PressIndex(2);
      } else {
        d.Press("⚔️ Attack");
      }
    }
    Json s = d.State();
    EXPECT_FALSE(s["boss_defeated"].get<bool>()) << "seed " << seed;
    EXPECT_EQ(s["deaths"], 1) << "seed " << seed;
    EXPECT_EQ(s["location"], "town");
  }
}

// A checker's "not yet" says the next move where the hero stands, down to the button to press
// (its index as list_inline_buttons shows it): in town, the forest; there, Hunt; in a fight,
// Attack (a potion first when HP is low); for anything else, finish the fight first.
TEST(RpgGame, NotYetNamesTheNextMoveWhereTheHeroStands) {
  Driver d = NewDriver(3);
  d.Send(kGameChatId, "/start");
  EXPECT_EQ(d.world->Snapshot().MilestoneDetail("first_victory"),
            "no fight won yet; fights are found in the 🌲 Forest: press 🌲 Forest (button_index 0 "
            "in @dungeon_quest_bot)");
  EXPECT_EQ(d.world->Snapshot().MilestoneDetail("reach_level_2"),
            "level 1 of 2 (0 of 20 XP): every fight won gives XP; fights are found in the 🌲 "
            "Forest: press 🌲 Forest (button_index 0 in @dungeon_quest_bot)");
  d.Press("🌲 Forest");
  EXPECT_EQ(d.world->Snapshot().MilestoneDetail("first_victory"),
            "no fight won yet; press 🐾 Hunt (button_index 0 in @dungeon_quest_bot) to find one");
  d.Press("🐾 Hunt");
  Game g = d.world->Snapshot();
  ASSERT_TRUE(g.fight());
  EXPECT_EQ(
      g.MilestoneDetail("first_victory"),
      "no fight won yet; a fight is on (" + g.fight()->enemy.name + " " +
          std::to_string(g.fight()->enemy.hp) + "/" + std::to_string(g.fight()->enemy.max_hp) +
          " HP, you 30/30 HP): press ⚔️ Attack (button_index 0 in @dungeon_quest_bot) until "
          "its HP is 0");
  EXPECT_NE(g.MilestoneDetail("reach_level_2").find("a fight is on"), std::string::npos);
  // Anything else waits for the fight (the shop refuses to sell during one), and says so first.
  EXPECT_TRUE(g.MilestoneDetail("buy_potion").starts_with("a fight is on ("))
      << g.MilestoneDetail("buy_potion");
  EXPECT_NE(
      g.MilestoneDetail("buy_potion")
          .find("finish it first: press ⚔️ Attack (button_index 0 in @dungeon_quest_bot); "
                "then: no potion"),
      std::string::npos)
      << g.MilestoneDetail("buy_potion");

  // Lose HP by defending round after round until it is low, fight still on.
  for (int i = 0; i < 40 && d.world->Snapshot().fight() &&
                  d.State()["hero"]["hp"].get<int>() * 3 >= d.State()["hero"]["max_hp"].get<int>();
       ++i) {
    d.Press("🛡 Defend");
  }
  g = d.world->Snapshot();
  ASSERT_TRUE(g.fight()) << "seed 3's enemy should outlast the defending hero";
  EXPECT_NE(
      g.MilestoneDetail("first_victory")
          .find("your HP is low: press 🧪 Potion (1) (button_index 2 in @dungeon_quest_bot)"),
      std::string::npos)
      << g.MilestoneDetail("first_victory");
}

TEST(RpgGame, NotYetSendsAShopperBackToTownAndToTheBuyButton) {
  Driver d = NewDriver(3);
  d.Send(kGameChatId, "/start");
  EXPECT_EQ(d.world->Snapshot().MilestoneDetail("buy_potion"),
            "no potion bought yet: the shop is another chat: send /start to @goblin_market_bot, "
            "then press the Buy button for it (it delivers in Oakvale only)");
  EXPECT_EQ(
      d.world->Snapshot().MilestoneDetail("rest_at_inn"),
      "no night at the inn yet: press 🛏 Inn · 10💰 (button_index 2 in @dungeon_quest_bot)");
  d.Press("🌲 Forest");
  Game g = d.world->Snapshot();
  ASSERT_FALSE(g.fight());
  EXPECT_TRUE(g.MilestoneDetail("buy_potion")
                  .starts_with("you are in the forest: go back to town first: press 🏰 Back to "
                               "town (button_index "))
      << g.MilestoneDetail("buy_potion");
  EXPECT_NE(g.MilestoneDetail("rest_at_inn").find("go back to town first"), std::string::npos);
  EXPECT_EQ(g.MilestoneDetail("first_victory").find("go back to town"), std::string::npos);
  d.Press("🏰 Back to town");
  d.Send(kShopChatId, "/start");
  EXPECT_EQ(d.world->Snapshot().MilestoneDetail("buy_potion"),
            "no potion bought yet: press Buy 🧪 Healing Potion · 10💰 (button_index 0 in "
            "@goblin_market_bot) (it delivers in Oakvale only)");
  // The starting purse (25) does not buy the sword (40): the fights that give gold come first.
  EXPECT_EQ(d.world->Snapshot().MilestoneDetail("buy_weapon"),
            "no sword bought yet: the Iron Sword costs 40 💰 and you have 25 💰: every fight won "
            "gives gold; fights are found in the 🌲 Forest: press 🌲 Forest (button_index 0 in "
            "@dungeon_quest_bot)");
}

// The inn asks the purse first, as the shop does: with 5 💰 the hint points to the fights that
// give gold, not to the Inn button that would answer "a room costs 10, you have 5".
TEST(RpgGame, NotYetSendsAnInnGuestWhoCannotPayToTheFights) {
  Driver d = NewDriver(3);
  d.Send(kGameChatId, "/start");
  d.Send(kShopChatId, "/start");
  d.PressIndex(0, kShopChatId);  // a potion: 25 -> 15
  d.PressIndex(0, kShopChatId);  // another: 15 -> 5
  ASSERT_EQ(d.State()["hero"]["gold"], 5);
  EXPECT_EQ(d.world->Snapshot().MilestoneDetail("rest_at_inn"),
            "no night at the inn yet: a room costs 10 💰 and you have 5 💰: every fight won "
            "gives gold; fights are found in the 🌲 Forest: press 🌲 Forest (button_index 0 in "
            "@dungeon_quest_bot)");
  // In the forest with an empty purse the way to the inn is a fight, not the road back.
  d.Press("🌲 Forest");
  EXPECT_EQ(d.world->Snapshot().MilestoneDetail("rest_at_inn").find("go back to town"),
            std::string::npos)
      << d.world->Snapshot().MilestoneDetail("rest_at_inn");
}

// From a screen of its own (the inventory) the hint names the way out before the button that
// is not on screen.
TEST(RpgGame, NotYetLeadsOutOfTheInventoryFirst) {
  Driver d = NewDriver(3);
  d.Send(kGameChatId, "/start");
  d.Press("🎒 Inventory");
  EXPECT_EQ(
      d.world->Snapshot().MilestoneDetail("first_victory"),
      "no fight won yet; fights are found in the 🌲 Forest: press ⬅️ Back (button_index 1 "
      "in @dungeon_quest_bot), then 🌲 Forest");
  d.Press("⬅️ Back");
  EXPECT_NE(
      d.world->Snapshot().MilestoneDetail("first_victory").find("press 🌲 Forest (button_index"),
      std::string::npos)
      << d.world->Snapshot().MilestoneDetail("first_victory");
}

// A bought sword not in hand: the hint leads to its Equip button through the inventory.
TEST(RpgGame, NotYetLeadsABoughtSwordToItsEquipButton) {
  Driver d = NewDriver(3);
  d.Send(kGameChatId, "/start");
  EXPECT_EQ(d.world->Snapshot().MilestoneDetail("equip_weapon"),
            "no bought sword equipped yet: buy one first (the 🛒 Goblin Market)");
  Json state = d.world->Snapshot().ToJson();
  state["hero"]["items"].push_back("iron_sword");
  auto g = Game::FromJson(state);
  ASSERT_TRUE(g) << g.error().ToString();
  EXPECT_EQ(g->MilestoneDetail("equip_weapon"),
            "no bought sword equipped yet: press 🎒 Inventory (button_index 5 in "
            "@dungeon_quest_bot), then Equip 🗡 Iron Sword");
}

// Low HP in the forest: the way to the inn is given as buttons, not as a place.
TEST(RpgGame, NotYetLeadsAWoundedHeroBackToTownAndTheInn) {
  Driver d = NewDriver(3);
  d.Send(kGameChatId, "/start");
  d.Press("🌲 Forest");
  Json state = d.world->Snapshot().ToJson();
  state["hero"]["hp"] = 12;
  auto g = Game::FromJson(state);
  ASSERT_TRUE(g) << g.error().ToString();
  EXPECT_NE(g->MilestoneDetail("reach_level_2")
                .find("your HP is low (12/30 HP): rest at the 🛏 Inn in town before the next "
                      "fight: press 🏰 Back to town (button_index 3 in @dungeon_quest_bot), then "
                      "🛏 Inn"),
            std::string::npos)
      << g->MilestoneDetail("reach_level_2");
}

TEST(RpgGame, SameSeedAndPressesGiveTheSameTranscriptByteForByte) {
  Driver a = NewDriver(42), b = NewDriver(42), c = NewDriver(43);
  testing::PlayScripted(a, 300);
  testing::PlayScripted(b, 300);
  testing::PlayScripted(c, 300);
  ASSERT_GT(a.transcript.size(), 10000u);
  EXPECT_EQ(a.transcript, b.transcript);
  EXPECT_EQ(DumpJson(a.State()), DumpJson(b.State()));
  EXPECT_NE(a.transcript, c.transcript) << "a different seed should play differently";
}

TEST(RpgGame, ResetStartsOverAndReplaysTheSeed) {
  Driver d = NewDriver(5);
  testing::PlayScripted(d, 80);
  std::string first = DumpJson(d.State());
  d.Call("reset", Json{{"seed", 5}});
  Json fresh = d.State();
  EXPECT_EQ(fresh["hero"]["level"], 1);
  EXPECT_EQ(fresh["started"], false);
  d.transcript.clear();
  testing::PlayScripted(d, 80);
  EXPECT_EQ(DumpJson(d.State()), first);
}

TEST(RpgGame, StateRoundTripsThroughJson) {
  Driver d = NewDriver(9);
  testing::PlayScripted(d, 150);
  Game g = d.world->Snapshot();
  auto back = Game::FromJson(g.ToJson());
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(DumpJson(back->ToJson()), DumpJson(g.ToJson()));
}

TEST(RpgGame, FromJsonNamesTheBrokenField) {
  Json s = Game(1).ToJson();
  s["hero"]["gold"] = "lots";
  auto r = Game::FromJson(s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kDataLoss);
  EXPECT_NE(r.error().message().find("hero.gold"), std::string::npos) << r.error().message();

  s = Game(1).ToJson();
  s["hero"]["hp"] = 999;
  r = Game::FromJson(s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("hp"), std::string::npos) << r.error().message();

  EXPECT_FALSE(Game::FromJson(Json::array()));
  EXPECT_FALSE(Game::FromJson(Json{{"version", 2}}));
}

TEST(RpgGame, FromJsonNamesTheFieldByItsPath) {
  const Json good = Game(1).ToJson();
  auto message = [](const Json& s) {
    auto r = Game::FromJson(s);
    return r ? std::string() : r.error().message();
  };
  Json s = good;
  s["location"] = "moon";
  EXPECT_NE(message(s).find("rpg state.location"), std::string::npos) << message(s);
  s = good;
  s["fight"] = 5;
  EXPECT_EQ(message(s), "rpg state.fight: expected object or null, got integer");
  s = good;
  s["chats"][0]["messages"] = Json::array({Json{{"id", 1}}});
  EXPECT_NE(message(s).find("rpg state.chats[0].messages[0]."), std::string::npos) << message(s);
  s = good;
  s["clock"] = 1e300;  // an integer in JSON's eyes, but no int64_t
  EXPECT_NE(message(s).find("rpg state.clock"), std::string::npos) << message(s);
  s = good;
  s["seed"] = "99999999999999999999";
  EXPECT_EQ(message(s), "rpg state: seed is out of range");
  s = good;
  s["hero"]["gold"] = 25.0;  // a number without a fraction is read as the integer
  EXPECT_EQ(message(s), "");
}

// Random presses on random chats, messages and indexes, bad argument types, spam: every
// answer is a normal result or an error naming a field, and the invariants hold after each.
TEST(RpgGame, RandomBadPressesKeepTheStateConsistent) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    Driver d = NewDriver(seed);
    std::mt19937_64 rng(seed * 7919);  // raw engine output is specified by the standard
    auto pick = [&](uint64_t n) { return static_cast<int64_t>(rng() % n); };
    const Json chats[] = {kGameChatId,
                          kShopChatId,
                          "@dungeon_quest_bot",
                          "goblin_market_bot",
                          std::to_string(kGameChatId),
                          12345,
                          "@nobody",
                          "",
                          -1};
    const char* texts[] = {"/start", "/hero", "/inventory",
                           "/help",  "hello", "/start@dungeon_quest_bot",
                           "/buy",   "   "};
    for (int step = 0; step < 300; ++step) {
      Json chat = pick(4) == 0 ? chats[pick(9)] : Json(pick(2) ? kGameChatId : kShopChatId);
      int64_t kind = pick(10);
      if (kind < 5) {
        Json args{{"chat_id", chat}};
        Game g = d.world->Snapshot();
        const Chat* c = g.FindChat(pick(2) ? kGameChatId : kShopChatId);
        if (pick(3) == 0 && !c->messages.empty()) {
          args["message_id"] = c->messages[static_cast<size_t>(pick(c->messages.size()))].id;
        } else if (pick(8) == 0) {
          args["message_id"] = pick(100000);
        }
        if (pick(4) == 0) {
          args["button_text"] = pick(2) ? "⚔️ Attack" : "no such button";
        } else {
          args["button_index"] = pick(14) - 2;
        }
        auto r = d.Call("press_inline_button", args);
        EXPECT_FALSE(r.is_error) << d.Text(r);
      } else if (kind < 7) {
        auto r = d.Call("send_message", Json{{"chat_id", chat}, {"message", texts[pick(8)]}});
        EXPECT_FALSE(r.is_error) << d.Text(r);
      } else if (kind == 7) {
        d.Call("get_messages", Json{{"chat_id", chat}, {"limit", pick(30) + 1}});
        d.Call("list_inline_buttons", Json{{"chat_id", chat}});
      } else if (kind == 8) {
        // Wrong types are errors that name the field.
        auto r = d.Call("press_inline_button",
                        Json{{"chat_id", kGameChatId}, {"button_index", Json::object()}});
        EXPECT_TRUE(r.is_error);
        EXPECT_NE(d.Text(r).find("button_index"), std::string::npos);
        r = d.Call("get_messages", Json{{"chat_id", true}});
        EXPECT_TRUE(r.is_error);
        EXPECT_NE(d.Text(r).find("chat_id"), std::string::npos);
      } else {
        for (int i = 0; i < 5; ++i) d.PressIndex(0);  // spam the first button
      }
      Game g = d.world->Snapshot();
      auto back = Game::FromJson(g.ToJson());
      ASSERT_TRUE(back) << back.error().ToString();
    }
  }
}

TEST(RpgGame, XpThresholdsAndCatalogue) {
  EXPECT_EQ(XpForLevel(1), 0);
  EXPECT_EQ(XpForLevel(2), 20);
  EXPECT_LT(XpForLevel(4), XpForLevel(5));
  ASSERT_NE(FindItem("iron_sword"), nullptr);
  EXPECT_EQ(FindItem("nothing"), nullptr);
  EXPECT_GE(Milestones().size(), 10u);
}

}  // namespace
}  // namespace naut::envs::rpg

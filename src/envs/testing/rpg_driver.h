#pragma once
// Test support (header-only, in naut_envs_testing; used by the rpg tests and the rpg bench): a
// driver that plays through the tool handlers exactly as a model would, records a transcript of
// every call and its answer, and two plain-code policies: a planner that prepares and beats the
// boss, and a naive hunter.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "envs/rpg/rpg_server.h"

namespace naut::envs::rpg::testing {

struct Driver {
  std::shared_ptr<RpgWorld> world;
  std::string transcript;
  bool check_invariants = true;
  int calls = 0;

  mcp::ToolResult Call(const std::string& name, const Json& args) {
    mcp::ToolResult r;
    if (name == "list_chats")
      r = world->ListChats(args);
    else if (name == "get_messages")
      r = world->GetMessages(args);
    else if (name == "send_message")
      r = world->SendMessage(args);
    else if (name == "list_inline_buttons")
      r = world->ListInlineButtons(args);
    else if (name == "press_inline_button")
      r = world->PressInlineButton(args);
    else if (name == "check_goal")
      r = world->CheckGoal(args);
    else if (name == "reset")
      r = world->Reset(args);
    else if (name == "save_state")
      r = world->SaveState(args);
    else if (name == "load_state")
      r = world->LoadState(args);
    else
      ADD_FAILURE() << "no tool " << name;
    ++calls;
    transcript += "> " + name + " " + DumpJson(args) + "\n";
    for (const auto& c : r.content) transcript += c.data.value("text", std::string()) + "\n";
    if (check_invariants) {
      Game g = world->Snapshot();
      Status st = g.CheckInvariants();
      EXPECT_TRUE(st.ok()) << st.ToString() << "\nafter " << name << " " << DumpJson(args);
    }
    return r;
  }
  std::string Text(const mcp::ToolResult& r) {
    return r.content.empty() ? "" : r.content[0].data.value("text", std::string());
  }
  std::string Send(int64_t chat, const std::string& text) {
    return Text(Call("send_message", Json{{"chat_id", chat}, {"message", text}}));
  }
  std::string Press(const std::string& button_text, int64_t chat = kGameChatId) {
    return Text(Call("press_inline_button", Json{{"chat_id", chat}, {"button_text", button_text}}));
  }
  std::string PressIndex(int index, int64_t chat = kGameChatId) {
    return Text(Call("press_inline_button", Json{{"chat_id", chat}, {"button_index", index}}));
  }
  // The ground truth without the chats (cheap enough to read before every move).
  Json State() { return world->Snapshot().ToJson(/*include_chats=*/false); }
};

struct Outcome {
  bool boss_defeated = false;
  int level = 0;
  int deaths = 0;
  int steps = 0;
};

// The planner: grind in the forest, rest before HP runs low, buy a sword, armour and potions,
// equip them, reach level 3, accept the bounty, and fight the boss defending against the
// telegraphed smash. Reads the ground truth to decide; acts only through the tools.
inline Outcome PlayScripted(Driver& d, int max_steps = 4000) {
  d.Send(kGameChatId, "/start");
  d.Send(kShopChatId, "/start");
  Outcome out;
  for (int step = 0; step < max_steps; ++step) {
    Json s = d.State();
    const Json& h = s["hero"];
    int hp = h["hp"], max_hp = h["max_hp"], gold = h["gold"], potions = h["potions"],
        level = h["level"];
    auto owns = [&](const char* key) {
      for (const auto& i : h["items"]) {
        if (i == key) return true;
      }
      return false;
    };
    out = {s["boss_defeated"].get<bool>(), level, s["deaths"].get<int>(), step};
    if (out.boss_defeated && level >= 2) return out;
    bool ready = level >= 3 && h["weapon"] == "iron_sword" && h["armour"] == "leather_armour" &&
                 potions >= 3;
    if (!s["fight"].is_null()) {
      const Json& f = s["fight"];
      bool boss = f["enemy"]["boss"];
      if (f["boss_winding_up"].get<bool>()) {
        d.PressIndex(1);  // Defend
      } else if (hp * 100 < max_hp * 40 && potions > 0) {
        d.PressIndex(2);  // Potion
      } else if (!boss && hp <= 8) {
        d.PressIndex(3);  // Flee
      } else {
        d.PressIndex(0);  // Attack
      }
      continue;
    }
    // The next thing to buy, in order: a sword, armour, then potions for the boss.
    int next_price = !owns("iron_sword")           ? 40
                     : !owns("leather_armour")     ? 35
                     : (level >= 3 && potions < 3) ? 10
                                                   : 0;
    bool can_heal = gold >= 10 || potions > 0;
    bool hurt = hp * 100 < max_hp * 70;
    std::string loc = s["location"];
    if (loc == "town") {
      if (hurt && gold >= 10) {
        d.Press("🛏 Inn · 10💰");
      } else if (hurt && potions > 0) {
        d.Send(kGameChatId, "/inventory");
        d.Press("🧪 Drink a potion");
        d.Press("⬅️ Back");
      } else if (next_price > 0 && gold >= next_price) {
        if (!owns("iron_sword")) {
          d.Press("Buy 🗡 Iron Sword · 40💰", kShopChatId);
          d.Send(kGameChatId, "/inventory");
          d.Press("Equip 🗡 Iron Sword");
          d.Press("⬅️ Back");
        } else if (!owns("leather_armour")) {
          d.Press("Buy 🥋 Leather Armour · 35💰", kShopChatId);
          d.Send(kGameChatId, "/inventory");
          d.Press("Equip 🥋 Leather Armour");
          d.Press("⬅️ Back");
        } else {
          d.Press("Buy 🧪 Healing Potion · 10💰", kShopChatId);
        }
      } else if (ready && !s["bounty_accepted"].get<bool>()) {
        d.Press("📜 Quest board");
        d.Press("✅ Accept bounty");
        d.Press("⬅️ Back");
      } else if (ready && hp < max_hp && gold >= 10) {
        d.Press("🛏 Inn · 10💰");
      } else {
        d.Press("🌲 Forest");
      }
    } else if (loc == "forest") {
      bool bounty = s["bounty_accepted"].get<bool>();
      if ((hp * 100 < max_hp * 50 && can_heal) || (next_price > 0 && gold >= next_price) ||
          (ready && !bounty)) {
        d.Press("🏰 Back to town");
      } else if (ready && hp * 100 >= max_hp * 85) {
        d.Press("👹 Goblin Camp");
      } else if (ready && gold >= 10) {
        d.Press("🏰 Back to town");  // rest at the inn before the boss
      } else {
        d.Press("🐾 Hunt");
      }
    } else {
      d.Press("🏰 Back to town");
    }
  }
  return out;
}

// The naive player: always hunts, always attacks, never heals, never shops.
inline Outcome PlayNaive(Driver& d, int max_steps = 2000) {
  d.Send(kGameChatId, "/start");
  Outcome out;
  for (int step = 0; step < max_steps; ++step) {
    Json s = d.State();
    out = {s["boss_defeated"].get<bool>(), s["hero"]["level"].get<int>(), s["deaths"].get<int>(),
           step};
    if (out.deaths > 0) return out;
    if (!s["fight"].is_null()) {
      d.Press("⚔️ Attack");
    } else if (s["location"] == "town") {
      d.Press("🌲 Forest");
    } else {
      d.Press("🐾 Hunt");
    }
  }
  return out;
}

}  // namespace naut::envs::rpg::testing

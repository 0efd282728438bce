#pragma once
// The RPG world behind the `rpg` tool server: a Telegram-style game chat with a game bot and a
// shop bot, simulated as plain, deterministic C++.
//
// Everything the player sees is a chat: bot messages with text and inline keyboards, edited in
// place or posted anew, and short callback answers when a button is pressed. The hero, the
// fight and the milestones are the ground truth behind those messages (see ToJson()).
//
// Determinism: the only source of chance is the game's own SplitMix64 generator, seeded by
// reset(seed) and stored in the state, and the clock is a virtual tick. The same seed and the
// same sequence of calls give the same messages byte for byte, on any standard library.
//
// Threads: a Game is a plain value; callers serialise access (RpgServer holds a mutex).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace naut::envs::rpg {

inline constexpr int64_t kGameChatId = 7001001;
inline constexpr int64_t kShopChatId = 7001002;
inline constexpr int kMaxLevel = 10;
// Messages kept per chat; older ones are dropped (their ids are never reused).
inline constexpr size_t kMaxMessagesPerChat = 200;
// How many of a chat's newest messages list_inline_buttons and press_inline_button search for
// buttons when they are given no message_id (telegram-mcp's default).
inline constexpr int kButtonSearchWindow = 20;

// An inline keyboard button: a callback button carries `data`, a URL button carries `url`.
struct Button {
  std::string text;
  std::string data;
  std::string url;
  bool has_callback() const { return !data.empty(); }
};

using Keyboard = std::vector<std::vector<Button>>;

struct Message {
  int64_t id = 0;
  bool outgoing = false;  // sent by the player
  std::string text;
  Keyboard keyboard;
  int64_t date = 0;       // unix seconds on the virtual clock
  int64_t edit_date = 0;  // 0 when never edited
};

struct Chat {
  int64_t id = 0;
  std::string title;
  std::string username;           // without '@'
  std::vector<Message> messages;  // oldest first
  // The message whose keyboard the bot currently listens to; presses on other keyboards
  // get the "expired" answer, as with a real bot that keeps one menu per user.
  int64_t active_message_id = 0;
};

enum class Location { kTown, kForest, kCave };

struct Enemy {
  std::string key;  // "slime", "goblin_boss", ...
  std::string name;
  std::string emoji;
  int hp = 0, max_hp = 0, atk = 0, def = 0, xp = 0, gold = 0;
  bool boss = false;
};

struct Fight {
  Enemy enemy;
  int round = 0;
  bool boss_winding_up = false;  // the boss's next attack is a Crushing Smash
  int64_t message_id = 0;
  std::vector<std::string> log;  // the last round's events, shown in the fight message
};

struct Hero {
  std::string name = "Hero";
  int level = 1;
  int xp = 0;
  int hp = 30;
  int max_hp = 30;
  int gold = 25;
  int potions = 1;
  std::vector<std::string> items;  // owned weapons and armour (keys), in order of acquisition
  std::string weapon = "rusty_dagger";
  std::string armour;  // empty: none
};

// What a shop sells. Keys are stable identifiers used in callback data and state.
struct ItemInfo {
  std::string_view key, name, emoji;
  enum class Kind { kPotion, kWeapon, kArmour, kTrophy } kind;
  int price;  // 0: not for sale
  int bonus;  // ATK for weapons, DEF for armour, HP for potions
};
const std::vector<ItemInfo>& Catalogue();
const ItemInfo* FindItem(std::string_view key);

struct Milestone {
  std::string_view id, title, description;
};
// The curriculum's seed: ordered roughly by difficulty.
const std::vector<Milestone>& Milestones();

// Total XP needed to reach `level` (level 1 needs 0).
int XpForLevel(int level);

// What happened when the player pressed a callback button: the bot's callback answer.
struct CallbackAnswer {
  std::string text;  // may be empty (the client then shows nothing)
  bool alert = false;
};

class Game {
 public:
  explicit Game(uint64_t seed = 0);

  // Restores a game from ToJson() output. Errors name the field that is missing or wrong.
  static Result<Game> FromJson(const Json& state);
  // The full ground-truth state, stable field order (nlohmann sorts keys). Without
  // `include_chats` the message history is left out (a cheaper observation).
  Json ToJson(bool include_chats = true) const;

  uint64_t seed() const { return seed_; }
  const std::vector<Chat>& chats() const { return chats_; }
  const Chat* FindChat(int64_t chat_id) const;
  const Hero& hero() const { return hero_; }
  Location location() const { return location_; }
  const std::optional<Fight>& fight() const { return fight_; }
  bool started() const { return started_; }
  bool bounty_accepted() const { return bounty_accepted_; }
  bool boss_defeated() const { return boss_defeated_; }
  int deaths() const { return deaths_; }
  int kills() const { return kills_; }
  int ATK() const;
  int DEF() const;

  // The player sends `text` to a chat (bot commands such as /start, /hero, /inventory).
  // Returns the id of the sent message. The chat must exist.
  Result<int64_t> SendMessage(int64_t chat_id, std::string_view text);

  // The player presses a callback button with `data` on `message_id`. The caller has already
  // found the message and the button; the bot decides what that means now (a press on an old
  // menu is answered, not refused).
  CallbackAnswer PressCallback(int64_t chat_id, int64_t message_id, std::string_view data);

  bool MilestoneAchieved(std::string_view id) const;
  // A short human-readable progress note for a milestone ("level 1 of 2").
  std::string MilestoneDetail(std::string_view id) const;

  // Checks the invariants the state must keep after every step; the error names the first
  // broken one. Used by tests and when loading a stored game.
  Status CheckInvariants() const;

 private:
  Chat& ChatRef(int64_t chat_id);
  Message* FindMessage(int64_t chat_id, int64_t message_id);
  int64_t Post(int64_t chat_id, std::string text, Keyboard keyboard = {}, bool outgoing = false);
  void Edit(int64_t chat_id, int64_t message_id, std::string text, Keyboard keyboard);
  int64_t Tick(int seconds = 3);
  uint64_t NextRandom();
  int Roll(int lo, int hi);  // uniform in [lo, hi]
  void Achieve(std::string_view id);

  // Views (text + keyboard) of the game bot.
  std::string StatusLine() const;
  std::string MissingFor(std::string_view id) const;  // what a checker's "no" says
  // Where the hero stands, as far as it matters for a milestone: the next move a player would
  // make; `blocks` when the milestone cannot be worked on before it.
  struct Situation {
    std::string text;
    bool blocks = false;
  };
  Situation SituationFor(std::string_view id) const;
  // "press 🏰 Back to town (button_index 3 in @dungeon_quest_bot)": the button with callback
  // `data` as list_inline_buttons shows it now, or "press <label> in <bot>" when it is not shown.
  // When its message is older than the kButtonSearchWindow newest, a press needs the message's
  // id, and the hint names it: "(message_id 57, button_index 0 in @dungeon_quest_bot)".
  std::string PressHint(int64_t chat_id, std::string_view data, std::string_view label) const;
  std::pair<std::string, Keyboard> LocationView() const;
  std::pair<std::string, Keyboard> HeroView() const;
  std::pair<std::string, Keyboard> InventoryView() const;
  std::pair<std::string, Keyboard> QuestView() const;
  std::pair<std::string, Keyboard> FightView() const;
  std::pair<std::string, Keyboard> ShopView() const;
  void PostLocationMenu();
  void ShowInActive(std::pair<std::string, Keyboard> view);

  CallbackAnswer GamePress(std::string_view data);
  CallbackAnswer ShopPress(std::string_view data);
  void GameCommand(std::string_view command);
  void ShopCommand(std::string_view command);

  CallbackAnswer Travel(Location to);
  CallbackAnswer Hunt();
  void StartFight(Enemy enemy, std::string intro);
  CallbackAnswer FightAction(std::string_view action);
  int HeroHit(std::vector<std::string>& log);
  bool EnemyTurn(bool defending, std::vector<std::string>& log);  // false: the hero died
  void Win();
  void Die();
  void GainXp(int xp);

  uint64_t seed_ = 0;
  uint64_t rng_ = 0;
  int64_t clock_ = 0;
  int64_t next_message_id_ = 1;
  std::vector<Chat> chats_;
  Hero hero_;
  Location location_ = Location::kTown;
  std::optional<Fight> fight_;
  bool started_ = false;
  bool bounty_accepted_ = false;
  bool boss_defeated_ = false;
  int deaths_ = 0;
  int kills_ = 0;
  std::vector<std::string> defeated_kinds_;  // enemy keys defeated at least once
  std::vector<std::string> achieved_;        // milestone ids, in the order achieved
};

std::string_view LocationName(Location location);

}  // namespace naut::envs::rpg

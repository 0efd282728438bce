#include "envs/rpg/game.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>

#include "core/json_schema.h"

namespace naut::envs::rpg {
namespace {

// 2026-01-01T00:00:00Z: the virtual clock's origin, so message dates look like real ones.
constexpr int64_t kEpoch = 1767225600;
constexpr int kInnPrice = 10;
constexpr int kMaxPotions = 9;
constexpr int kHoardGold = 200;
constexpr std::string_view kExpired = "⌛ This menu has expired. Use the latest message.";

const std::vector<ItemInfo> kCatalogue = {
    {"potion", "Healing Potion", "🧪", ItemInfo::Kind::kPotion, 10, 25},
    {"iron_sword", "Iron Sword", "🗡", ItemInfo::Kind::kWeapon, 40, 5},
    {"leather_armour", "Leather Armour", "🥋", ItemInfo::Kind::kArmour, 35, 3},
    {"steel_sword", "Steel Sword", "⚔️", ItemInfo::Kind::kWeapon, 120, 10},
    {"chain_mail", "Chain Mail", "🛡", ItemInfo::Kind::kArmour, 110, 6},
    {"rusty_dagger", "Rusty Dagger", "🔪", ItemInfo::Kind::kWeapon, 0, 1},
    {"goblin_key", "Goblin King's Key", "🗝", ItemInfo::Kind::kTrophy, 0, 0},
};

const std::vector<Milestone> kMilestones = {
    {"start_game", "Start the game", "Send /start to the game bot."},
    {"first_victory", "First victory", "Win a fight against any monster."},
    {"buy_potion", "Buy a potion", "Buy a Healing Potion from the Goblin Market."},
    {"rest_at_inn", "Rest at the inn", "Pay for a room at the inn in Oakvale."},
    {"reach_level_2", "Reach level 2", "Earn 20 XP."},
    {"buy_weapon", "Buy a weapon", "Buy a sword from the Goblin Market."},
    {"equip_weapon", "Equip a weapon", "Equip a bought sword from the inventory."},
    {"buy_armour", "Buy armour", "Buy armour from the Goblin Market."},
    {"accept_bounty", "Accept the bounty", "Accept the Goblin Boss bounty on the quest board."},
    {"reach_level_3", "Reach level 3", "Earn 60 XP."},
    {"defeat_goblin_boss", "Defeat the Forest Goblin Boss",
     "Find the Goblin Camp in the forest and defeat its boss."},
    {"visit_cave", "Conquer the cave", "Win a fight in the Echoing Cave."},
    {"reach_level_5", "Reach level 5", "Earn 200 XP."},
    {"defeat_cave_troll", "Defeat a Cave Troll", "Win against the strongest monster of the cave."},
    {"hoard_200_gold", "Hoard 200 gold", "Hold 200 gold at once."},
};

struct EnemyKind {
  std::string_view key, name, emoji, verb;
  int hp, atk, def, xp, gold_lo, gold_hi, weight;
};

const std::vector<EnemyKind> kForest = {
    {"slime", "Slime", "🟢", "splashes you", 12, 5, 0, 5, 2, 5, 40},
    {"wolf", "Wolf", "🐺", "bites you", 16, 7, 1, 8, 3, 7, 35},
    {"goblin_scout", "Goblin Scout", "👺", "slashes you", 18, 7, 2, 11, 6, 12, 25},
};
const std::vector<EnemyKind> kCave = {
    {"cave_bat", "Cave Bat", "🦇", "bites you", 20, 10, 2, 15, 5, 10, 40},
    {"skeleton", "Skeleton", "💀", "strikes you", 30, 12, 4, 22, 10, 18, 40},
    {"cave_troll", "Cave Troll", "🧌", "clubs you", 45, 15, 5, 40, 20, 35, 20},
};
const EnemyKind kBoss = {
    "goblin_boss", "Forest Goblin Boss", "👹", "swings his club at you", 70, 13, 4, 80, 100, 100, 0};

std::string_view VerbOf(std::string_view key) {
  for (const auto* table : {&kForest, &kCave}) {
    for (const auto& k : *table) {
      if (k.key == key) return k.verb;
    }
  }
  return kBoss.verb;
}

std::string HpBar(int hp, int max_hp) {
  int filled = max_hp > 0 ? (hp * 10 + max_hp - 1) / max_hp : 0;
  filled = std::clamp(filled, 0, 10);
  std::string bar;
  for (int i = 0; i < 10; ++i) bar += i < filled ? "▰" : "▱";
  return bar;
}

std::string Str(int v) { return std::to_string(v); }

bool Contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

Button Cb(std::string text, std::string data) {
  return Button{std::move(text), std::move(data), ""};
}

}  // namespace

const std::vector<ItemInfo>& Catalogue() { return kCatalogue; }

const ItemInfo* FindItem(std::string_view key) {
  for (const auto& item : kCatalogue) {
    if (item.key == key) return &item;
  }
  return nullptr;
}

const std::vector<Milestone>& Milestones() { return kMilestones; }

int XpForLevel(int level) {
  static constexpr int kTable[] = {0, 0, 20, 60, 120, 200, 300, 450, 650, 900, 1200};
  return kTable[std::clamp(level, 0, kMaxLevel)];
}

std::string_view LocationName(Location location) {
  switch (location) {
    case Location::kTown:
      return "town";
    case Location::kForest:
      return "forest";
    case Location::kCave:
      return "cave";
  }
  return "town";
}

Game::Game(uint64_t seed) : seed_(seed), rng_(seed) {
  hero_.items = {"rusty_dagger"};
  chats_.push_back(Chat{kGameChatId, "⚔️ Dungeon Quest", "dungeon_quest_bot", {}, 0});
  chats_.push_back(Chat{kShopChatId, "👺 Goblin Market", "goblin_market_bot", {}, 0});
  Post(kGameChatId,
       "👋 Welcome to ⚔️ Dungeon Quest!\n"
       "A land of slimes, wolves and one very rude goblin.\n\n"
       "Send /start to begin your adventure.");
  Post(kShopChatId,
       "👺 Goblin Market here, best prices in Oakvale!\nSend /start to see today's wares.");
}

// ---- infrastructure -------------------------------------------------------------------------

uint64_t Game::NextRandom() {
  // SplitMix64: tiny, well mixed, and the same on every platform.
  uint64_t z = (rng_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

int Game::Roll(int lo, int hi) {
  return lo + static_cast<int>(NextRandom() % static_cast<uint64_t>(hi - lo + 1));
}

int64_t Game::Tick(int seconds) {
  clock_ += seconds;
  return kEpoch + clock_;
}

const Chat* Game::FindChat(int64_t chat_id) const {
  for (const auto& c : chats_) {
    if (c.id == chat_id) return &c;
  }
  return nullptr;
}

Chat& Game::ChatRef(int64_t chat_id) {
  for (auto& c : chats_) {
    if (c.id == chat_id) return c;
  }
  return chats_.front();  // callers pass only the two known ids
}

Message* Game::FindMessage(int64_t chat_id, int64_t message_id) {
  for (auto& m : ChatRef(chat_id).messages) {
    if (m.id == message_id) return &m;
  }
  return nullptr;
}

int64_t Game::Post(int64_t chat_id, std::string text, Keyboard keyboard, bool outgoing) {
  Chat& chat = ChatRef(chat_id);
  Message m;
  m.id = next_message_id_++;
  m.outgoing = outgoing;
  m.text = std::move(text);
  m.keyboard = std::move(keyboard);
  m.date = Tick(1);
  if (!outgoing && !m.keyboard.empty()) chat.active_message_id = m.id;
  chat.messages.push_back(std::move(m));
  if (chat.messages.size() > kMaxMessagesPerChat) {
    chat.messages.erase(chat.messages.begin(),
                        chat.messages.begin() + (chat.messages.size() - kMaxMessagesPerChat));
    if (!FindMessage(chat_id, chat.active_message_id)) chat.active_message_id = 0;
  }
  return next_message_id_ - 1;
}

void Game::Edit(int64_t chat_id, int64_t message_id, std::string text, Keyboard keyboard) {
  Message* m = FindMessage(chat_id, message_id);
  if (!m) return;
  m->text = std::move(text);
  m->keyboard = std::move(keyboard);
  m->edit_date = Tick(1);
}

void Game::Achieve(std::string_view id) {
  if (!Contains(achieved_, id)) achieved_.emplace_back(id);
}

int Game::ATK() const {
  const ItemInfo* w = FindItem(hero_.weapon);
  return 2 + 2 * hero_.level + (w ? w->bonus : 0);
}

int Game::DEF() const {
  const ItemInfo* a = hero_.armour.empty() ? nullptr : FindItem(hero_.armour);
  return hero_.level + (a ? a->bonus : 0);
}

// ---- views ----------------------------------------------------------------------------------

std::string Game::StatusLine() const {
  std::string xp = hero_.level >= kMaxLevel
                       ? "max"
                       : Str(hero_.xp) + "/" + Str(XpForLevel(hero_.level + 1)) + " XP";
  return "❤️ " + Str(hero_.hp) + "/" + Str(hero_.max_hp) + " · ⭐ Lv " + Str(hero_.level) +
         " (" + xp + ")\n🗡 " + Str(ATK()) + " · 🛡 " + Str(DEF()) + " · 💰 " +
         Str(hero_.gold) + " · 🧪 " + Str(hero_.potions);
}

std::pair<std::string, Keyboard> Game::LocationView() const {
  std::string text;
  Keyboard kb;
  const std::vector<Button> hero_row = {Cb("👤 Hero", "hero"), Cb("🎒 Inventory", "inv")};
  switch (location_) {
    case Location::kTown:
      text = "🏰 Oakvale · town square\n" + StatusLine() +
             "\n\nThe market bustles and the inn smells of stew. Where to?";
      kb = {{Cb("🌲 Forest", "go:forest"), Cb("🕳 Cave", "go:cave")},
            {Cb("🛏 Inn · " + Str(kInnPrice) + "💰", "inn"), Cb("📜 Quest board", "quests")},
            hero_row,
            {Button{"🛒 Goblin Market", "", "https://t.me/goblin_market_bot"}}};
      break;
    case Location::kForest:
      text = "🌲 Whispering Forest\n" + StatusLine() +
             "\n\nBirds go quiet. Something moves in the bushes.";
      kb = {{Cb("🐾 Hunt", "hunt")}};
      if (bounty_accepted_ && !boss_defeated_) kb.push_back({Cb("👹 Goblin Camp", "camp")});
      kb.push_back(hero_row);
      kb.push_back({Cb("🏰 Back to town", "go:town")});
      break;
    case Location::kCave:
      text = "🕳 Echoing Cave\n" + StatusLine() +
             "\n\nWater drips in the dark. Stronger foes lurk here.";
      kb = {{Cb("🐾 Hunt", "hunt")}, hero_row, {Cb("🏰 Back to town", "go:town")}};
      break;
  }
  return {text, kb};
}

std::pair<std::string, Keyboard> Game::HeroView() const {
  const ItemInfo* w = FindItem(hero_.weapon);
  const ItemInfo* a = hero_.armour.empty() ? nullptr : FindItem(hero_.armour);
  std::string text = "👤 " + hero_.name + ", level " + Str(hero_.level) + " adventurer\n" +
                     StatusLine() + "\n\n🗡 Weapon: " + (w ? std::string(w->name) : "none") +
                     "\n🛡 Armour: " + (a ? std::string(a->name) : "none") +
                     "\n☠️ Monsters slain: " + Str(kills_) + " · Deaths: " + Str(deaths_);
  if (boss_defeated_) text += "\n🏆 Slayer of the Forest Goblin Boss";
  return {text, {{Cb("⬅️ Back", "back")}}};
}

std::pair<std::string, Keyboard> Game::InventoryView() const {
  std::string text = "🎒 Inventory\n🧪 Healing Potions: " + Str(hero_.potions) + "\n";
  Keyboard kb;
  for (const auto& key : hero_.items) {
    const ItemInfo* item = FindItem(key);
    if (!item) continue;
    bool equipped = key == hero_.weapon || key == hero_.armour;
    std::string bonus = item->kind == ItemInfo::Kind::kWeapon   ? " (+" + Str(item->bonus) + " ATK)"
                        : item->kind == ItemInfo::Kind::kArmour ? " (+" + Str(item->bonus) + " DEF)"
                                                                : "";
    text += std::string(item->emoji) + " " + std::string(item->name) + bonus +
            (equipped ? " ✅ equipped" : "") + "\n";
    if (!equipped && item->kind != ItemInfo::Kind::kTrophy) {
      kb.push_back({Cb("Equip " + std::string(item->emoji) + " " + std::string(item->name),
                       "equip:" + key)});
    }
  }
  if (hero_.potions > 0) kb.push_back({Cb("🧪 Drink a potion", "drink")});
  kb.push_back({Cb("⬅️ Back", "back")});
  return {text + "\n❤️ " + Str(hero_.hp) + "/" + Str(hero_.max_hp), kb};
}

std::pair<std::string, Keyboard> Game::QuestView() const {
  std::string text = "📜 Quest board\n\n";
  Keyboard kb;
  if (boss_defeated_) {
    text += "✅ The Forest Goblin Boss is dead. The roads are safe, thanks to you!";
  } else {
    text +=
        "💀 BOUNTY: the Forest Goblin Boss raids the roads from his camp in the forest.\n"
        "Reward: 100 💰 and the Goblin King's Key.\n"
        "⚠️ Recommended: level 3, a real weapon, armour and potions.";
    if (bounty_accepted_) {
      text += "\n\n📌 You accepted this bounty. Look for the Goblin Camp in the forest.";
    } else {
      kb.push_back({Cb("✅ Accept bounty", "accept")});
    }
  }
  kb.push_back({Cb("⬅️ Back", "back")});
  return {text, kb};
}

std::pair<std::string, Keyboard> Game::FightView() const {
  const Fight& f = *fight_;
  const Enemy& e = f.enemy;
  std::string text = "⚔️ Fight · round " + Str(f.round) + "\n" + e.emoji + " " + e.name +
                     "  " + HpBar(e.hp, e.max_hp) + " " + Str(e.hp) + "/" + Str(e.max_hp) +
                     "\n🧝 You  " + HpBar(hero_.hp, hero_.max_hp) + " " + Str(hero_.hp) + "/" +
                     Str(hero_.max_hp) + " · 🧪 " + Str(hero_.potions);
  if (!f.log.empty()) {
    text += "\n";
    for (const auto& line : f.log) text += "\n" + line;
  }
  Keyboard kb = {
      {Cb("⚔️ Attack", "f:atk"), Cb("🛡 Defend", "f:def")},
      {Cb("🧪 Potion (" + Str(hero_.potions) + ")", "f:potion"), Cb("🏃 Flee", "f:flee")}};
  return {text, kb};
}

std::pair<std::string, Keyboard> Game::ShopView() const {
  std::string text =
      "🛒 Goblin Market — today's wares\nYour purse: 💰 " + Str(hero_.gold) + "\n\n";
  Keyboard kb;
  for (const auto& item : kCatalogue) {
    if (item.price == 0) continue;
    std::string what = item.kind == ItemInfo::Kind::kPotion   ? "+" + Str(item.bonus) + " HP"
                       : item.kind == ItemInfo::Kind::kWeapon ? "+" + Str(item.bonus) + " ATK"
                                                              : "+" + Str(item.bonus) + " DEF";
    text += std::string(item.emoji) + " " + std::string(item.name) + " — " + Str(item.price) +
            " 💰 (" + what + ")\n";
    kb.push_back({Cb("Buy " + std::string(item.emoji) + " " + std::string(item.name) + " · " +
                         Str(item.price) + "💰",
                     "buy:" + std::string(item.key))});
  }
  text += "\n📦 Goods are delivered to you in Oakvale only.";
  return {text, kb};
}

void Game::PostLocationMenu() {
  auto [text, kb] = LocationView();
  Post(kGameChatId, std::move(text), std::move(kb));
}

void Game::ShowInActive(std::pair<std::string, Keyboard> view) {
  Edit(kGameChatId, ChatRef(kGameChatId).active_message_id, std::move(view.first),
       std::move(view.second));
}

// ---- player actions -------------------------------------------------------------------------

Result<int64_t> Game::SendMessage(int64_t chat_id, std::string_view text) {
  if (!FindChat(chat_id)) return NotFound("chat " + std::to_string(chat_id));
  int64_t id = Post(chat_id, std::string(text), {}, /*outgoing=*/true);
  std::string command(text.substr(0, text.find_first_of(" \n")));
  // "/start@dungeon_quest_bot" is how group clients address a bot; accept it too.
  command = command.substr(0, command.find('@'));
  if (chat_id == kGameChatId) {
    GameCommand(command);
  } else {
    ShopCommand(command);
  }
  return id;
}

void Game::GameCommand(std::string_view command) {
  if (command == "/start") {
    if (!started_) {
      started_ = true;
      Achieve("start_game");
      Post(kGameChatId,
           "🧝 You arrive in Oakvale with a rusty dagger, one potion and 25 💰.\n"
           "Hunt in the 🌲 forest, shop at the 👺 Goblin Market (@goblin_market_bot),\n"
           "rest at the 🛏 inn, and check the 📜 quest board for bounties. Good luck!");
    }
    if (fight_) {
      auto [text, kb] = FightView();
      fight_->message_id =
          Post(kGameChatId, "⚔️ You are in the middle of a fight!\n\n" + text, kb);
    } else {
      PostLocationMenu();
    }
    return;
  }
  if (!started_) {
    Post(kGameChatId, "Send /start to begin your adventure.");
    return;
  }
  if (command == "/hero" || command == "/inventory") {
    auto view = command == "/hero" ? HeroView() : InventoryView();
    // During a fight the card is shown without buttons, so the fight keeps the keyboard.
    Post(kGameChatId, std::move(view.first), fight_ ? Keyboard{} : std::move(view.second));
    return;
  }
  if (command == "/help") {
    Post(kGameChatId,
         "📖 Commands\n/start — show the current menu\n/hero — your hero card\n"
         "/inventory — your bag and equipment\n/help — this help\n\n"
         "Buy potions and gear from @goblin_market_bot while you are in town.");
    return;
  }
  if (!command.empty() && command.front() == '/') {
    Post(kGameChatId, "🤔 Unknown command. Try /help.");
  } else {
    Post(kGameChatId, "🤖 I only understand buttons and commands. Try /help.");
  }
}

void Game::ShopCommand(std::string_view command) {
  if (command == "/start" || command == "/shop") {
    auto [text, kb] = ShopView();
    Post(kShopChatId, std::move(text), std::move(kb));
  } else {
    Post(kShopChatId, "👺 Me no understand. Send /start to see the wares.");
  }
}

CallbackAnswer Game::PressCallback(int64_t chat_id, int64_t message_id, std::string_view data) {
  if (!FindChat(chat_id) || !FindMessage(chat_id, message_id))
    return {std::string(kExpired), false};
  Tick(2);
  if (chat_id == kShopChatId) return ShopPress(data);
  if (message_id != ChatRef(chat_id).active_message_id) return {std::string(kExpired), false};
  return GamePress(data);
}

CallbackAnswer Game::GamePress(std::string_view data) {
  if (data.starts_with("f:")) {
    if (!fight_) return {std::string(kExpired), false};
    return FightAction(data.substr(2));
  }
  if (fight_) return {"⚔️ You are in a fight! Attack, defend, drink or flee.", true};
  if (data == "go:town") return Travel(Location::kTown);
  if (data == "go:forest") return Travel(Location::kForest);
  if (data == "go:cave") return Travel(Location::kCave);
  if (data == "hunt") return Hunt();
  if (data == "hero") {
    ShowInActive(HeroView());
    return {};
  }
  if (data == "inv") {
    ShowInActive(InventoryView());
    return {};
  }
  if (data == "back") {
    ShowInActive(LocationView());
    return {};
  }
  if (data == "quests") {
    if (location_ != Location::kTown) return {"📜 The quest board is in town.", true};
    ShowInActive(QuestView());
    return {};
  }
  if (data == "accept") {
    if (boss_defeated_ || bounty_accepted_) return {"📌 You already took this bounty.", false};
    bounty_accepted_ = true;
    Achieve("accept_bounty");
    ShowInActive(QuestView());
    return {"📜 Bounty accepted! Find the Goblin Camp in the forest.", false};
  }
  if (data == "inn") {
    if (location_ != Location::kTown) return {"🛏 The inn is in town.", true};
    if (hero_.hp == hero_.max_hp)
      return {"😊 You are not tired. Come back when you're hurt.", false};
    if (hero_.gold < kInnPrice) {
      return {"💸 A room costs " + Str(kInnPrice) + " 💰, you have " + Str(hero_.gold) + ".", true};
    }
    hero_.gold -= kInnPrice;
    hero_.hp = hero_.max_hp;
    Tick(8 * 3600);
    Achieve("rest_at_inn");
    ShowInActive(LocationView());
    return {"🛏 You sleep like a log. ❤️ " + Str(hero_.hp) + "/" + Str(hero_.max_hp), false};
  }
  if (data == "drink") {
    if (hero_.potions <= 0) return {"🧪 You have no potions.", true};
    if (hero_.hp == hero_.max_hp) return {"❤️ You are already at full health.", false};
    hero_.potions--;
    hero_.hp = std::min(hero_.max_hp, hero_.hp + FindItem("potion")->bonus);
    ShowInActive(InventoryView());
    return {"🧪 Gulp! ❤️ " + Str(hero_.hp) + "/" + Str(hero_.max_hp), false};
  }
  if (data.starts_with("equip:")) {
    std::string key(data.substr(6));
    const ItemInfo* item = FindItem(key);
    if (!item || !Contains(hero_.items, key) ||
        (item->kind != ItemInfo::Kind::kWeapon && item->kind != ItemInfo::Kind::kArmour)) {
      return {"🎒 You don't have that.", true};
    }
    if (item->kind == ItemInfo::Kind::kWeapon) {
      hero_.weapon = key;
      if (item->price > 0) Achieve("equip_weapon");
    } else {
      hero_.armour = key;
    }
    ShowInActive(InventoryView());
    return {"✅ Equipped " + std::string(item->name) + ".", false};
  }
  if (data == "camp") {
    if (location_ != Location::kForest || !bounty_accepted_ || boss_defeated_) {
      return {std::string(kExpired), false};
    }
    Enemy boss{std::string(kBoss.key),
               std::string(kBoss.name),
               std::string(kBoss.emoji),
               kBoss.hp,
               kBoss.hp,
               kBoss.atk,
               kBoss.def,
               kBoss.xp,
               kBoss.gold_lo,
               true};
    StartFight(std::move(boss), "👹 The Forest Goblin Boss roars: \"Another snack for the pot!\"");
    return {"👹 The Forest Goblin Boss attacks!", false};
  }
  return {std::string(kExpired), false};
}

CallbackAnswer Game::Travel(Location to) {
  if (to == location_) return {"📍 You are already here.", false};
  if (to != Location::kTown && location_ != Location::kTown)
    return {"🧭 Go back to town first.", true};
  location_ = to;
  Tick(60);
  ShowInActive(LocationView());
  switch (to) {
    case Location::kTown:
      return {"🏰 You return to Oakvale.", false};
    case Location::kForest:
      return {"🌲 You walk into the Whispering Forest.", false};
    case Location::kCave:
      return {"🕳 You climb down into the Echoing Cave.", false};
  }
  return {};
}

CallbackAnswer Game::Hunt() {
  if (location_ == Location::kTown) return {"🏰 There is nothing to hunt in town.", true};
  Tick(30);
  int find = Roll(1, 100);
  if (find <= 12) {
    if (find <= 3 && hero_.potions < kMaxPotions) {
      hero_.potions++;
      ShowInActive(LocationView());
      return {"🍀 You find a Healing Potion in an abandoned pack!", false};
    }
    int gold = Roll(3, 8);
    hero_.gold += gold;
    if (hero_.gold >= kHoardGold) Achieve("hoard_200_gold");
    ShowInActive(LocationView());
    return {"🍀 You find " + Str(gold) + " 💰 under a mossy stone.", false};
  }
  const auto& table = location_ == Location::kCave ? kCave : kForest;
  int total = 0;
  for (const auto& k : table) total += k.weight;
  int pick = Roll(1, total);
  const EnemyKind* kind = &table.back();
  for (const auto& k : table) {
    if (pick <= k.weight) {
      kind = &k;
      break;
    }
    pick -= k.weight;
  }
  int gold = Roll(kind->gold_lo, kind->gold_hi);
  Enemy e{std::string(kind->key),
          std::string(kind->name),
          std::string(kind->emoji),
          kind->hp,
          kind->hp,
          kind->atk,
          kind->def,
          kind->xp,
          gold,
          false};
  std::string intro = std::string(kind->emoji) + " A wild " + std::string(kind->name) + " appears!";
  StartFight(std::move(e), intro);
  return {"⚔️ A " + std::string(kind->name) + " attacks!", false};
}

void Game::StartFight(Enemy enemy, std::string intro) {
  // The menu the hunt was started from loses its buttons: the fight message takes over.
  Chat& chat = ChatRef(kGameChatId);
  if (Message* old = FindMessage(kGameChatId, chat.active_message_id)) {
    Edit(kGameChatId, old->id, old->text, {});
  }
  fight_ = Fight{std::move(enemy), 0, false, 0, {std::move(intro)}};
  auto [text, kb] = FightView();
  fight_->message_id = Post(kGameChatId, std::move(text), std::move(kb));
}

int Game::HeroHit(std::vector<std::string>& log) {
  Enemy& e = fight_->enemy;
  int dmg = std::max(1, ATK() + Roll(0, 3) - e.def);
  bool crit = Roll(1, 100) <= 10;
  if (crit) dmg *= 2;
  e.hp = std::max(0, e.hp - dmg);
  log.push_back(std::string(crit ? "💥 Critical hit! " : "🗡 ") + "You hit the " + e.name +
                " for " + Str(dmg) + ".");
  return dmg;
}

bool Game::EnemyTurn(bool defending, std::vector<std::string>& log) {
  Fight& f = *fight_;
  const Enemy& e = f.enemy;
  int dmg = std::max(1, e.atk + Roll(0, 2) - DEF());
  std::string line;
  if (e.boss && f.boss_winding_up) {
    f.boss_winding_up = false;
    dmg *= 2;
    line = "💥 The Goblin Boss brings down a CRUSHING SMASH";
  } else if (e.boss && f.round % 3 == 0) {
    f.boss_winding_up = true;
    log.emplace_back("⚠️ The Goblin Boss raises his huge club high… brace yourself!");
    return true;
  } else {
    line = e.emoji + " The " + e.name + " " + std::string(VerbOf(e.key));
  }
  if (defending) {
    dmg = std::max(1, dmg / 3);
    line += " — you block most of it";
  }
  hero_.hp = std::max(0, hero_.hp - dmg);
  log.push_back(line + ": -" + Str(dmg) + " ❤️.");
  if (hero_.hp == 0) {
    Die();
    return false;
  }
  return true;
}

CallbackAnswer Game::FightAction(std::string_view action) {
  Fight& f = *fight_;
  std::vector<std::string> log;
  bool defending = false;
  if (action == "atk") {
    f.round++;
    HeroHit(log);
    if (f.enemy.hp == 0) {
      std::string answer = "🏆 Victory! +" + Str(f.enemy.xp) + " XP, +" + Str(f.enemy.gold) + " 💰";
      Win();
      return {answer, false};
    }
  } else if (action == "def") {
    f.round++;
    defending = true;
    log.emplace_back("🛡 You raise your guard.");
  } else if (action == "potion") {
    if (hero_.potions <= 0) return {"🧪 You have no potions left!", true};
    f.round++;
    hero_.potions--;
    int before = hero_.hp;
    hero_.hp = std::min(hero_.max_hp, hero_.hp + FindItem("potion")->bonus);
    log.push_back("🧪 You drink a potion: +" + Str(hero_.hp - before) + " ❤️.");
  } else if (action == "flee") {
    f.round++;
    int chance = f.enemy.boss ? 35 : 60;
    if (Roll(1, 100) <= chance) {
      std::string name = f.enemy.name;
      Edit(kGameChatId, f.message_id, "🏃 You fled from the " + name + ".", {});
      fight_.reset();
      PostLocationMenu();
      return {"🏃 You got away!", false};
    }
    log.emplace_back("❌ You failed to escape!");
  } else {
    return {std::string(kExpired), false};
  }
  if (!EnemyTurn(defending, log)) return {"💀 You died!", true};
  f.log = log;
  auto [text, kb] = FightView();
  Edit(kGameChatId, f.message_id, std::move(text), std::move(kb));
  std::string answer;
  for (const auto& line : log) answer += (answer.empty() ? "" : " ") + line;
  return {answer, false};
}

void Game::Win() {
  Fight f = std::move(*fight_);
  fight_.reset();
  const Enemy& e = f.enemy;
  kills_++;
  if (!Contains(defeated_kinds_, e.key)) defeated_kinds_.push_back(e.key);
  hero_.gold += e.gold;
  Achieve("first_victory");
  if (location_ == Location::kCave) Achieve("visit_cave");
  if (e.key == "cave_troll") Achieve("defeat_cave_troll");
  std::string text;
  if (e.boss) {
    boss_defeated_ = true;
    hero_.items.emplace_back("goblin_key");
    Achieve("defeat_goblin_boss");
    text = "🏆 The Forest Goblin Boss falls! Oakvale is safe.\n✨ +" + Str(e.xp) + " XP · 💰 +" +
           Str(e.gold) + " bounty · 🗝 Goblin King's Key";
  } else {
    text = "🏆 Victory! The " + e.name + " " + e.emoji + " is defeated.\n✨ +" + Str(e.xp) +
           " XP · 💰 +" + Str(e.gold);
  }
  Edit(kGameChatId, f.message_id, text, {});
  if (hero_.gold >= kHoardGold) Achieve("hoard_200_gold");
  GainXp(e.xp);
  PostLocationMenu();
}

void Game::GainXp(int xp) {
  hero_.xp += xp;
  while (hero_.level < kMaxLevel && hero_.xp >= XpForLevel(hero_.level + 1)) {
    hero_.level++;
    hero_.max_hp += 10;
    hero_.hp += 10;  // a level heals by the new capacity only: rest is still needed
    Post(kGameChatId, "🎉 Level up! You reached level " + Str(hero_.level) + ".\n❤️ Max HP " +
                          Str(hero_.max_hp) + " · 🗡 ATK " + Str(ATK()) + " · 🛡 DEF " +
                          Str(DEF()));
    if (hero_.level == 2) Achieve("reach_level_2");
    if (hero_.level == 3) Achieve("reach_level_3");
    if (hero_.level == 5) Achieve("reach_level_5");
  }
}

void Game::Die() {
  Fight f = std::move(*fight_);
  fight_.reset();
  deaths_++;
  int lost = hero_.gold / 2;
  hero_.gold -= lost;
  hero_.xp = XpForLevel(hero_.level);
  hero_.hp = std::max(1, hero_.max_hp / 2);
  location_ = Location::kTown;
  Edit(kGameChatId, f.message_id,
       "💀 You were slain by the " + f.enemy.name + " " + f.enemy.emoji + "…", {});
  Post(kGameChatId,
       "⚰️ You wake up in the Oakvale temple.\nThe priests kept " + Str(lost) +
           " 💰 for their trouble, and your XP progress toward the next level is lost.\n❤️ " +
           Str(hero_.hp) + "/" + Str(hero_.max_hp));
  PostLocationMenu();
}

CallbackAnswer Game::ShopPress(std::string_view data) {
  if (!data.starts_with("buy:")) return {std::string(kExpired), false};
  const ItemInfo* item = FindItem(data.substr(4));
  if (!item || item->price == 0) return {"👺 We don't sell that.", true};
  std::string name(item->name);
  if (fight_) return {"⚔️ Finish your fight first!", true};
  if (location_ != Location::kTown) {
    return {
        "🚪 The Goblin Market delivers in Oakvale only. Come back to town first: 🏰 Back to "
        "town in @dungeon_quest_bot.",
        true};
  }
  if (item->kind == ItemInfo::Kind::kPotion && hero_.potions >= kMaxPotions) {
    return {"🎒 Your bag can't hold more than " + Str(kMaxPotions) + " potions.", true};
  }
  if (item->kind != ItemInfo::Kind::kPotion && Contains(hero_.items, item->key)) {
    return {"👺 You already own the " + name + ".", false};
  }
  if (hero_.gold < item->price) {
    return {"💸 Not enough gold: the " + name + " costs " + Str(item->price) + " 💰, you have " +
                Str(hero_.gold) + " 💰.",
            true};
  }
  hero_.gold -= item->price;
  switch (item->kind) {
    case ItemInfo::Kind::kPotion:
      hero_.potions++;
      Achieve("buy_potion");
      break;
    case ItemInfo::Kind::kWeapon:
      hero_.items.emplace_back(item->key);
      Achieve("buy_weapon");
      break;
    case ItemInfo::Kind::kArmour:
      hero_.items.emplace_back(item->key);
      Achieve("buy_armour");
      break;
    case ItemInfo::Kind::kTrophy:
      break;
  }
  Chat& shop = ChatRef(kShopChatId);
  // Refresh the purse shown on the newest catalogue.
  auto newest = std::find_if(shop.messages.rbegin(), shop.messages.rend(),
                             [](const Message& m) { return !m.keyboard.empty(); });
  if (newest != shop.messages.rend()) {
    auto [text, kb] = ShopView();
    Edit(kShopChatId, newest->id, std::move(text), std::move(kb));
  }
  std::string answer = "✅ Bought " + name + " for " + Str(item->price) + " 💰.";
  if (item->kind == ItemInfo::Kind::kWeapon || item->kind == ItemInfo::Kind::kArmour) {
    answer += " Equip it from /inventory in @dungeon_quest_bot.";
  }
  return {answer, false};
}

// ---- milestones ----------------------------------------------------------------------------

bool Game::MilestoneAchieved(std::string_view id) const { return Contains(achieved_, id); }

std::string Game::MilestoneDetail(std::string_view id) const {
  if (MilestoneAchieved(id)) return "achieved";
  Situation now = SituationFor(id);
  // What stands in the way comes first: a small model acts on the start of a hint.
  if (now.blocks) return now.text + "; then: " + MissingFor(id);
  return now.text.empty() ? MissingFor(id) : MissingFor(id) + "; " + now.text;
}

std::string Game::PressHint(int64_t chat_id, std::string_view data, std::string_view label) const {
  std::string bot = chat_id == kShopChatId ? "@goblin_market_bot" : "@dungeon_quest_bot";
  // The keyboard list_inline_buttons shows by default: the newest message with buttons.
  const Chat* chat = FindChat(chat_id);
  auto shown = chat ? std::find_if(chat->messages.rbegin(), chat->messages.rend(),
                                   [](const Message& m) { return !m.keyboard.empty(); })
                    : std::vector<Message>::const_reverse_iterator();
  if (chat && shown != chat->messages.rend()) {
    // After a run of messages without buttons (unknown commands and their answers) a press
    // without message_id no longer finds this keyboard: the 1.5B, told "button_index 0", got
    // "No message with inline buttons found" a dozen times in a row.
    std::string where = shown - chat->messages.rbegin() < kButtonSearchWindow
                            ? ""
                            : "message_id " + std::to_string(shown->id) + ", ";
    auto at = [&](int index) {
      return " (" + where + "button_index " + Str(index) + " in " + bot + ")";
    };
    int index = 0, back = -1;
    for (const auto& row : shown->keyboard) {
      for (const auto& b : row) {
        if (b.data == data) return "press " + b.text + at(index);
        if (b.data == "back") back = index;
        ++index;
      }
    }
    // A screen of its own (inventory, hero, quest board): the way out comes first. A 1.5B
    // model told to press the Forest from the inventory pressed its button 0 (a potion) five
    // times.
    if (back >= 0) return "press ⬅️ Back" + at(back) + ", then " + std::string(label);
  }
  return "press " + std::string(label) + " in " + bot;
}

namespace {

// The cheapest item a buy_* milestone asks for; nothing for other milestones.
const ItemInfo* ItemToBuy(std::string_view id) {
  if (id == "buy_potion") return FindItem("potion");
  if (id == "buy_weapon") return FindItem("iron_sword");
  if (id == "buy_armour") return FindItem("leather_armour");
  return nullptr;
}

}  // namespace

// Where the hero stands now, as far as it matters for `id`: the next move a player would make.
// A small model pressed Defend and Potion in turn in a fight it was winning with Attack, and
// pressed Buy in the shop chat again and again while a fight it had left on screen in the game
// chat refused every purchase.
Game::Situation Game::SituationFor(std::string_view id) const {
  const ItemInfo* to_buy = ItemToBuy(id);
  // Gold comes from fights first: for a purchase or a night at the inn the purse cannot pay.
  // (A 1.5B model pressed the Inn five times a task while the inn answered "a room costs 10,
  // you have 9" and this hint still pointed at the Inn.)
  bool too_poor =
      (to_buy && hero_.gold < to_buy->price) || (id == "rest_at_inn" && hero_.gold < kInnPrice);
  bool won_by_fighting = id == "first_victory" || id.starts_with("reach_level_") ||
                         id == "visit_cave" || id.starts_with("defeat_") || too_poor;
  std::string you = Str(hero_.hp) + "/" + Str(hero_.max_hp) + " HP";
  if (fight_) {
    const Enemy& e = fight_->enemy;
    std::string text = "a fight is on (" + e.name + " " + Str(e.hp) + "/" + Str(e.max_hp) +
                       " HP, you " + you + "): ";
    std::string attack = PressHint(kGameChatId, "f:atk", "⚔️ Attack");
    if (hero_.hp * 3 < hero_.max_hp) {
      text += hero_.potions > 0
                  ? "your HP is low: " + PressHint(kGameChatId, "f:potion", "🧪 Potion")
                  : "your HP is low and you have no potion: " +
                        PressHint(kGameChatId, "f:flee", "🏃 Flee");
    } else {
      text += won_by_fighting ? attack + " until its HP is 0" : "finish it first: " + attack;
    }
    return {text, !won_by_fighting};
  }
  bool needs_town =
      ((id.starts_with("buy_") || id == "rest_at_inn") && !too_poor) || id == "accept_bounty";
  if (needs_town && location_ != Location::kTown) {
    return {"you are in the " + std::string(LocationName(location_)) +
                ": go back to town first: " + PressHint(kGameChatId, "go:town", "🏰 Back to town"),
            true};
  }
  if (!won_by_fighting) return {};
  if (hero_.hp * 2 < hero_.max_hp && hero_.gold >= kInnPrice) {
    // The way there as buttons: told only "rest at the Inn in town", the 1.5B sent it as a
    // command ("/rest at the 🛏 Inn in town ...") five times from the forest.
    return {"your HP is low (" + you + "): rest at the 🛏 Inn in town before the next fight: " +
                (location_ == Location::kTown
                     ? PressHint(kGameChatId, "inn", "🛏 Inn")
                     : PressHint(kGameChatId, "go:town", "🏰 Back to town") + ", then 🛏 Inn"),
            false};
  }
  if (id == "visit_cave" || id == "defeat_cave_troll") {
    return {location_ == Location::kCave ? PressHint(kGameChatId, "hunt", "🐾 Hunt") + " to find one"
                                         : "the 🕳 Cave is reached from town: " +
                                               PressHint(kGameChatId, "go:cave", "🕳 Cave"),
            false};
  }
  if (id == "defeat_goblin_boss") return {};
  return {location_ == Location::kTown ? "fights are found in the 🌲 Forest: " +
                                             PressHint(kGameChatId, "go:forest", "🌲 Forest")
                                       : PressHint(kGameChatId, "hunt", "🐾 Hunt") + " to find one",
          false};
}

std::string Game::MissingFor(std::string_view id) const {
  if (id.starts_with("reach_level_")) {
    std::string_view digits = id.substr(12);
    int level = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), level);
    std::string needed = ec == std::errc() && end == digits.data() + digits.size()
                             ? " of " + Str(XpForLevel(level))
                             : "";
    return "level " + Str(hero_.level) + " of " + std::string(digits) + " (" + Str(hero_.xp) +
           needed + " XP): every fight won gives XP";
  }
  if (id == "hoard_200_gold") return Str(hero_.gold) + " of " + Str(kHoardGold) + " gold";
  if (id == "defeat_goblin_boss") {
    return bounty_accepted_ ? "bounty accepted, boss still alive" : "bounty not accepted yet";
  }
  // What a player would be told is missing, so a checker's "no" says where to go.
  if (id == "start_game") return "the game has not started: send /start to the game bot";
  if (id == "first_victory") return "no fight won yet";
  // The shop: the Buy button when its catalogue is on screen, else how to open it.
  auto shop = [&](std::string_view what) {
    const ItemInfo* info = ItemToBuy(id);
    if (hero_.gold < info->price) {
      return "no " + std::string(what) + " bought yet: the " + std::string(info->name) + " costs " +
             Str(info->price) + " 💰 and you have " + Str(hero_.gold) +
             " 💰: every fight won gives gold";
    }
    std::string buy = PressHint(kShopChatId, "buy:" + std::string(info->key), "");
    bool shown = buy.find("(button_index") != std::string::npos;
    return "no " + std::string(what) + " bought yet: " +
           (shown ? buy
                  : "the shop is another chat: send /start to @goblin_market_bot, then press the "
                    "Buy button for it") +
           " (it delivers in Oakvale only)";
  };
  if (id == "buy_potion") return shop("potion");
  if (id == "buy_weapon") return shop("sword");
  if (id == "buy_armour") return shop("armour");
  if (id == "rest_at_inn") {
    if (hero_.gold < kInnPrice) {
      return "no night at the inn yet: a room costs " + Str(kInnPrice) + " 💰 and you have " +
             Str(hero_.gold) + " 💰: every fight won gives gold";
    }
    return location_ == Location::kTown
               ? "no night at the inn yet: " + PressHint(kGameChatId, "inn", "🛏 Inn")
               : "no night at the inn yet: the 🛏 Inn is in town";
  }
  if (id == "equip_weapon") {
    // The bought weapon that is not in hand, and the way to its Equip button: the inventory.
    // (The 1.5B, told only "see /inventory", read the messages five times a task.)
    for (const auto& key : hero_.items) {
      const ItemInfo* item = FindItem(key);
      if (!item || item->kind != ItemInfo::Kind::kWeapon || item->price == 0 ||
          key == hero_.weapon) {
        continue;
      }
      std::string label = "Equip " + std::string(item->emoji) + " " + std::string(item->name);
      std::string equip = PressHint(kGameChatId, "equip:" + key, label);
      if (equip.find("(button_index") == std::string::npos) {
        std::string inventory = PressHint(kGameChatId, "inv", "🎒 Inventory");
        if (inventory.find("(button_index") != std::string::npos)
          equip = inventory + ", then " + label;
      }
      return "no bought sword equipped yet: " + equip;
    }
    return "no bought sword equipped yet: buy one first (the 🛒 Goblin Market)";
  }
  if (id == "accept_bounty") return "the bounty is not accepted yet: see the 📜 Quest board";
  if (id == "visit_cave") return "no fight won in the 🕳 Cave yet";
  if (id == "defeat_cave_troll") return "no Cave Troll defeated yet";
  return "not yet";
}

// ---- invariants -----------------------------------------------------------------------------

Status Game::CheckInvariants() const {
  auto fail = [](const std::string& what) {
    return Status(Code::kInternal, "rpg invariant: " + what);
  };
  if (hero_.level < 1 || hero_.level > kMaxLevel)
    return fail("level " + Str(hero_.level) + " out of range");
  if (hero_.max_hp != 20 + 10 * hero_.level) return fail("max_hp does not match level");
  if (hero_.hp < 1 || hero_.hp > hero_.max_hp) {
    return fail("hp " + Str(hero_.hp) + " outside 1.." + Str(hero_.max_hp));
  }
  if (hero_.xp < XpForLevel(hero_.level)) return fail("xp below the level's threshold");
  if (hero_.level < kMaxLevel && hero_.xp >= XpForLevel(hero_.level + 1))
    return fail("xp enough for next level");
  if (hero_.gold < 0) return fail("negative gold");
  if (hero_.potions < 0 || hero_.potions > kMaxPotions) return fail("potions out of range");
  if (!Contains(hero_.items, hero_.weapon)) return fail("weapon not owned");
  if (!hero_.armour.empty() && !Contains(hero_.items, hero_.armour))
    return fail("armour not owned");
  for (const auto& key : hero_.items) {
    if (!FindItem(key)) return fail("unknown item " + key);
    if (std::count(hero_.items.begin(), hero_.items.end(), key) > 1)
      return fail("duplicate item " + key);
  }
  if (boss_defeated_ != Contains(hero_.items, "goblin_key"))
    return fail("boss flag and trophy disagree");
  if (boss_defeated_ && !bounty_accepted_) return fail("boss defeated without the bounty");
  if (fight_) {
    if (fight_->enemy.hp < 1 || fight_->enemy.hp > fight_->enemy.max_hp)
      return fail("enemy hp out of range");
    if (location_ == Location::kTown) return fail("fight in town");
    if (chats_[0].active_message_id != fight_->message_id)
      return fail("fight message is not the active one");
  }
  std::vector<int64_t> ids;
  for (const auto& chat : chats_) {
    for (const auto& m : chat.messages) {
      if (m.id <= 0 || m.id >= next_message_id_) return fail("message id out of range");
      ids.push_back(m.id);
      for (const auto& row : m.keyboard) {
        for (const auto& b : row) {
          if (b.text.empty() || b.has_callback() == !b.url.empty()) return fail("malformed button");
        }
      }
    }
    for (size_t i = 1; i < chat.messages.size(); ++i) {
      if (chat.messages[i].id <= chat.messages[i - 1].id) return fail("message ids not increasing");
    }
    if (chat.messages.size() > kMaxMessagesPerChat) return fail("too many messages kept");
    if (chat.active_message_id != 0) {
      bool found = false;
      for (const auto& m : chat.messages)
        found = found || (m.id == chat.active_message_id && !m.keyboard.empty());
      if (!found) return fail("active message missing or without keyboard in chat " + chat.title);
    }
  }
  std::sort(ids.begin(), ids.end());
  if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) return fail("duplicate message id");
  for (const auto& id : achieved_) {
    bool known = false;
    for (const auto& m : kMilestones) known = known || m.id == id;
    if (!known) return fail("unknown milestone " + id);
  }
  return Status::Ok();
}

// ---- JSON -----------------------------------------------------------------------------------

namespace {

Json ButtonJson(const Button& b) {
  Json j{{"text", b.text}};
  if (b.has_callback()) j["data"] = b.data;
  if (!b.url.empty()) j["url"] = b.url;
  return j;
}

Json EnemyJson(const Enemy& e) {
  return Json{{"key", e.key},       {"name", e.name}, {"emoji", e.emoji}, {"hp", e.hp},
              {"max_hp", e.max_hp}, {"atk", e.atk},   {"def", e.def},     {"xp", e.xp},
              {"gold", e.gold},     {"boss", e.boss}};
}

// The stored state's shape (what ToJson writes), checked before any field is read, so a broken
// file is refused naming its first wrong field ("rpg state.hero.gold: expected integer, got
// string"). Ids and the clock are bounded well inside int64_t, counters inside int.
const Json& StateSchema() {
  static const Json schema = [] {
    const Json id = {{"type", "integer"}, {"minimum", -9e18}, {"maximum", 9e18}};
    const Json count = {{"type", "integer"}, {"minimum", -1000000000}, {"maximum", 1000000000}};
    const Json text = {{"type", "string"}};
    const Json flag = {{"type", "boolean"}};
    const Json texts = {{"type", "array"}, {"items", text}};
    auto array_of = [](Json items) { return Json{{"type", "array"}, {"items", std::move(items)}}; };
    // Every property listed is required.
    auto object = [](Json properties) {
      Json required = Json::array();
      for (const auto& [key, unused] : properties.items()) required.push_back(key);
      return Json{{"type", "object"},
                  {"properties", std::move(properties)},
                  {"required", std::move(required)}};
    };
    Json enemy = object({{"key", text},
                         {"name", text},
                         {"emoji", text},
                         {"hp", count},
                         {"max_hp", count},
                         {"atk", count},
                         {"def", count},
                         {"xp", count},
                         {"gold", count},
                         {"boss", flag}});
    Json fight = object({{"enemy", enemy},
                         {"round", count},
                         {"boss_winding_up", flag},
                         {"message_id", id},
                         {"log", texts}});
    fight["type"] = Json::array({"object", "null"});
    Json hero = object({{"name", text},
                        {"level", count},
                        {"xp", count},
                        {"hp", count},
                        {"max_hp", count},
                        {"gold", count},
                        {"potions", count},
                        {"items", texts},
                        {"weapon", text},
                        {"armour", text}});
    Json button = object({{"text", text}});
    button["properties"]["data"] = text;  // optional, as is url
    button["properties"]["url"] = text;
    Json message = object({{"id", id},
                           {"outgoing", flag},
                           {"text", text},
                           {"date", id},
                           {"edit_date", id},
                           {"keyboard", array_of(array_of(button))}});
    Json chat = object({{"id", id},
                        {"title", text},
                        {"username", text},
                        {"active_message_id", id},
                        {"messages", array_of(message)}});
    return object({{"version", {{"const", 1}}},
                   {"seed", text},
                   {"rng", text},
                   {"clock", id},
                   {"next_message_id", id},
                   {"started", flag},
                   {"location", {{"enum", {"town", "forest", "cave"}}}},
                   {"hero", hero},
                   {"fight", fight},
                   {"bounty_accepted", flag},
                   {"boss_defeated", flag},
                   {"deaths", count},
                   {"kills", count},
                   {"defeated_kinds", texts},
                   {"achieved", texts},
                   {"chats", array_of(chat)}});
  }();
  return schema;
}

// The readers below take values StateSchema() has checked.
int Int(const Json& obj, const char* key) { return obj.at(key).get<int>(); }
int64_t Int64(const Json& obj, const char* key) { return obj.at(key).get<int64_t>(); }
std::string Str(const Json& obj, const char* key) { return obj.at(key).get<std::string>(); }
bool Flag(const Json& obj, const char* key) { return obj.at(key).get<bool>(); }
std::vector<std::string> Strs(const Json& obj, const char* key) {
  return obj.at(key).get<std::vector<std::string>>();
}

Result<uint64_t> ParseU64(const Json& state, const char* key) {
  std::string text = Str(state, key);
  if (text.empty() || text.size() > 20 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    return DataLoss(std::string("rpg state: ") + key + " must be a decimal unsigned integer");
  }
  errno = 0;
  unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
  if (errno == ERANGE) return DataLoss(std::string("rpg state: ") + key + " is out of range");
  return static_cast<uint64_t>(v);
}

Hero HeroFrom(const Json& h) {
  Hero hero;
  hero.name = Str(h, "name");
  hero.level = Int(h, "level");
  hero.xp = Int(h, "xp");
  hero.hp = Int(h, "hp");
  hero.max_hp = Int(h, "max_hp");
  hero.gold = Int(h, "gold");
  hero.potions = Int(h, "potions");
  hero.items = Strs(h, "items");
  hero.weapon = Str(h, "weapon");
  hero.armour = Str(h, "armour");
  return hero;
}

Fight FightFrom(const Json& f) {
  const Json& e = f.at("enemy");
  Fight fight;
  fight.enemy =
      Enemy{Str(e, "key"), Str(e, "name"), Str(e, "emoji"), Int(e, "hp"),   Int(e, "max_hp"),
            Int(e, "atk"), Int(e, "def"),  Int(e, "xp"),    Int(e, "gold"), Flag(e, "boss")};
  fight.round = Int(f, "round");
  fight.boss_winding_up = Flag(f, "boss_winding_up");
  fight.message_id = Int64(f, "message_id");
  fight.log = Strs(f, "log");
  return fight;
}

Message MessageFrom(const Json& mj) {
  Message m;
  m.id = Int64(mj, "id");
  m.outgoing = Flag(mj, "outgoing");
  m.text = Str(mj, "text");
  m.date = Int64(mj, "date");
  m.edit_date = Int64(mj, "edit_date");
  for (const auto& rj : mj.at("keyboard")) {
    std::vector<Button> row;
    for (const auto& bj : rj) {
      Button b;
      b.text = Str(bj, "text");
      if (bj.contains("data")) b.data = Str(bj, "data");
      if (bj.contains("url")) b.url = Str(bj, "url");
      row.push_back(std::move(b));
    }
    m.keyboard.push_back(std::move(row));
  }
  return m;
}

Result<std::vector<Chat>> ChatsFrom(const Json& chats) {
  if (chats.size() != 2) return DataLoss("rpg state: chats must hold the game and the shop chat");
  std::vector<Chat> out;
  for (const auto& cj : chats) {
    Chat c;
    c.id = Int64(cj, "id");
    if (c.id != kGameChatId && c.id != kShopChatId)
      return DataLoss("rpg state: chats[].id is not a known chat");
    c.title = Str(cj, "title");
    c.username = Str(cj, "username");
    c.active_message_id = Int64(cj, "active_message_id");
    for (const auto& mj : cj.at("messages")) c.messages.push_back(MessageFrom(mj));
    out.push_back(std::move(c));
  }
  if (out[0].id != kGameChatId || out[1].id != kShopChatId)
    return DataLoss("rpg state: chats must list the game chat, then the shop chat");
  return out;
}

}  // namespace

Json Game::ToJson(bool include_chats) const {
  Json chats = Json::array();
  for (const auto& c : chats_) {
    if (!include_chats) break;
    Json messages = Json::array();
    for (const auto& m : c.messages) {
      Json kb = Json::array();
      for (const auto& row : m.keyboard) {
        Json r = Json::array();
        for (const auto& b : row) r.push_back(ButtonJson(b));
        kb.push_back(r);
      }
      messages.push_back(Json{{"id", m.id},
                              {"outgoing", m.outgoing},
                              {"text", m.text},
                              {"keyboard", kb},
                              {"date", m.date},
                              {"edit_date", m.edit_date}});
    }
    chats.push_back(Json{{"id", c.id},
                         {"title", c.title},
                         {"username", c.username},
                         {"active_message_id", c.active_message_id},
                         {"messages", messages}});
  }
  Json fight = nullptr;
  if (fight_) {
    fight = Json{{"enemy", EnemyJson(fight_->enemy)},
                 {"round", fight_->round},
                 {"boss_winding_up", fight_->boss_winding_up},
                 {"message_id", fight_->message_id},
                 {"log", fight_->log}};
  }
  Json milestones = Json::array();
  for (const auto& m : kMilestones) {
    milestones.push_back(Json{{"id", m.id}, {"achieved", MilestoneAchieved(m.id)}});
  }
  Json out{
      {"version", 1},
      {"seed", std::to_string(seed_)},
      {"rng", std::to_string(rng_)},
      {"clock", clock_},
      {"next_message_id", next_message_id_},
      {"started", started_},
      {"location", LocationName(location_)},
      {"hero", Json{{"name", hero_.name},
                    {"level", hero_.level},
                    {"xp", hero_.xp},
                    {"xp_next_level",
                     hero_.level >= kMaxLevel ? Json(nullptr) : Json(XpForLevel(hero_.level + 1))},
                    {"hp", hero_.hp},
                    {"max_hp", hero_.max_hp},
                    {"atk", ATK()},
                    {"def", DEF()},
                    {"gold", hero_.gold},
                    {"potions", hero_.potions},
                    {"items", hero_.items},
                    {"weapon", hero_.weapon},
                    {"armour", hero_.armour}}},
      {"fight", fight},
      {"bounty_accepted", bounty_accepted_},
      {"boss_defeated", boss_defeated_},
      {"deaths", deaths_},
      {"kills", kills_},
      {"defeated_kinds", defeated_kinds_},
      {"achieved", achieved_},
      {"milestones", milestones},
  };
  if (include_chats) out["chats"] = std::move(chats);
  return out;
}

Result<Game> Game::FromJson(const Json& s) {
  if (Status st = ValidateJson(s, StateSchema(), "rpg state"); !st.ok())
    return DataLoss(st.message());
  NAUT_ASSIGN_OR_RETURN(uint64_t seed, ParseU64(s, "seed"));
  NAUT_ASSIGN_OR_RETURN(uint64_t rng, ParseU64(s, "rng"));
  NAUT_ASSIGN_OR_RETURN(std::vector<Chat> chats, ChatsFrom(s.at("chats")));
  Game g(seed);
  g.rng_ = rng;
  g.clock_ = Int64(s, "clock");
  g.next_message_id_ = Int64(s, "next_message_id");
  g.started_ = Flag(s, "started");
  const std::string location = Str(s, "location");
  g.location_ = location == "town"     ? Location::kTown
                : location == "forest" ? Location::kForest
                                       : Location::kCave;
  g.hero_ = HeroFrom(s.at("hero"));
  if (const Json& f = s.at("fight"); !f.is_null()) g.fight_ = FightFrom(f);
  g.bounty_accepted_ = Flag(s, "bounty_accepted");
  g.boss_defeated_ = Flag(s, "boss_defeated");
  g.deaths_ = Int(s, "deaths");
  g.kills_ = Int(s, "kills");
  g.defeated_kinds_ = Strs(s, "defeated_kinds");
  g.achieved_ = Strs(s, "achieved");
  g.chats_ = std::move(chats);
  if (Status st = g.CheckInvariants(); !st.ok()) return DataLoss("rpg state: " + st.message());
  return g;
}

}  // namespace naut::envs::rpg

#include "envs/rpg/game.h"

#include <algorithm>
#include <stdexcept>

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
    log.push_back("⚠️ The Goblin Boss raises his huge club high… brace yourself!");
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
    log.push_back("🛡 You raise your guard.");
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
    log.push_back("❌ You failed to escape!");
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
    hero_.items.push_back("goblin_key");
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
    return {"🚪 The Goblin Market delivers in Oakvale only. Come back to town first.", true};
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
  if (!shop.messages.empty()) {
    // Refresh the purse shown on the newest catalogue.
    for (auto it = shop.messages.rbegin(); it != shop.messages.rend(); ++it) {
      if (!it->keyboard.empty()) {
        auto [text, kb] = ShopView();
        Edit(kShopChatId, it->id, std::move(text), std::move(kb));
        break;
      }
    }
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
  if (id.starts_with("reach_level_")) {
    return "level " + Str(hero_.level) + " of " + std::string(id.substr(12)) + " (" +
           Str(hero_.xp) + " XP)";
  }
  if (id == "hoard_200_gold") return Str(hero_.gold) + " of " + Str(kHoardGold) + " gold";
  if (id == "defeat_goblin_boss") {
    return bounty_accepted_ ? "bounty accepted, boss still alive" : "bounty not accepted yet";
  }
  // What a player would be told is missing, so a checker's "no" says where to go.
  if (id == "start_game") return "the game has not started: send /start to the game bot";
  if (id == "first_victory") return "no fight won yet: fights are found in the 🌲 Forest";
  if (id == "buy_potion") return "no potion bought yet: the shop is @goblin_market_bot";
  if (id == "rest_at_inn") return "no night at the inn yet: the 🛏 Inn is in town";
  if (id == "buy_weapon") return "no sword bought yet: the shop is @goblin_market_bot";
  if (id == "equip_weapon") return "no bought sword equipped yet: see /inventory";
  if (id == "buy_armour") return "no armour bought yet: the shop is @goblin_market_bot";
  if (id == "accept_bounty") return "the bounty is not accepted yet: see the 📜 Quest board";
  if (id == "visit_cave") return "no fight won in the 🕳 Cave yet";
  if (id == "defeat_cave_troll") return "no Cave Troll defeated yet";
  return "not yet";
}

// ---- invariants -----------------------------------------------------------------------------

Status Game::CheckInvariants() const {
  auto fail = [](std::string what) { return Status(Code::kInternal, "rpg invariant: " + what); };
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

// Reading a stored state: a failed access throws FieldError naming the field; FromJson turns
// it into a Status at its edge.
struct FieldError {
  std::string field;
};

const Json& Field(const Json& obj, const char* key, std::string_view path) {
  if (!obj.is_object() || !obj.contains(key))
    throw FieldError{std::string(path) + key + " is missing"};
  return obj.at(key);
}
int64_t IntField(const Json& obj, const char* key, std::string_view path) {
  const Json& v = Field(obj, key, path);
  if (!v.is_number_integer()) throw FieldError{std::string(path) + key + " must be an integer"};
  return v.get<int64_t>();
}
int IntField32(const Json& obj, const char* key, std::string_view path) {
  int64_t v = IntField(obj, key, path);
  if (v < -1000000000 || v > 1000000000)
    throw FieldError{std::string(path) + key + " is out of range"};
  return static_cast<int>(v);
}
std::string StrField(const Json& obj, const char* key, std::string_view path) {
  const Json& v = Field(obj, key, path);
  if (!v.is_string()) throw FieldError{std::string(path) + key + " must be a string"};
  return v.get<std::string>();
}
bool BoolField(const Json& obj, const char* key, std::string_view path) {
  const Json& v = Field(obj, key, path);
  if (!v.is_boolean()) throw FieldError{std::string(path) + key + " must be a boolean"};
  return v.get<bool>();
}
const Json& ArrayField(const Json& obj, const char* key, std::string_view path) {
  const Json& v = Field(obj, key, path);
  if (!v.is_array()) throw FieldError{std::string(path) + key + " must be an array"};
  return v;
}
std::vector<std::string> StrArray(const Json& obj, const char* key, std::string_view path) {
  std::vector<std::string> out;
  for (const auto& v : ArrayField(obj, key, path)) {
    if (!v.is_string()) throw FieldError{std::string(path) + key + " must hold strings"};
    out.push_back(v.get<std::string>());
  }
  return out;
}
Enemy EnemyFrom(const Json& j, std::string_view path) {
  return Enemy{StrField(j, "key", path),      StrField(j, "name", path),
               StrField(j, "emoji", path),    IntField32(j, "hp", path),
               IntField32(j, "max_hp", path), IntField32(j, "atk", path),
               IntField32(j, "def", path),    IntField32(j, "xp", path),
               IntField32(j, "gold", path),   BoolField(j, "boss", path)};
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
  try {
    if (IntField(s, "version", "") != 1) throw FieldError{"version is not 1"};
    auto parse_u64 = [&](const char* key) {
      std::string text = StrField(s, key, "");
      if (text.empty() || text.size() > 20 ||
          text.find_first_not_of("0123456789") != std::string::npos) {
        throw FieldError{std::string(key) + " must be a decimal unsigned integer"};
      }
      try {
        return static_cast<uint64_t>(std::stoull(text));
      } catch (const std::exception&) {
        throw FieldError{std::string(key) + " is out of range"};
      }
    };
    Game g(parse_u64("seed"));
    g.rng_ = parse_u64("rng");
    g.clock_ = IntField(s, "clock", "");
    g.next_message_id_ = IntField(s, "next_message_id", "");
    g.started_ = BoolField(s, "started", "");
    std::string loc = StrField(s, "location", "");
    if (loc == "town") {
      g.location_ = Location::kTown;
    } else if (loc == "forest") {
      g.location_ = Location::kForest;
    } else if (loc == "cave") {
      g.location_ = Location::kCave;
    } else {
      throw FieldError{"location '" + loc + "' is not town, forest or cave"};
    }
    const Json& h = Field(s, "hero", "");
    g.hero_.name = StrField(h, "name", "hero.");
    g.hero_.level = IntField32(h, "level", "hero.");
    g.hero_.xp = IntField32(h, "xp", "hero.");
    g.hero_.hp = IntField32(h, "hp", "hero.");
    g.hero_.max_hp = IntField32(h, "max_hp", "hero.");
    g.hero_.gold = IntField32(h, "gold", "hero.");
    g.hero_.potions = IntField32(h, "potions", "hero.");
    g.hero_.items = StrArray(h, "items", "hero.");
    g.hero_.weapon = StrField(h, "weapon", "hero.");
    g.hero_.armour = StrField(h, "armour", "hero.");
    const Json& f = Field(s, "fight", "");
    if (!f.is_null()) {
      Fight fight;
      fight.enemy = EnemyFrom(Field(f, "enemy", "fight."), "fight.enemy.");
      fight.round = IntField32(f, "round", "fight.");
      fight.boss_winding_up = BoolField(f, "boss_winding_up", "fight.");
      fight.message_id = IntField(f, "message_id", "fight.");
      fight.log = StrArray(f, "log", "fight.");
      g.fight_ = std::move(fight);
    }
    g.bounty_accepted_ = BoolField(s, "bounty_accepted", "");
    g.boss_defeated_ = BoolField(s, "boss_defeated", "");
    g.deaths_ = IntField32(s, "deaths", "");
    g.kills_ = IntField32(s, "kills", "");
    g.defeated_kinds_ = StrArray(s, "defeated_kinds", "");
    g.achieved_ = StrArray(s, "achieved", "");
    const Json& chats = ArrayField(s, "chats", "");
    if (chats.size() != 2) throw FieldError{"chats must hold the game and the shop chat"};
    g.chats_.clear();
    for (const auto& cj : chats) {
      Chat c;
      c.id = IntField(cj, "id", "chats[].");
      if (c.id != kGameChatId && c.id != kShopChatId)
        throw FieldError{"chats[].id is not a known chat"};
      c.title = StrField(cj, "title", "chats[].");
      c.username = StrField(cj, "username", "chats[].");
      c.active_message_id = IntField(cj, "active_message_id", "chats[].");
      for (const auto& mj : ArrayField(cj, "messages", "chats[].")) {
        Message m;
        m.id = IntField(mj, "id", "chats[].messages[].");
        m.outgoing = BoolField(mj, "outgoing", "chats[].messages[].");
        m.text = StrField(mj, "text", "chats[].messages[].");
        m.date = IntField(mj, "date", "chats[].messages[].");
        m.edit_date = IntField(mj, "edit_date", "chats[].messages[].");
        for (const auto& rj : ArrayField(mj, "keyboard", "chats[].messages[].")) {
          if (!rj.is_array()) throw FieldError{"chats[].messages[].keyboard rows must be arrays"};
          std::vector<Button> row;
          for (const auto& bj : rj) {
            Button b;
            b.text = StrField(bj, "text", "keyboard button.");
            if (bj.contains("data")) b.data = StrField(bj, "data", "keyboard button.");
            if (bj.contains("url")) b.url = StrField(bj, "url", "keyboard button.");
            row.push_back(std::move(b));
          }
          m.keyboard.push_back(std::move(row));
        }
        c.messages.push_back(std::move(m));
      }
      g.chats_.push_back(std::move(c));
    }
    if (g.chats_[0].id != kGameChatId || g.chats_[1].id != kShopChatId) {
      throw FieldError{"chats must list the game chat, then the shop chat"};
    }
    if (Status st = g.CheckInvariants(); !st.ok()) return DataLoss("rpg state: " + st.message());
    return g;
  } catch (const FieldError& e) {
    return DataLoss("rpg state: " + e.field);
  } catch (const std::exception& e) {
    return DataLoss(std::string("rpg state: ") + e.what());
  }
}

}  // namespace naut::envs::rpg

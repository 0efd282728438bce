// neuronaut play rpg: play the built-in game yourself in the terminal, through the same tool
// handlers the agent uses, to judge whether it is clear and fun. Reads choices from stdin, so
// it also works with piped input.

#include <unistd.h>

#include <iostream>
#include <map>
#include <string>

#include "cli/context.h"
#include "core/data_home.h"
#include "core/home_lock.h"
#include "core/ids.h"
#include "envs/rpg/rpg_server.h"

namespace naut::cli {
namespace {

using envs::rpg::Chat;
using envs::rpg::Game;
using envs::rpg::kGameChatId;
using envs::rpg::kShopChatId;
using envs::rpg::RpgWorld;

constexpr const char* kHelp =
    "How to play: type a button's number to press it, a /command (/start, /hero, /inventory, "
    "/help)\n"
    "to send it, 'shop' or 'game' to switch chats, 'chats' to list them, 'q' to quit.\n";

// Remembers what was shown, so that after each action only new or edited messages print.
class ChatPrinter {
 public:
  explicit ChatPrinter(std::ostream& out) : out_(out) {}

  void ShowRecent(const Chat& chat, size_t count) {
    size_t from = chat.messages.size() > count ? chat.messages.size() - count : 0;
    for (size_t i = from; i < chat.messages.size(); ++i) Print(chat, chat.messages[i]);
  }

  void ShowChanges(const Chat& chat) {
    for (const auto& m : chat.messages) {
      auto it = seen_.find(m.id);
      if (it != seen_.end() && it->second.fingerprint == Fingerprint(m)) continue;
      // A bot takes the buttons off a message it moved on from; reprinting the same text
      // without them only repeats what is on screen.
      if (it != seen_.end() && it->second.text == m.text && m.keyboard.empty()) {
        it->second.fingerprint = Fingerprint(m);
        continue;
      }
      Print(chat, m);
    }
  }

  void Remember(const Chat& chat) {
    for (const auto& m : chat.messages) seen_[m.id] = {Fingerprint(m), m.text};
  }

 private:
  static std::string Fingerprint(const envs::rpg::Message& m) {
    std::string f = m.text + "\x1f" + std::to_string(m.edit_date);
    for (const auto& row : m.keyboard) {
      for (const auto& b : row) f += "\x1f" + b.text;
    }
    return f;
  }

  void Print(const Chat& chat, const envs::rpg::Message& m) {
    seen_[m.id] = {Fingerprint(m), m.text};
    if (m.outgoing) {
      out_ << "                                   you ▸ " << m.text << "\n";
      return;
    }
    out_ << "┌─ " << chat.title << " · #" << m.id << (m.edit_date ? " (edited)" : "") << "\n";
    size_t start = 0;
    while (start <= m.text.size()) {
      size_t end = m.text.find('\n', start);
      if (end == std::string::npos) end = m.text.size();
      out_ << "│ " << m.text.substr(start, end - start) << "\n";
      start = end + 1;
    }
    int index = 0;
    for (const auto& row : m.keyboard) {
      out_ << "│";
      for (const auto& b : row)
        out_ << "  [" << index++ << "] " << b.text << (b.has_callback() ? "" : " ↗");
      out_ << "\n";
    }
    out_ << "└─\n";
  }

  struct Seen {
    std::string fingerprint;
    std::string text;
  };
  std::ostream& out_;
  std::map<int64_t, Seen> seen_;
};

// The bot's answer to a press, from the tool's JSON result or its plain sentence, as a player
// would see it: an alert is a pop-up, not a sentence about Telegram.
std::string PressAnswer(const mcp::ToolResult& r) {
  std::string text = r.AsText();
  if (auto j = ParseJson(text, "press result"); j && j->is_object() && j->contains("response")) {
    std::string response = (*j)["response"].get<std::string>();
    constexpr std::string_view kAlert = " Telegram displayed an alert to the user.";
    if (response.size() > kAlert.size() && response.ends_with(kAlert)) {
      return "❗ " + response.substr(0, response.size() - kAlert.size());
    }
    return "💬 " + response;
  }
  if (text.starts_with("No message with inline buttons found")) {
    return "(no buttons to press here; send /start or another /command)";
  }
  return "💬 " + text;
}

int Play(const std::shared_ptr<RpgWorld>& world, std::istream& in, std::ostream& out, bool echo) {
  ChatPrinter printer(out);
  int64_t current = kGameChatId;
  out << "🎮 Dungeon Quest, played through the rpg tool server (seed " << world->Snapshot().seed()
      << ").\n"
      << kHelp << "\n";
  {
    Game g = world->Snapshot();
    printer.ShowRecent(*g.FindChat(current), 6);
    printer.Remember(*g.FindChat(kShopChatId));
  }
  std::string line;
  while (true) {
    out << (current == kGameChatId ? "game" : "shop") << "> " << std::flush;
    if (!std::getline(in, line)) break;
    if (echo) out << line << "\n";  // piped input: show what was chosen
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    size_t lead = line.find_first_not_of(' ');
    line = lead == std::string::npos ? "" : line.substr(lead);
    if (line.empty()) continue;
    if (line == "q" || line == "quit" || line == "exit") break;
    if (line == "help" || line == "?") {
      out << kHelp;
      continue;
    }
    if (line == "chats") {
      out << world->ListChats(Json::object()).AsText() << "\n";
      continue;
    }
    if (line == "shop" || line == "game") {
      current = line == "shop" ? kShopChatId : kGameChatId;
      Game g = world->Snapshot();
      out << "── switched to " << g.FindChat(current)->title << " ──\n";
      printer.ShowRecent(*g.FindChat(current), 4);
      continue;
    }
    bool number = line.find_first_not_of("0123456789") == std::string::npos && line.size() < 4;
    if (number) {
      auto r =
          world->PressInlineButton(Json{{"chat_id", current}, {"button_index", std::stoi(line)}});
      out << "  " << PressAnswer(r) << "\n";
    } else {
      auto r = world->SendMessage(Json{{"chat_id", current}, {"message", line}});
      if (r.is_error) out << "  ⚠️ " << r.AsText() << "\n";
    }
    Game g = world->Snapshot();
    printer.ShowChanges(*g.FindChat(current));
  }
  if (Status s = world->last_save_status(); !s.ok()) {
    std::cerr << "neuronaut play: the game could not be saved: " << s.ToString() << "\n";
    return kExitFailure;
  }
  out << "\n👋 Bye! Your game is saved; `neuronaut play rpg` continues it.\n";
  return kExitOk;
}

}  // namespace

void AddPlayCommand(CLI::App& app, Context& ctx) {
  auto* play = app.add_subcommand("play", "Play a built-in game yourself in the terminal (rpg)");
  static std::string game;
  static std::optional<int64_t> seed;
  static bool memory = false;
  play->add_option("game", game, "The game to play: rpg")->required();
  play->add_option("--seed", seed,
                   "Start a new game with this seed (default: continue the saved game)");
  play->add_flag("--memory", memory, "Keep the game in memory only (nothing saved)");
  play->callback([&ctx] {
    if (game != "rpg") {
      (void)Fail(InvalidArgument("play: unknown game '" + game + "'; available: rpg"));
      ctx.exit_code = kExitUsage;
      return;
    }
    if (seed && *seed < 0) {
      (void)Fail(InvalidArgument("play: --seed must be 0 or more"));
      ctx.exit_code = kExitUsage;
      return;
    }
    std::filesystem::path state_file;
    std::optional<HomeLock> home_lock;
    if (!memory) {
      auto config = ctx.LoadConfig();
      if (!config) {
        ctx.exit_code = Fail(config.error());
        return;
      }
      auto home = OpenDataHome(config->home);
      if (!home) {
        ctx.exit_code = Fail(home.error());
        return;
      }
      state_file = envs::rpg::StateFileIn(home->root);
      // The saved game is the agent's: nobody plays it while a run does.
      auto lock = HomeLock::Acquire(*home, NewId(), "neuronaut play");
      if (!lock) {
        ctx.exit_code = Fail(lock.error());
        return;
      }
      home_lock = std::move(*lock);
    }
    auto world = RpgWorld::Open(state_file, static_cast<uint64_t>(seed.value_or(0)));
    if (!world) {
      ctx.exit_code = Fail(world.error());
      return;
    }
    if (!(*world)->load_note().empty())
      std::cerr << "neuronaut play: " << (*world)->load_note() << "\n";
    if (seed) (void)(*world)->Reset(Json{{"seed", *seed}});
    ctx.exit_code = Play(*world, std::cin, std::cout, /*echo=*/!isatty(STDIN_FILENO));
  });
}

}  // namespace naut::cli

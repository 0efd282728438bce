#include "envs/rpg/rpg_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <ctime>

#include "core/data_home.h"
#include "core/files.h"

namespace naut::envs::rpg {
namespace {

namespace fs = std::filesystem;
using mcp::ToolResult;

constexpr int kDefaultLimit = 20;
constexpr int kMaxLimit = 200;

ToolResult JsonText(const Json& j) { return ToolResult::Text(DumpJson(j, 2)); }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

std::string IsoDate(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
  return buf;
}

// An argument that is absent or null; else an integer: a JSON integer, a number without a
// fraction, or a string of digits, as the Telegram server accepts them. The error names the
// field.
Result<std::optional<int64_t>> OptionalInt(const Json& args, const char* key) {
  if (!args.contains(key) || args[key].is_null()) return std::optional<int64_t>();
  if (auto n = GetOptionalInt(args, key)) return n;
  const Json& v = args[key];
  if (v.is_string()) {
    std::string s = Trim(v.get<std::string>());
    bool digits = !s.empty() && s.size() <= 18 &&
                  s.find_first_not_of("0123456789", s[0] == '-' ? 1 : 0) == std::string::npos &&
                  s != "-";
    if (digits) return std::optional<int64_t>(std::stoll(s));
  }
  return InvalidArgument(std::string(key) + " must be an integer, got " +
                         std::string(JsonTypeName(v)) +
                         (v.is_string() ? " '" + v.get<std::string>() + "'" : ""));
}

ToolResult ArgError(const Status& s) { return ToolResult::Error(s.message()); }

// The chat named by `chat_id`: its numeric id (number or string), "@username", username or
// title. nullopt with `answer` set when no such chat exists, as the Telegram server answers.
struct ChatLookup {
  const Chat* chat = nullptr;
  std::string answer;
};

Result<ChatLookup> ResolveChat(const Game& game, const Json& args) {
  if (!args.is_object()) return InvalidArgument("arguments must be an object");
  if (!args.contains("chat_id") || args["chat_id"].is_null())
    return InvalidArgument("chat_id is required");
  const Json& v = args["chat_id"];
  std::string shown;
  const Chat* found = nullptr;
  if (v.is_number_integer()) {
    found = game.FindChat(v.get<int64_t>());
    shown = std::to_string(v.get<int64_t>());
  } else if (v.is_string()) {
    shown = Trim(v.get<std::string>());
    std::string name = Lower(shown);
    if (!name.empty() && name[0] == '@') name = name.substr(1);
    for (const auto& c : game.chats()) {
      if (name == std::to_string(c.id) || name == Lower(c.username) || name == Lower(c.title))
        found = &c;
    }
  } else {
    return InvalidArgument("chat_id must be an integer id or a username string, got " +
                           std::string(JsonTypeName(v)));
  }
  ChatLookup r;
  r.chat = found;
  if (!found)
    r.answer = "Chat not found: '" + shown + "'. Use list_chats to see the available chats.";
  return r;
}

Json ButtonsJson(const Message& m) {
  Json out = Json::array();
  int index = 0;
  for (const auto& row : m.keyboard) {
    for (const auto& b : row) {
      Json j{{"index", index++}, {"text", b.text}, {"has_callback", b.has_callback()}};
      if (!b.url.empty()) j["url"] = b.url;
      out.push_back(j);
    }
  }
  return out;
}

std::vector<const Button*> Flatten(const Message& m) {
  std::vector<const Button*> out;
  for (const auto& row : m.keyboard) {
    for (const auto& b : row) out.push_back(&b);
  }
  return out;
}

// The message a press or listing targets: `message_id` when given, else the newest of the
// last `limit` messages that carries buttons. nullptr with `answer` set otherwise.
const Message* TargetMessage(const Chat& chat, std::optional<int64_t> message_id, int limit,
                             std::string& answer) {
  if (message_id) {
    for (const auto& m : chat.messages) {
      if (m.id == *message_id) {
        if (m.keyboard.empty()) {
          answer = "Message " + std::to_string(m.id) + " does not contain inline buttons.";
          return nullptr;
        }
        return &m;
      }
    }
    answer = "Message not found: " + std::to_string(*message_id) + " in this chat.";
    return nullptr;
  }
  int seen = 0;
  for (auto it = chat.messages.rbegin(); it != chat.messages.rend() && seen < limit; ++it, ++seen) {
    if (!it->keyboard.empty()) return &*it;
  }
  answer = "No message with inline buttons found. Specify message_id to target a specific message.";
  return nullptr;
}

Json ChatSummary(const Chat& c) {
  return Json{{"id", c.id},
              {"title", c.title},
              {"username", "@" + c.username},
              {"type", "bot"},
              {"last_message_id", c.messages.empty() ? 0 : c.messages.back().id}};
}

}  // namespace

fs::path StateFileIn(const fs::path& data_home_root) {
  return data_home_root / "rpg" / "state.json";
}

Result<std::shared_ptr<RpgWorld>> RpgWorld::Open(const fs::path& state_file, uint64_t seed) {
  std::shared_ptr<RpgWorld> world(new RpgWorld(state_file));
  MutexLock lock(world->mu_);
  world->game_ = Game(seed);
  if (state_file.empty()) return world;
  NAUT_RETURN_IF_ERROR(MakePrivateDirs(state_file.parent_path()));
  std::error_code ec;
  if (fs::exists(state_file, ec)) {
    NAUT_ASSIGN_OR_RETURN(std::string text, ReadFile(state_file));
    Status problem;
    if (auto json = ParseJson(text, state_file.string()); !json) {
      problem = json.error();
    } else if (auto game = Game::FromJson(*json); !game) {
      problem = game.error();
    } else {
      world->game_ = std::move(*game);
      return world;
    }
    // Keep the unreadable file for the user; a new game must not overwrite it.
    fs::path aside = state_file;
    aside += ".corrupt";
    fs::rename(state_file, aside, ec);
    world->load_note_ = state_file.string() + " could not be read (" + problem.message() +
                        "); it was moved to " + aside.string() + " and a new game started";
    spdlog::warn("rpg: {}", world->load_note_);
  }
  world->SaveLocked();
  if (!world->last_save_.ok()) return world->last_save_;
  return world;
}

void RpgWorld::SaveLocked() {
  if (state_file_.empty()) return;
  last_save_ = WriteFileAtomic(state_file_, DumpJson(game_.ToJson()));
  if (!last_save_.ok()) spdlog::error("rpg: saving the game failed: {}", last_save_.ToString());
}

Status RpgWorld::last_save_status() const {
  MutexLock lock(mu_);
  return last_save_;
}

Game RpgWorld::Snapshot() const {
  MutexLock lock(mu_);
  return game_;
}

Json RpgWorld::StateJson() const {
  MutexLock lock(mu_);
  return game_.ToJson();
}

Json RpgWorld::MilestonesJson() const {
  MutexLock lock(mu_);
  Json out = Json::array();
  for (const auto& m : Milestones()) {
    out.push_back(Json{{"id", m.id},
                       {"title", m.title},
                       {"description", m.description},
                       {"achieved", game_.MilestoneAchieved(m.id)},
                       {"detail", game_.MilestoneDetail(m.id)}});
  }
  return out;
}

ToolResult RpgWorld::ListChats(const Json& args) {
  if (!args.is_null() && !args.is_object()) return ToolResult::Error("arguments must be an object");
  MutexLock lock(mu_);
  Json out = Json::array();
  for (const auto& c : game_.chats()) out.push_back(ChatSummary(c));
  return JsonText(out);
}

ToolResult RpgWorld::GetMessages(const Json& args) {
  MutexLock lock(mu_);
  auto chat = ResolveChat(game_, args);
  if (!chat) return ArgError(chat.error());
  if (!chat->chat) return ToolResult::Text(chat->answer);
  auto limit = OptionalInt(args, "limit");
  if (!limit) return ArgError(limit.error());
  // The Telegram server's older signature pages with page/page_size; both are accepted.
  auto page_size = OptionalInt(args, "page_size");
  if (!page_size) return ArgError(page_size.error());
  auto page = OptionalInt(args, "page");
  if (!page) return ArgError(page.error());
  int64_t n = limit->value_or(page_size->value_or(kDefaultLimit));
  if (n < 1 || n > kMaxLimit) {
    return ToolResult::Error("limit must be between 1 and " + std::to_string(kMaxLimit) + ", got " +
                             std::to_string(n));
  }
  int64_t p = page->value_or(1);
  if (p < 1) return ToolResult::Error("page must be 1 or more, got " + std::to_string(p));
  const auto& messages = chat->chat->messages;
  Json out = Json::array();
  int64_t skip = (p - 1) * n;
  for (auto it = messages.rbegin(); it != messages.rend() && static_cast<int64_t>(out.size()) < n;
       ++it) {
    if (skip > 0) {
      --skip;
      continue;
    }
    Json m{{"id", it->id},
           {"date", IsoDate(it->date)},
           {"sender", it->outgoing ? std::string("me") : chat->chat->title},
           {"out", it->outgoing},
           {"text", it->text},
           {"has_inline_buttons", !it->keyboard.empty()}};
    if (it->edit_date != 0) m["edit_date"] = IsoDate(it->edit_date);
    out.push_back(m);
  }
  if (out.empty()) return ToolResult::Text("No messages found for this page.");
  return JsonText(out);
}

ToolResult RpgWorld::SendMessage(const Json& args) {
  MutexLock lock(mu_);
  auto chat = ResolveChat(game_, args);
  if (!chat) return ArgError(chat.error());
  auto message = GetStringIfPresent(args, "message", "send_message arguments");
  if (!message) return ArgError(message.error());
  auto text = GetStringIfPresent(args, "text", "send_message arguments");
  if (!text) return ArgError(text.error());
  if (!message->has_value() && !text->has_value()) {
    return ToolResult::Error("message is required (the text to send; 'text' is accepted too)");
  }
  if (!chat->chat) return ToolResult::Text(chat->answer);
  std::string body = Trim(message->has_value() ? **message : **text);
  if (body.empty()) return ToolResult::Text("Message text cannot be empty.");
  if (body.size() > 4096)
    return ToolResult::Text("Message is too long (Telegram allows 4096 characters).");
  auto id = game_.SendMessage(chat->chat->id, body);
  if (!id) return ToolResult::Error(id.error().message());
  SaveLocked();
  return JsonText(Json{{"status", "Message sent successfully."}, {"message_id", *id}});
}

ToolResult RpgWorld::ListInlineButtons(const Json& args) {
  MutexLock lock(mu_);
  auto chat = ResolveChat(game_, args);
  if (!chat) return ArgError(chat.error());
  auto message_id = OptionalInt(args, "message_id");
  if (!message_id) return ArgError(message_id.error());
  auto limit = OptionalInt(args, "limit");
  if (!limit) return ArgError(limit.error());
  if (!chat->chat) return ToolResult::Text(chat->answer);
  std::string answer;
  const Message* m = TargetMessage(
      *chat->chat, *message_id,
      static_cast<int>(std::clamp<int64_t>(limit->value_or(kButtonSearchWindow), 1, kMaxLimit)),
      answer);
  if (!m) return ToolResult::Text(answer);
  return JsonText(Json{{"message_id", m->id}, {"buttons", ButtonsJson(*m)}});
}

ToolResult RpgWorld::PressInlineButton(const Json& args) {
  MutexLock lock(mu_);
  auto chat = ResolveChat(game_, args);
  if (!chat) return ArgError(chat.error());
  auto message_id = OptionalInt(args, "message_id");
  if (!message_id) return ArgError(message_id.error());
  auto button_text = GetStringIfPresent(args, "button_text", "press_inline_button arguments");
  if (!button_text) return ArgError(button_text.error());
  auto button_index = OptionalInt(args, "button_index");
  if (!button_index) return ArgError(button_index.error());
  if (!chat->chat) return ToolResult::Text(chat->answer);
  if (!button_text->has_value() && !button_index->has_value()) {
    return ToolResult::Text("Provide button_text or button_index to choose a button.");
  }
  std::string answer;
  const Message* m = TargetMessage(*chat->chat, *message_id, kButtonSearchWindow, answer);
  if (!m) return ToolResult::Text(answer);
  auto buttons = Flatten(*m);
  const Button* target = nullptr;
  if (button_text->has_value() && !Trim(**button_text).empty()) {
    std::string wanted = Lower(Trim(**button_text));
    for (const Button* b : buttons) {
      if (Lower(Trim(b->text)) == wanted) {
        target = b;
        break;
      }
    }
  }
  if (!target && button_index->has_value()) {
    int64_t i = **button_index;
    if (i < 0 || i >= static_cast<int64_t>(buttons.size())) {
      return ToolResult::Text("button_index out of range. Valid indices: 0-" +
                              std::to_string(buttons.size() - 1) + ".");
    }
    target = buttons[static_cast<size_t>(i)];
  }
  if (!target) {
    std::string available;
    for (size_t i = 0; i < buttons.size(); ++i) {
      available += (i ? ", [" : "[") + std::to_string(i) + "] " + buttons[i]->text;
    }
    return ToolResult::Text("Button not found. Available buttons: " + available);
  }
  if (!target->has_callback()) {
    return ToolResult::Text("Selected button opens a URL instead of sending a callback: " +
                            target->url);
  }
  int64_t pressed_on = m->id;
  std::string data = target->data;  // the game may edit the message: copy before pressing
  CallbackAnswer a = game_.PressCallback(chat->chat->id, pressed_on, data);
  SaveLocked();
  std::string response = a.text.empty() ? "Button pressed successfully." : a.text;
  if (a.alert) response += " Telegram displayed an alert to the user.";
  return JsonText(Json{{"message_id", pressed_on}, {"response", response}});
}

ToolResult RpgWorld::CheckGoal(const Json& args) {
  if (!args.is_object()) return ToolResult::Error("arguments must be an object");
  auto goal = GetStringIfPresent(args, "goal_id", "check_goal arguments");
  if (!goal) return ArgError(goal.error());
  if (!goal->has_value()) return ToolResult::Error("goal_id is required");
  MutexLock lock(mu_);
  for (const auto& m : Milestones()) {
    if (m.id == **goal) {
      return JsonText(Json{{"goal_id", m.id},
                           {"title", m.title},
                           {"achieved", game_.MilestoneAchieved(m.id)},
                           {"detail", game_.MilestoneDetail(m.id)}});
    }
  }
  std::string known;
  for (const auto& m : Milestones()) known += (known.empty() ? "" : ", ") + std::string(m.id);
  return ToolResult::Error("goal_id '" + **goal +
                           "' is not a milestone of this game; known: " + known);
}

ToolResult RpgWorld::Reset(const Json& args) {
  if (!args.is_object()) return ToolResult::Error("arguments must be an object");
  auto seed = OptionalInt(args, "seed");
  if (!seed) return ArgError(seed.error());
  int64_t s = seed->value_or(0);
  if (s < 0) return ToolResult::Error("seed must be 0 or more, got " + std::to_string(s));
  MutexLock lock(mu_);
  game_ = Game(static_cast<uint64_t>(s));
  SaveLocked();
  return ToolResult::Text("🔄 New game started with seed " + std::to_string(s) +
                          ". Send /start to @dungeon_quest_bot to begin.");
}

ToolResult RpgWorld::SaveState(const Json& args) {
  if (!args.is_object()) return ToolResult::Error("arguments must be an object");
  MutexLock lock(mu_);
  return JsonText(Json{{"state", game_.ToJson()}});
}

ToolResult RpgWorld::LoadState(const Json& args) {
  if (!args.is_object() || !args.contains("state") || !args["state"].is_object())
    return ToolResult::Error("state is required: the object save_state answered as \"state\"");
  auto game = Game::FromJson(args["state"]);
  if (!game) return ToolResult::Error("state is not a saved game: " + game.error().message());
  MutexLock lock(mu_);
  game_ = std::move(*game);
  SaveLocked();
  return ToolResult::Text("The game is back at the saved state.");
}

std::vector<mcp::Tool> RpgWorld::Tools(const std::shared_ptr<RpgWorld>& world) {
  const Json chat_id = {{"type", {"integer", "string"}},
                        {"description", "Chat id (from list_chats) or the bot's @username"}};
  const Json message_id = {
      {"type", {"integer", "string"}},
      {"description", "Message id. If omitted, the most recent message with buttons"}};
  auto tool = [&](std::string name, std::string title, std::string description, Json properties,
                  const std::vector<std::string>& required, bool read_only,
                  ToolResult (RpgWorld::*method)(const Json&)) {
    mcp::Tool t;
    t.name = std::move(name);
    t.title = std::move(title);
    t.description = std::move(description);
    t.input_schema = Json{{"type", "object"}, {"properties", std::move(properties)}};
    if (!required.empty()) t.input_schema["required"] = required;
    t.annotations =
        Json{{"readOnlyHint", read_only}, {"destructiveHint", false}, {"openWorldHint", false}};
    t.handler = [world, method](const Json& args, mcp::ToolContext&) {
      return ((*world).*method)(args);
    };
    return t;
  };
  return {
      tool("list_chats", "List Chats", "List the chats: the game bot and the shop bot.",
           Json::object(), {}, true, &RpgWorld::ListChats),
      tool(
          "get_messages", "Get Messages",
          "Get the latest messages of a chat, newest first. Use list_inline_buttons to see a "
          "message's buttons.",
          Json{{"chat_id", chat_id},
               {"limit", {{"type", "integer"}, {"description", "How many messages (default 20)"}}},
               {"page", {{"type", "integer"}, {"description", "Page number, 1-based (default 1)"}}},
               {"page_size", {{"type", "integer"}, {"description", "Alias of limit"}}}},
          {"chat_id"}, true, &RpgWorld::GetMessages),
      tool("send_message", "Send Message",
           "Send a text message to a chat, e.g. the bot commands /start, /hero, /inventory, /help.",
           Json{{"chat_id", chat_id},
                {"message", {{"type", "string"}, {"description", "The text to send"}}},
                {"text", {{"type", "string"}, {"description", "Alias of message"}}}},
           {"chat_id"}, false, &RpgWorld::SendMessage),
      tool("list_inline_buttons", "List Inline Buttons",
           "Inspect the inline buttons of a message to discover their indices and texts.",
           Json{{"chat_id", chat_id},
                {"message_id", message_id},
                {"limit",
                 {{"type", "integer"},
                  {"description", "How many recent messages to search (default 20)"}}}},
           {"chat_id"}, true, &RpgWorld::ListInlineButtons),
      tool("press_inline_button", "Press Inline Button",
           "Press an inline (callback) button of a message; returns the bot's answer. Give "
           "button_text "
           "(exact text, case-insensitive) or button_index (zero-based, from list_inline_buttons).",
           Json{{"chat_id", chat_id},
                {"message_id", message_id},
                {"button_text", {{"type", "string"}, {"description", "Exact text of the button"}}},
                {"button_index",
                 {{"type", "integer"}, {"description", "Zero-based index among all buttons"}}}},
           {"chat_id"}, false, &RpgWorld::PressInlineButton),
      tool("check_goal", "Check Goal",
           "Ground truth for the critic: whether a milestone of the game is achieved (see "
           "rpg://milestones).",
           Json{{"goal_id",
                 {{"type", "string"}, {"description", "Milestone id, e.g. reach_level_2"}}}},
           {"goal_id"}, true, &RpgWorld::CheckGoal),
      tool("reset", "Reset Game",
           "Start a new game with the given seed; the same seed plays the same way.",
           Json{{"seed", {{"type", "integer"}, {"minimum", 0}, {"description", "Random seed"}}}},
           {"seed"}, false, &RpgWorld::Reset),
      tool("save_state", "Save State",
           "Ground truth for checking skills: the whole game as {\"state\": ...}, for load_state.",
           Json::object(), {}, true, &RpgWorld::SaveState),
      tool("load_state", "Load State", "Put the game back at a state save_state answered.",
           Json{{"state", {{"type", "object"}, {"description", "save_state's \"state\""}}}},
           {"state"}, false, &RpgWorld::LoadState),
  };
}

std::vector<mcp::Resource> RpgWorld::Resources(const std::shared_ptr<RpgWorld>& world) {
  mcp::Resource state;
  state.uri = "rpg://state";
  state.name = "state";
  state.description = "The full ground-truth game state as JSON (hero, fight, chats, milestones).";
  state.mime_type = "application/json";
  state.read = [world]() -> Result<mcp::ResourceContents> {
    return mcp::ResourceContents{"rpg://state", "application/json",
                                 DumpJson(world->StateJson(), 2)};
  };
  mcp::Resource milestones;
  milestones.uri = "rpg://milestones";
  milestones.name = "milestones";
  milestones.description =
      "The game's milestones in curriculum order, with whether each is achieved.";
  milestones.mime_type = "application/json";
  milestones.read = [world]() -> Result<mcp::ResourceContents> {
    return mcp::ResourceContents{"rpg://milestones", "application/json",
                                 DumpJson(world->MilestonesJson(), 2)};
  };
  return {state, milestones};
}

Result<mcp::ServerDefinition> MakeRpgServer(const Config& config) {
  NAUT_ASSIGN_OR_RETURN(DataHome home, OpenDataHome(config.home));
  NAUT_ASSIGN_OR_RETURN(std::shared_ptr<RpgWorld> world, RpgWorld::Open(StateFileIn(home.root)));
  mcp::ServerDefinition def;
  def.name = "rpg";
  def.title = "Dungeon Quest";
  def.instructions =
      "A role-playing game in a Telegram-style chat. Talk to the game bot @dungeon_quest_bot "
      "(send /start first) and buy gear from the shop bot @goblin_market_bot. Read the chat with "
      "get_messages, see a message's buttons with list_inline_buttons and act with "
      "press_inline_button. The game is saved after every action.";
  def.tools = RpgWorld::Tools(world);
  def.resources = RpgWorld::Resources(world);
  return def;
}

}  // namespace naut::envs::rpg

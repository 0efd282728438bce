#pragma once
// The `rpg` tool server: the game of game.h behind the tool surface of the Telethon-based
// Telegram MCP server (list_chats, get_messages, send_message, list_inline_buttons,
// press_inline_button), plus ground truth for the critic (check_goal, reset, save_state,
// load_state, rpg://state, rpg://milestones).
//
// Result shapes follow that server: JSON text for listings, and the same plain sentences for a
// press that finds no message or button ("button_index out of range. Valid indices: 0-3."),
// so prompts and learned skills transfer to a real Telegram chat. Bad presses, unknown chats
// and stale buttons are answers (is_error false); only arguments of the wrong type are
// ToolResult::Error, naming the field.
//
// Persistence: with a state file, every call that changes the game writes the whole state
// atomically (core/files.h) before returning, so a restarted server resumes the same game.
//
// Threads: all methods may be called from any thread; one mutex serialises the game.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/mutex.h"
#include "core/status.h"
#include "envs/rpg/game.h"
#include "mcp/tool.h"

namespace naut::envs::rpg {

class RpgWorld {
 public:
  // Opens the game stored at `state_file`, or starts a new one with `seed` when the file does
  // not exist. An empty path keeps the game in memory only. A stored file that cannot be read
  // as a game is moved aside to "<file>.corrupt" (never deleted) and a new game starts; the
  // reason is in load_note().
  static Result<std::shared_ptr<RpgWorld>> Open(const std::filesystem::path& state_file,
                                                uint64_t seed = 0);

  // The tools and resources. They hold a shared_ptr to this world: the server framework may
  // keep them after the caller drops its own reference.
  static std::vector<mcp::Tool> Tools(const std::shared_ptr<RpgWorld>& world);
  static std::vector<mcp::Resource> Resources(const std::shared_ptr<RpgWorld>& world);

  // The handlers, callable directly (tests, `neuronaut play`).
  mcp::ToolResult ListChats(const Json& args);
  mcp::ToolResult GetMessages(const Json& args);
  mcp::ToolResult SendMessage(const Json& args);
  mcp::ToolResult ListInlineButtons(const Json& args);
  mcp::ToolResult PressInlineButton(const Json& args);
  mcp::ToolResult CheckGoal(const Json& args);
  mcp::ToolResult Reset(const Json& args);
  // The whole game as {"state": ...}, and that answer's state put back (validated as a game).
  mcp::ToolResult SaveState(const Json& args);
  mcp::ToolResult LoadState(const Json& args);

  Json StateJson() const;
  Json MilestonesJson() const;
  // A copy of the game, for tests and the terminal player.
  Game Snapshot() const;
  const std::string& load_note() const { return load_note_; }
  // The last error writing the state file, ok when the last write succeeded.
  Status last_save_status() const;

 private:
  explicit RpgWorld(std::filesystem::path state_file) : state_file_(std::move(state_file)) {}
  void SaveLocked() REQUIRES(mu_);

  const std::filesystem::path state_file_;
  mutable Mutex mu_;
  Game game_ GUARDED_BY(mu_);
  Status last_save_ GUARDED_BY(mu_);
  std::string load_note_;  // written once in Open
};

// The state file's place in a data home.
std::filesystem::path StateFileIn(const std::filesystem::path& data_home_root);

// The `rpg` entry of the built-in server registry: the game stored in config.home's data
// home, as a ServerDefinition for the MCP server framework.
Result<mcp::ServerDefinition> MakeRpgServer(const Config& config);

}  // namespace naut::envs::rpg

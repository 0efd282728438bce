#pragma once
// An environment profile: which MCP server is the world, what the agent observes, which tools
// it may use, how success is checked, and the milestones that seed the curriculum. The same
// agent runs against the built-in RPG simulator or a real Telegram MCP server by switching
// profiles; the model sees the server's tools under a stable prefix (`game__get_messages`)
// whatever the server is called, so prompts and learned skills carry over.
//
// Profiles are TOML files; the built-in `rpg` and `pkg` profiles are examples/profiles/rpg.toml
// and pkg.toml compiled in. The format (every key but environment.name is optional):
//
//   [environment]
//   name = "rpg"                 progress, skills and memories are kept per name
//   description = "..."          what the model is told about the world
//   server = "rpg"               the MCP server that is the world: built in, or a name in mcp.json
//   #servers = ["fs", "exec"]    or several, each seen under its own name (no tool_prefix)
//   chat = "@dungeon_quest_bot"  the chat played in; told to the model, "{chat}" in arguments
//   other_chats = ["@shop_bot"]  "{chat}" in observations: the last of these or chat written to
//   tool_prefix = "game"         the model sees game__<tool>; default: the server's name
//
//   [[observation.calls]]        called before every step, results joined into one observation
//   tool = "get_messages"        (or resource = "rpg://state")
//   arguments = { chat_id = "{chat}", limit = 5 }
//   omit = ["date"]              keys dropped from its JSON result, at any depth
//
//   [actions]
//   allowed_tools = ["list_chats", "press_*"]   globs; default: every tool of the server(s)
//   denied_tools = ["reset"]
//
//   [checker]
//   kind = "tool"                "tool" (a programmatic checker) or "llm" (the LLM critic, the
//                                default when no tool is given)
//   tool = "check_goal"          called as tool(<argument> = <milestone id>)
//   argument = "goal_id"         (default)
//   success_field = "achieved"   (default) a field of the result, or a JSON pointer "/a/b"
//   reset_tool = "reset"         starts the world over; never offered to the actor
//
//   [milestones]
//   resource = "rpg://milestones"   a JSON list of {id, title?, description?}
//   #or [[milestones.items]]        id = "...", title = "...", description = "..."
//
// Tool names in a profile are the server's own names (`check_goal`); with several servers they
// are `<server>__<tool>`. Errors name the file, the line, the key and what was expected;
// unknown keys are errors.
//
// EnvProfile is a plain value; ToolAllowed and the name mappings are pure and thread-safe.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace naut::agent {

// The tool name the agent calls to observe a profile parsed from a file: ProfileToolBox
// answers it by making every [[observation.calls]] entry and joining the results. It holds no
// "__", so no server's tool can have this name, and it is never listed to the model.
inline constexpr std::string_view kObservationTool = "observe";

struct Milestone {
  std::string id;
  std::string description;  // the task the agent is given
  std::string title;        // a short name (may be empty)
};

struct ObservationCall {
  std::string tool;  // as the model sees it: <prefix>__<tool>
  Json arguments = Json::object();
  std::string resource;  // or a resource URI instead of a tool
  // Keys dropped from a JSON result, at any depth, before the model sees it: fields that cost
  // prompt tokens and tell the model nothing (a message's date, a flag the text repeats).
  std::vector<std::string> omit;
  // `arguments` before "{chat}" was replaced by the profile's chat (for other_chats).
  Json arguments_template = Json::object();
};

enum class CheckerKind { kLlm, kTool };

struct EnvProfile {
  std::string name;
  // Told to the model; a profile's chat is appended ("The chat to play in: @x.").
  std::string description;
  std::string source;                // "examples/profiles/rpg.toml", "built-in rpg", ...
  std::vector<std::string> servers;  // the MCP servers that are the world (real names)
  std::string chat;
  // Other chats of the world (a shop that is another bot). The observation follows the chat
  // the agent last talked to, when it is `chat` or one of these, instead of always reading
  // `chat`: the shop is seen once the agent writes to it.
  std::vector<std::string> other_chats;
  std::string tool_prefix;  // set only with a single server; empty: the server's own name
  std::vector<ObservationCall> observation;

  // What the agent loop reads. The parser points observe_tool at kObservationTool when there
  // are observation calls; code that builds a profile by hand may set a tool or resource.
  std::string observe_tool;  // a tool as the model sees it
  Json observe_arguments = Json::object();
  std::string observe_resource;
  std::vector<std::string> allow{"*"};  // globs over tool names as the model sees them
  std::vector<std::string> deny;
  CheckerKind checker_kind = CheckerKind::kLlm;
  std::string checker_tool;  // as the model sees it; empty: the LLM critic judges
  std::string checker_argument = "goal_id";
  // JSON pointer into the checker's structured result (or its text parsed as JSON) whose
  // truthiness is the verdict, e.g. "/achieved".
  std::string checker_success = "/achieved";
  std::string reset_tool;  // as the model sees it; may be empty
  // A tool answering the environment's whole state as JSON ({"state": ...}), and one taking
  // that answer back ({"state": ...}) to put the environment where it was: a new skill is run
  // from the state its task started in to verify it. Both or neither; kept from the actor.
  std::string save_state_tool, load_state_tool;
  std::vector<Milestone> milestones;
  std::string milestones_resource;  // JSON list of {id, title?, description?}, read at start

  bool ToolAllowed(const std::string& name) const;
  // The prefix the model sees for `server`'s tools.
  std::string PrefixFor(const std::string& server) const;
  // "game__press_inline_button" -> "rpg__press_inline_button" (the hub's name); nullopt when
  // the name is not a tool of this profile's servers.
  std::optional<std::string> RealToolName(std::string_view visible) const;
  // The reverse: the hub's "<server>__<tool>" as the model sees it; nullopt for other servers.
  std::optional<std::string> VisibleToolName(std::string_view real) const;
};

// A built-in profile by name ("rpg", "pkg"), else a TOML file at that path.
Result<EnvProfile> LoadProfile(const std::string& name_or_path);
// `source` names the text in errors (a path, or "built-in rpg").
Result<EnvProfile> ParseProfile(const std::string& toml_text, const std::string& source);
std::vector<std::string> BuiltinProfileNames();
// Parses the milestone resource's JSON (a list of {id, title?, description?} or
// {"milestones": [...]}).
Result<std::vector<Milestone>> ParseMilestones(const std::string& json_text,
                                               const std::string& source);

// Replaces "{chat}" in every string of `j`; false when "{chat}" appears but `chat` is empty.
bool SubstituteChat(Json& j, const std::string& chat);

}  // namespace naut::agent

#pragma once
// An environment profile: what the agent observes, which tools it may use, how success is
// checked, and the milestones that seed the curriculum. The same agent runs against the
// built-in RPG simulator or a real Telegram MCP server by switching profiles.
//
// Profiles are TOML files (see examples/profiles/); `rpg` and `pkg` are built in.
//
//   name = "rpg"
//   description = "..."
//   [observe]            tool = "rpg__get_messages"  arguments = { chat_id = "...", limit = 5 }
//                        (or resource = "rpg://state")
//   [tools]              allow = ["rpg__*"]   deny = ["rpg__reset", "rpg__check_goal"]
//   [checker]            tool = "rpg__check_goal"  argument = "goal_id"   (absent: LLM critic)
//   [[milestones]]       id = "reach_level_2"  description = "Reach level 2"
//   (or [milestones_from] resource = "rpg://milestones": a JSON list of {id, description})

#include <filesystem>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/status.h"

namespace naut::agent {

struct Milestone {
  std::string id;
  std::string description;
};

struct EnvProfile {
  std::string name;
  std::string description;
  std::string observe_tool;  // <server>__<tool> whose result is the observation
  Json observe_arguments = Json::object();
  std::string observe_resource;  // or a resource URI
  std::vector<std::string> allow{"*"};  // globs over <server>__<tool>
  std::vector<std::string> deny;
  std::string checker_tool;  // empty: the LLM critic judges
  std::string checker_argument = "goal_id";
  // JSON pointer into the checker's structured result (or its text parsed as JSON) whose
  // truthiness is the verdict, e.g. "/achieved".
  std::string checker_success = "/achieved";
  std::vector<Milestone> milestones;
  std::string milestones_resource;  // JSON list of {id, description}, read at start
  std::vector<std::string> servers;  // MCP servers the profile needs (built-in or in mcp.json)

  bool ToolAllowed(const std::string& name) const;
};

// A built-in profile by name ("rpg", "pkg"), else a TOML file at that path.
Result<EnvProfile> LoadProfile(const std::string& name_or_path);
Result<EnvProfile> ParseProfile(const std::string& toml_text, const std::string& source);
// Parses the milestone resource's JSON (a list of {id, description} or {"milestones": [...]}).
Result<std::vector<Milestone>> ParseMilestones(const std::string& json_text, const std::string& source);

}  // namespace naut::agent

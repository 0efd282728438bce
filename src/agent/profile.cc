#include "agent/profile.h"

#include <toml++/toml.h>

#include "agent/toolbox.h"
#include "core/files.h"

namespace naut::agent {

namespace {

// Built-in profiles. The RPG one plays the built-in game chat; the same profile shape with
// other tool names plays a real Telegram game (examples/profiles/telegram.toml).
constexpr std::string_view kRpgProfile = R"(
name = "rpg"
description = """
A role-playing game played in a Telegram-style chat with a game bot. The bot posts the hero's
stats as text and the possible actions as inline buttons; pressing a button makes the bot answer
and post or edit messages with new buttons. Read the latest messages, press buttons, send bot
commands such as /start, /hero and /inventory. Rest at the inn or use potions before HP runs low:
death costs gold and experience."""
servers = ["rpg"]

[observe]
tool = "rpg__get_messages"
arguments = { chat_id = "@dungeon_quest_bot", limit = 5 }

[tools]
allow = ["rpg__*"]
deny = ["rpg__reset", "rpg__check_goal"]

[checker]
tool = "rpg__check_goal"
argument = "goal_id"
success = "/achieved"

[milestones_from]
resource = "rpg://milestones"
)";

constexpr std::string_view kPkgProfile = R"(
name = "pkg"
description = """
Software packages are built in a workspace with file tools (fs__*) and a sandboxed build and run
tool (exec__*). Each task asks for a package in its own directory of the workspace: write the
sources, a build file and tests, then build and run the tests until they pass."""
servers = ["fs", "exec"]

[tools]
allow = ["fs__*", "exec__*"]

[checker]
tool = "exec__build_package"
argument = "path"
success = "/success"

[[milestones]]
id = "cpp_hello_lib"
description = "In the directory cpp_hello_lib, create a C++ library with a function greet(name) returning \"Hello, <name>!\", a CMake build, and a CTest test that checks it; the tests must pass."

[[milestones]]
id = "py_stats"
description = "In the directory py_stats, create a Python package with functions mean and median and unittest tests for both; the tests must pass."

[[milestones]]
id = "cpp_stack"
description = "In the directory cpp_stack, create a header-only C++ template Stack<T> with push, pop, top and size, a CMake build, and CTest tests covering an empty stack; the tests must pass."
)";

Status Bad(const std::string& source, const toml::node& node, const std::string& what) {
  std::string where = source;
  if (node.source().begin.line > 0) where += ":" + std::to_string(node.source().begin.line);
  return InvalidArgument("profile " + where + ": " + what);
}

Result<std::vector<std::string>> StringList(const toml::node& node, const std::string& key, const std::string& source) {
  const toml::array* arr = node.as_array();
  if (arr == nullptr) return Bad(source, node, key + " must be an array of strings");
  std::vector<std::string> out;
  for (const auto& item : *arr) {
    if (!item.is_string()) return Bad(source, item, key + " must be an array of strings");
    out.push_back(*item.value<std::string>());
  }
  return out;
}

Json TomlToJson(const toml::node& node) {
  if (auto t = node.as_table()) {
    Json j = Json::object();
    for (const auto& [k, v] : *t) j[std::string(k.str())] = TomlToJson(v);
    return j;
  }
  if (auto a = node.as_array()) {
    Json j = Json::array();
    for (const auto& v : *a) j.push_back(TomlToJson(v));
    return j;
  }
  if (node.is_string()) return *node.value<std::string>();
  if (node.is_integer()) return *node.value<int64_t>();
  if (node.is_floating_point()) return *node.value<double>();
  if (node.is_boolean()) return *node.value<bool>();
  return nullptr;
}

}  // namespace

bool EnvProfile::ToolAllowed(const std::string& name) const {
  for (const auto& d : deny) {
    if (GlobMatch(d, name)) return false;
  }
  for (const auto& a : allow) {
    if (GlobMatch(a, name)) return true;
  }
  return false;
}

bool GlobMatch(std::string_view p, std::string_view s) {
  size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == s[si])) {
      ++pi;
      ++si;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

Result<EnvProfile> ParseProfile(const std::string& text, const std::string& source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return InvalidArgument("profile " + source + ":" + std::to_string(e.source().begin.line) +
                           ": malformed TOML: " + std::string(e.description()));
  }
  EnvProfile p;
  p.allow.clear();
  bool allow_given = false;
  for (const auto& [k, node] : root) {
    std::string key(k.str());
    if (key == "name" || key == "description") {
      if (!node.is_string()) return Bad(source, node, key + " must be a string");
      (key == "name" ? p.name : p.description) = *node.value<std::string>();
    } else if (key == "servers") {
      NAUT_ASSIGN_OR_RETURN(p.servers, StringList(node, key, source));
    } else if (key == "observe") {
      const toml::table* t = node.as_table();
      if (t == nullptr) return Bad(source, node, "[observe] must be a table");
      for (const auto& [ok, on] : *t) {
        std::string okey(ok.str());
        if (okey == "tool" && on.is_string()) {
          p.observe_tool = *on.value<std::string>();
        } else if (okey == "resource" && on.is_string()) {
          p.observe_resource = *on.value<std::string>();
        } else if (okey == "arguments" && on.is_table()) {
          p.observe_arguments = TomlToJson(on);
        } else {
          return Bad(source, on, "[observe] " + okey + ": expected tool (string), resource (string) or arguments (table)");
        }
      }
    } else if (key == "tools") {
      const toml::table* t = node.as_table();
      if (t == nullptr) return Bad(source, node, "[tools] must be a table");
      for (const auto& [tk, tn] : *t) {
        std::string tkey(tk.str());
        if (tkey == "allow") {
          NAUT_ASSIGN_OR_RETURN(p.allow, StringList(tn, "[tools] allow", source));
          allow_given = true;
        } else if (tkey == "deny") {
          NAUT_ASSIGN_OR_RETURN(p.deny, StringList(tn, "[tools] deny", source));
        } else {
          return Bad(source, tn, "unknown key [tools] " + tkey + "; expected allow or deny");
        }
      }
    } else if (key == "checker") {
      const toml::table* t = node.as_table();
      if (t == nullptr) return Bad(source, node, "[checker] must be a table");
      for (const auto& [ck, cn] : *t) {
        std::string ckey(ck.str());
        if (!cn.is_string()) return Bad(source, cn, "[checker] " + ckey + " must be a string");
        if (ckey == "tool") {
          p.checker_tool = *cn.value<std::string>();
        } else if (ckey == "argument") {
          p.checker_argument = *cn.value<std::string>();
        } else if (ckey == "success") {
          p.checker_success = *cn.value<std::string>();
        } else {
          return Bad(source, cn, "unknown key [checker] " + ckey + "; expected tool, argument or success");
        }
      }
    } else if (key == "milestones") {
      const toml::array* arr = node.as_array();
      if (arr == nullptr) return Bad(source, node, "milestones must be an array of tables ([[milestones]])");
      for (const auto& item : *arr) {
        const toml::table* t = item.as_table();
        if (t == nullptr || !(*t)["id"].is_string() || !(*t)["description"].is_string()) {
          return Bad(source, item, "each [[milestones]] needs id and description strings");
        }
        p.milestones.push_back({*(*t)["id"].value<std::string>(), *(*t)["description"].value<std::string>()});
      }
    } else if (key == "milestones_from") {
      const toml::table* t = node.as_table();
      if (t == nullptr || !(*t)["resource"].is_string()) {
        return Bad(source, node, "[milestones_from] needs resource = \"<uri>\"");
      }
      p.milestones_resource = *(*t)["resource"].value<std::string>();
    } else {
      return Bad(source, node,
                 "unknown key '" + key +
                     "'; expected name, description, servers, [observe], [tools], [checker], [[milestones]], "
                     "[milestones_from]");
    }
  }
  if (p.name.empty()) return InvalidArgument("profile " + source + ": name is missing");
  if (!allow_given) p.allow = {"*"};
  if (!p.observe_tool.empty() && !p.observe_resource.empty()) {
    return InvalidArgument("profile " + source + ": [observe] takes a tool or a resource, not both");
  }
  return p;
}

Result<EnvProfile> LoadProfile(const std::string& name_or_path) {
  if (name_or_path == "rpg") return ParseProfile(std::string(kRpgProfile), "built-in rpg");
  if (name_or_path == "pkg") return ParseProfile(std::string(kPkgProfile), "built-in pkg");
  std::error_code ec;
  if (!std::filesystem::exists(name_or_path, ec)) {
    return NotFound("environment '" + name_or_path + "' is neither a built-in profile (rpg, pkg) nor a profile file");
  }
  NAUT_ASSIGN_OR_RETURN(std::string text, ReadFile(name_or_path));
  return ParseProfile(text, name_or_path);
}

Result<std::vector<Milestone>> ParseMilestones(const std::string& json_text, const std::string& source) {
  NAUT_ASSIGN_OR_RETURN(Json j, ParseJson(json_text, source));
  if (j.is_object() && j.contains("milestones")) j = j["milestones"];
  if (!j.is_array()) return InvalidArgument(source + ": expected a JSON list of {id, description}");
  std::vector<Milestone> out;
  for (const auto& m : j) {
    auto id = GetString(m, "id", source + " milestone");
    if (!id) return id.error();
    std::string description = GetOptionalString(m, "description").value_or(GetOptionalString(m, "title").value_or(*id));
    out.push_back({*id, description});
  }
  return out;
}

}  // namespace naut::agent

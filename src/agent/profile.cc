#include "agent/profile.h"

#include <toml++/toml.h>

#include <set>

#include "agent/profiles_data.h"
#include "agent/toolbox.h"
#include "core/files.h"
#include "core/toml.h"
#include "core/tool_name.h"

namespace naut::agent {

namespace {

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
  return nullptr;  // dates and times: no tool argument takes one
}

bool HasGlob(std::string_view s) { return s.find_first_of("*?") != std::string_view::npos; }

// A name the model and mcp.json accept: letters, digits, '_' and '-', and no "__" (the
// separator between a prefix and a tool).
bool ValidPrefix(std::string_view s) {
  if (s.empty() || HasToolNameSeparator(s)) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

// Reads one profile file into an EnvProfile. Each method reads one table and returns the first
// problem, located at the offending node.
class ProfileParser {
 public:
  explicit ProfileParser(std::string source) : source_(std::move(source)) {}

  Result<EnvProfile> Parse(const std::string& text) {
    toml::table root;
    try {
      root = toml::parse(text, source_);
    } catch (const toml::parse_error& e) {
      return InvalidArgument(Where(e.source()) +
                             ": malformed TOML: " + std::string(e.description()));
    }
    p_.source = source_;
    p_.allow.clear();
    // [environment] first: the server and prefix decide how every tool name is read.
    const toml::node* env = root.get("environment");
    if (env == nullptr) {
      return InvalidArgument("profile " + source_ +
                             ": [environment] is missing; expected at least name = \"...\" and "
                             "server = \"<MCP server>\"");
    }
    NAUT_RETURN_IF_ERROR(Environment(*env));
    for (const auto& [k, node] : root) {
      std::string key(k.str());
      if (key == "environment") continue;
      const toml::table* t = node.as_table();
      if (key == "observation" || key == "actions" || key == "checker" || key == "milestones") {
        if (t == nullptr)
          return Bad(node, key, "expected a table [" + key + "], got " + TomlTypeName(node));
      }
      if (key == "observation") {
        NAUT_RETURN_IF_ERROR(Observation(*t));
      } else if (key == "actions") {
        NAUT_RETURN_IF_ERROR(Actions(*t));
      } else if (key == "checker") {
        NAUT_RETURN_IF_ERROR(Checker(*t));
      } else if (key == "milestones") {
        NAUT_RETURN_IF_ERROR(Milestones(*t));
      } else {
        return Bad(node, key,
                   "unknown key; expected the tables [environment], [[observation.calls]], "
                   "[actions], [checker], [milestones]");
      }
    }
    if (p_.allow.empty()) {
      for (const auto& s : p_.servers) p_.allow.push_back(JoinToolName(p_.PrefixFor(s), "*"));
    }
    for (const auto* ground_truth : {&p_.reset_tool, &p_.save_state_tool, &p_.load_state_tool}) {
      if (!ground_truth->empty()) p_.deny.push_back(*ground_truth);
    }
    if (p_.save_state_tool.empty() != p_.load_state_tool.empty()) {
      return InvalidArgument("profile " + source_ +
                             ": [checker] save_state_tool and load_state_tool go " +
                             "together (one saves the state a task starts in, the other " +
                             "puts it back to check a new skill)");
    }
    if (!p_.observation.empty()) p_.observe_tool = std::string(kObservationTool);
    return std::move(p_);
  }

 private:
  std::string Where(const toml::source_region& src) const {
    std::string w = "profile " + source_;
    if (src.begin.line > 0) w += ":" + std::to_string(src.begin.line);
    return w;
  }
  Status Bad(const toml::node& node, const std::string& key, const std::string& what) const {
    return InvalidArgument(Where(node.source()) + ": " + key + ": " + what);
  }

  Result<std::string> String(const toml::node& node, const std::string& key) const {
    if (!node.is_string()) return Bad(node, key, "expected a string, got " + TomlTypeName(node));
    return *node.value<std::string>();
  }
  Result<std::vector<std::string>> Strings(const toml::node& node, const std::string& key) const {
    const toml::array* arr = node.as_array();
    if (arr == nullptr)
      return Bad(node, key, "expected an array of strings, got " + TomlTypeName(node));
    std::vector<std::string> out;
    for (const auto& item : *arr) {
      if (!item.is_string())
        return Bad(item, key, "expected an array of strings, found " + TomlTypeName(item));
      out.push_back(*item.value<std::string>());
    }
    return out;
  }

  // A tool named in the profile, as the model will see it. With one server the profile uses
  // the server's own names ("check_goal"); with several, "<server>__<tool>".
  Result<std::string> Tool(const toml::node& node, const std::string& key, const std::string& name,
                           bool glob) const {
    if (name.empty()) return Bad(node, key, "expected a tool name, got an empty string");
    if (!glob && HasGlob(name))
      return Bad(node, key, "\"" + name + "\": expected one tool's name, not a pattern");
    if (p_.servers.size() == 1) {
      std::string visible = JoinToolName(p_.PrefixFor(p_.servers[0]), name);
      if (auto parts = SplitToolName(name)) {
        return Bad(node, key,
                   "\"" + name + "\": expected the server's own tool name (e.g. \"" + parts->tool +
                       "\"), without a prefix; the model sees " + p_.PrefixFor(p_.servers[0]) +
                       "__<tool>");
      }
      return visible;
    }
    if (glob && name == "*") return name;
    auto parts = SplitToolName(name);
    std::string server = parts ? parts->server : "";
    bool known = std::find(p_.servers.begin(), p_.servers.end(), server) != p_.servers.end() ||
                 (glob && HasGlob(server));
    if (!known) {
      std::string list;
      for (const auto& s : p_.servers) list += (list.empty() ? "" : ", ") + s;
      return Bad(node, key,
                 "\"" + name +
                     "\": expected <server>__<tool> naming one of this environment's servers (" +
                     list + ")");
    }
    return name;
  }

  Status Environment(const toml::node& node) {
    const toml::table* t = node.as_table();
    if (t == nullptr)
      return Bad(node, "environment", "expected a table [environment], got " + TomlTypeName(node));
    std::string description;
    const toml::node* servers_node = nullptr;
    const toml::node* prefix_node = nullptr;
    for (const auto& [k, v] : *t) {
      std::string key = "[environment] " + std::string(k.str());
      std::string_view name = k.str();
      if (name == "name") {
        NAUT_ASSIGN_OR_RETURN(p_.name, String(v, key));
        if (p_.name.empty() || p_.name.find_first_of(" \t\n/") != std::string::npos) {
          return Bad(v, key,
                     "expected a short name without spaces or '/', got \"" + p_.name + "\"");
        }
      } else if (name == "description") {
        NAUT_ASSIGN_OR_RETURN(description, String(v, key));
      } else if (name == "server" || name == "servers") {
        if (servers_node != nullptr) {
          return Bad(v, key, "expected server = \"<name>\" or servers = [...], not both");
        }
        servers_node = &v;
        if (name == "server") {
          NAUT_ASSIGN_OR_RETURN(std::string s, String(v, key));
          p_.servers = {s};
        } else {
          NAUT_ASSIGN_OR_RETURN(p_.servers, Strings(v, key));
          if (p_.servers.empty()) return Bad(v, key, "expected at least one server name");
        }
        std::set<std::string> seen;
        for (const auto& s : p_.servers) {
          if (!ValidPrefix(s)) {
            return Bad(
                v, key,
                "\"" + s +
                    "\": expected an MCP server's name (letters, digits, '_', '-', no \"__\")");
          }
          if (!seen.insert(s).second) return Bad(v, key, "\"" + s + "\" is named twice");
        }
      } else if (name == "chat") {
        NAUT_ASSIGN_OR_RETURN(p_.chat, String(v, key));
        if (p_.chat.empty())
          return Bad(v, key, "expected a chat id or @username, got an empty string");
      } else if (name == "other_chats") {
        NAUT_ASSIGN_OR_RETURN(p_.other_chats, Strings(v, key));
      } else if (name == "tool_prefix") {
        prefix_node = &v;
        NAUT_ASSIGN_OR_RETURN(p_.tool_prefix, String(v, key));
        if (!ValidPrefix(p_.tool_prefix)) {
          return Bad(v, key,
                     "\"" + p_.tool_prefix +
                         "\": expected letters, digits, '_' or '-' without \"__\" (e.g. \"game\")");
        }
      } else {
        return Bad(
            v, key,
            "unknown key; expected name, description, server (or servers), chat, other_chats, "
            "tool_prefix");
      }
    }
    if (p_.name.empty())
      return Bad(node, "[environment] name", "missing; expected name = \"<environment name>\"");
    if (servers_node == nullptr) {
      return Bad(node, "[environment] server",
                 "missing; expected server = \"<MCP server>\" (a built-in server such as \"rpg\", "
                 "or a name in "
                 "mcp.json)");
    }
    if (prefix_node != nullptr && p_.servers.size() != 1) {
      return Bad(*prefix_node, "[environment] tool_prefix",
                 "only with a single server = \"...\"; with servers = [...] each server keeps its "
                 "own name");
    }
    p_.description = description;
    if (!p_.chat.empty()) {
      p_.description += std::string(p_.description.empty() ? "" : "\n\n") +
                        "The chat to play in: " + p_.chat + ".";
    }
    return Status::Ok();
  }

  Status Observation(const toml::table& t) {
    for (const auto& [k, v] : t) {
      std::string key = "[observation] " + std::string(k.str());
      if (k.str() != "calls")
        return Bad(v, key, "unknown key; expected [[observation.calls]] entries");
      const toml::array* calls = v.as_array();
      if (calls == nullptr) {
        return Bad(v, "observation.calls",
                   "expected [[observation.calls]] tables, got " + TomlTypeName(v));
      }
      for (const auto& item : *calls) {
        const toml::table* call = item.as_table();
        if (call == nullptr) {
          return Bad(item, "observation.calls",
                     "expected [[observation.calls]] tables, found " + TomlTypeName(item));
        }
        NAUT_RETURN_IF_ERROR(ObservationEntry(*call, item));
      }
    }
    return Status::Ok();
  }

  Status ObservationEntry(const toml::table& call, const toml::node& node) {
    ObservationCall c;
    const toml::node* arguments = nullptr;
    for (const auto& [k, v] : call) {
      std::string key = "[[observation.calls]] " + std::string(k.str());
      if (k.str() == "tool") {
        NAUT_ASSIGN_OR_RETURN(std::string name, String(v, key));
        NAUT_ASSIGN_OR_RETURN(c.tool, Tool(v, key, name, /*glob=*/false));
      } else if (k.str() == "resource") {
        NAUT_ASSIGN_OR_RETURN(c.resource, String(v, key));
        if (c.resource.find("://") == std::string::npos) {
          return Bad(v, key,
                     "\"" + c.resource + "\": expected a resource URI such as \"rpg://state\"");
        }
      } else if (k.str() == "arguments") {
        if (!v.is_table())
          return Bad(v, key,
                     "expected a table such as { chat_id = \"{chat}\" }, got " + TomlTypeName(v));
        arguments = &v;
        c.arguments = TomlToJson(v);
        c.arguments_template = c.arguments;
        if (!SubstituteChat(c.arguments, p_.chat)) {
          return Bad(v, key, "uses \"{chat}\", but [environment] chat is not set");
        }
      } else if (k.str() == "omit") {
        NAUT_ASSIGN_OR_RETURN(c.omit, Strings(v, key));
      } else {
        return Bad(v, key, "unknown key; expected tool, arguments and omit, or resource");
      }
    }
    if (c.tool.empty() == c.resource.empty()) {
      return Bad(node, "[[observation.calls]]",
                 "expected exactly one of tool = \"<tool>\" or resource = \"<uri>\"");
    }
    if (arguments != nullptr && !c.resource.empty()) {
      return Bad(*arguments, "[[observation.calls]] arguments",
                 "only with tool = \"...\", not with resource");
    }
    p_.observation.push_back(std::move(c));
    return Status::Ok();
  }

  Status Actions(const toml::table& t) {
    for (const auto& [k, v] : t) {
      std::string key = "[actions] " + std::string(k.str());
      if (k.str() != "allowed_tools" && k.str() != "denied_tools") {
        return Bad(v, key, "unknown key; expected allowed_tools or denied_tools");
      }
      NAUT_ASSIGN_OR_RETURN(auto names, Strings(v, key));
      auto& out = k.str() == "allowed_tools" ? p_.allow : p_.deny;
      for (const auto& n : names) {
        NAUT_ASSIGN_OR_RETURN(std::string visible, Tool(v, key, n, /*glob=*/true));
        out.push_back(std::move(visible));
      }
      if (k.str() == "allowed_tools" && out.empty()) {
        return Bad(v, key, "is empty, so the agent could do nothing; list the tools it may call");
      }
    }
    return Status::Ok();
  }

  Status Checker(const toml::table& t) {
    const toml::node* kind = nullptr;
    const toml::node* tool_only = nullptr;  // argument or success_field
    for (const auto& [k, v] : t) {
      std::string key = "[checker] " + std::string(k.str());
      std::string_view name = k.str();
      if (name == "kind") {
        kind = &v;
        NAUT_ASSIGN_OR_RETURN(std::string s, String(v, key));
        if (s != "tool" && s != "llm") {
          return Bad(
              v, key,
              "\"" + s + "\": expected \"tool\" (a checking tool) or \"llm\" (the LLM critic)");
        }
        p_.checker_kind = s == "tool" ? CheckerKind::kTool : CheckerKind::kLlm;
      } else if (name == "tool" || name == "reset_tool" || name == "save_state_tool" ||
                 name == "load_state_tool") {
        NAUT_ASSIGN_OR_RETURN(std::string s, String(v, key));
        std::string& field = name == "tool"              ? p_.checker_tool
                             : name == "reset_tool"      ? p_.reset_tool
                             : name == "save_state_tool" ? p_.save_state_tool
                                                         : p_.load_state_tool;
        NAUT_ASSIGN_OR_RETURN(field, Tool(v, key, s, false));
        if (name == "tool") tool_only = tool_only ? tool_only : &v;
      } else if (name == "argument") {
        tool_only = &v;
        NAUT_ASSIGN_OR_RETURN(p_.checker_argument, String(v, key));
        if (p_.checker_argument.empty())
          return Bad(v, key, "expected the argument's name, e.g. \"goal_id\"");
      } else if (name == "success_field") {
        tool_only = &v;
        NAUT_ASSIGN_OR_RETURN(std::string field, String(v, key));
        if (field.empty())
          return Bad(v, key, "expected a field name such as \"achieved\" or a pointer \"/a/b\"");
        p_.checker_success = field[0] == '/' ? field : "/" + field;
        try {
          (void)Json::json_pointer(p_.checker_success);
        } catch (const std::exception& e) {
          return Bad(v, key, "\"" + field + "\" is not a valid JSON pointer: " + e.what());
        }
      } else {
        return Bad(v, key,
                   "unknown key; expected kind, tool, argument, success_field, reset_tool, "
                   "save_state_tool, load_state_tool");
      }
    }
    if (kind == nullptr)
      p_.checker_kind = p_.checker_tool.empty() ? CheckerKind::kLlm : CheckerKind::kTool;
    if (p_.checker_kind == CheckerKind::kTool && p_.checker_tool.empty()) {
      return Bad(kind ? *kind : static_cast<const toml::node&>(t), "[checker] tool",
                 "missing; kind = \"tool\" needs tool = \"<the checking tool>\"");
    }
    if (p_.checker_kind == CheckerKind::kLlm && tool_only != nullptr) {
      return Bad(*tool_only, "[checker]",
                 "tool, argument and success_field are read only with kind = \"tool\"; the LLM "
                 "critic takes none");
    }
    return Status::Ok();
  }

  Status Milestones(const toml::table& t) {
    const toml::node* resource = nullptr;
    const toml::node* items = nullptr;
    for (const auto& [k, v] : t) {
      std::string key = "[milestones] " + std::string(k.str());
      if (k.str() == "resource") {
        resource = &v;
        NAUT_ASSIGN_OR_RETURN(p_.milestones_resource, String(v, key));
        if (p_.milestones_resource.find("://") == std::string::npos) {
          return Bad(v, key,
                     "\"" + p_.milestones_resource +
                         "\": expected a resource URI such as \"rpg://milestones\"");
        }
      } else if (k.str() == "items") {
        items = &v;
        const toml::array* arr = v.as_array();
        if (arr == nullptr)
          return Bad(v, "milestones.items",
                     "expected [[milestones.items]] tables, got " + TomlTypeName(v));
        for (const auto& item : *arr) NAUT_RETURN_IF_ERROR(MilestoneItem(item));
      } else {
        return Bad(v, key, "unknown key; expected resource = \"<uri>\" or [[milestones.items]]");
      }
    }
    if (resource != nullptr && items != nullptr) {
      return Bad(*resource, "[milestones]", "expected resource or [[milestones.items]], not both");
    }
    return Status::Ok();
  }

  Status MilestoneItem(const toml::node& item) {
    const toml::table* m = item.as_table();
    if (m == nullptr)
      return Bad(item, "milestones.items",
                 "expected [[milestones.items]] tables, found " + TomlTypeName(item));
    Milestone out;
    for (const auto& [k, v] : *m) {
      std::string key = "[[milestones.items]] " + std::string(k.str());
      std::string_view name = k.str();
      if (name != "id" && name != "title" && name != "description") {
        return Bad(v, key, "unknown key; expected id, title, description");
      }
      NAUT_ASSIGN_OR_RETURN(std::string s, String(v, key));
      (name == "id" ? out.id : name == "title" ? out.title : out.description) = s;
    }
    if (out.id.empty())
      return Bad(item, "[[milestones.items]] id", "missing; expected id = \"<milestone id>\"");
    if (out.description.empty()) out.description = out.title;
    if (out.description.empty()) {
      return Bad(item, "[[milestones.items]] description",
                 "missing for \"" + out.id +
                     "\"; expected a description (the task the agent is given) or a title");
    }
    for (const auto& seen : p_.milestones) {
      if (seen.id == out.id)
        return Bad(item, "[[milestones.items]] id", "\"" + out.id + "\" is used twice");
    }
    p_.milestones.push_back(std::move(out));
    return Status::Ok();
  }

  std::string source_;
  EnvProfile p_;
};

}  // namespace

bool SubstituteChat(Json& j, const std::string& chat) {
  if (j.is_string()) {
    std::string s = j.get<std::string>();
    bool changed = false;
    for (size_t at = s.find("{chat}"); at != std::string::npos; at = s.find("{chat}", at)) {
      if (chat.empty()) return false;
      s.replace(at, 6, chat);
      at += chat.size();
      changed = true;
    }
    if (changed) j = s;
    return true;
  }
  if (j.is_structured()) {
    for (auto& v : j) {
      if (!SubstituteChat(v, chat)) return false;
    }
  }
  return true;
}

bool EnvProfile::ToolAllowed(const std::string& name) const {
  for (const auto& d : deny) {
    if (GlobMatch(d, name)) return false;
  }
  for (const auto& a : allow) {
    if (GlobMatch(a, name)) return true;
  }
  return false;
}

std::string EnvProfile::PrefixFor(const std::string& server) const {
  return servers.size() == 1 && server == servers[0] && !tool_prefix.empty() ? tool_prefix : server;
}

std::optional<std::string> EnvProfile::RealToolName(std::string_view visible) const {
  auto parts = SplitToolName(visible);
  if (!parts) return std::nullopt;
  for (const auto& s : servers) {
    if (PrefixFor(s) == parts->server) return JoinToolName(s, parts->tool);
  }
  return std::nullopt;
}

std::optional<std::string> EnvProfile::VisibleToolName(std::string_view real) const {
  auto parts = SplitToolName(real);
  if (!parts) return std::nullopt;
  if (std::find(servers.begin(), servers.end(), parts->server) == servers.end())
    return std::nullopt;
  return JoinToolName(PrefixFor(parts->server), parts->tool);
}

Result<EnvProfile> ParseProfile(const std::string& text, const std::string& source) {
  return ProfileParser(source).Parse(text);
}

std::vector<std::string> BuiltinProfileNames() {
  std::vector<std::string> out;
  for (const auto& [name, text] : internal::kBuiltinProfiles) out.emplace_back(name);
  return out;
}

Result<EnvProfile> LoadProfile(const std::string& name_or_path) {
  for (const auto& [name, text] : internal::kBuiltinProfiles) {
    if (name == name_or_path) {
      return ParseProfile(std::string(text), "built-in " + name_or_path + " (examples/profiles/" +
                                                 name_or_path + ".toml)");
    }
  }
  std::error_code ec;
  if (!std::filesystem::exists(name_or_path, ec)) {
    std::string names;
    for (const auto& n : BuiltinProfileNames()) names += (names.empty() ? "" : ", ") + n;
    return NotFound("environment '" + name_or_path + "' is neither a built-in profile (" + names +
                    ") nor a profile file");
  }
  if (std::filesystem::is_directory(name_or_path, ec)) {
    return InvalidArgument("environment '" + name_or_path +
                           "' is a directory; expected a profile .toml file");
  }
  NAUT_ASSIGN_OR_RETURN(std::string text, ReadFile(name_or_path));
  return ParseProfile(text, name_or_path);
}

Result<std::vector<Milestone>> ParseMilestones(const std::string& json_text,
                                               const std::string& source) {
  NAUT_ASSIGN_OR_RETURN(Json j, ParseJson(json_text, source));
  if (j.is_object() && j.contains("milestones")) j = j["milestones"];
  if (!j.is_array())
    return InvalidArgument(source + ": expected a JSON list of {id, title, description}");
  std::vector<Milestone> out;
  for (const auto& m : j) {
    if (!m.is_object())
      return InvalidArgument(source +
                             ": each milestone must be an object {id, title, description}");
    auto id = GetString(m, "id", source + " milestone");
    if (!id) return id.error();
    std::string title = GetOptionalString(m, "title").value_or("");
    std::string description =
        GetOptionalString(m, "description").value_or(title.empty() ? *id : title);
    out.push_back({*id, description, title});
  }
  return out;
}

}  // namespace naut::agent

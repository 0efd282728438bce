#include "envs/skills/skills_server.h"

#include <spdlog/spdlog.h>

#include <mutex>

#include "core/cancel.h"
#include "core/mutex.h"
#include "envs/registry.h"
#include "mcp/hub.h"
#include "mcp/permissions.h"
#include "mcp/server.h"
#include "memory/memory_store.h"
#include "skills/hub_invoker.h"
#include "skills/runtime.h"

namespace naut::envs {

namespace {

using namespace std::chrono_literals;

// How often the server looks for skills stored by other processes.
constexpr auto kPollInterval = 1s;

// What the handlers share; kept alive by the handlers' shared_ptr copies.
struct SkillsServerState {
  Config config;
  Mutex mu;
  std::unique_ptr<memory::MemoryStore> memory PT_GUARDED_BY(mu);
  std::unique_ptr<skills::SkillStore> skills PT_GUARDED_BY(mu);
  std::once_flag hub_once;
  std::unique_ptr<mcp::ClientManager> hub;  // created on the first call
};

// SQLite's count of commits made by other connections to the database: it changes when
// another process (the agent, `neuronaut skills add`) wrote, and costs no table read.
Result<int64_t> DataVersion(memory::MemoryStore& memory) {
  NAUT_ASSIGN_OR_RETURN(auto stmt, memory.db().Prepare("PRAGMA data_version"));
  NAUT_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Internal("PRAGMA data_version returned no row");
  return stmt.ColumnInt(0);
}

// Identifies the served tool set: a skill's row id changes with every new version.
std::string ToolSetKey(const std::vector<skills::Skill>& list) {
  std::string key;
  for (const auto& k : list) key += k.name + "#" + std::to_string(k.id) + ";";
  return key;
}

std::string JsonType(const std::string& annotation) {
  if (annotation == "int") return "integer";
  if (annotation == "float") return "number";
  if (annotation == "str") return "string";
  if (annotation == "bool") return "boolean";
  if (annotation.rfind("list", 0) == 0 || annotation.rfind("List", 0) == 0) return "array";
  if (annotation.rfind("dict", 0) == 0 || annotation.rfind("Dict", 0) == 0) return "object";
  return "";
}

mcp::ToolResult RunSkill(SkillsServerState& state, const std::string& name, const Json& args) {
  // Skills run in the sandbox ([sandbox] mode "isolated" refuses where namespaces are missing;
  // "unisolated" is an explicit opt-out that results report).
  auto runtime_options = skills::SandboxedRuntimeOptions(state.config);
  if (!runtime_options) return mcp::ToolResult::Error(runtime_options.error().message());
  skills::Skill skill;
  {
    MutexLock lock(state.mu);
    auto k = state.skills->Get(name);
    if (!k) return mcp::ToolResult::Error(k.error().message());
    skill = *k;
  }
  std::call_once(state.hub_once, [&] {
    // The servers the agent reaches, resolved as every command resolves them, but this one.
    ResolvedServers resolved = ResolveServers(state.config);
    std::erase_if(resolved.servers, [&](const McpServerConfig& s) {
      return s.name == "skills" && !resolved.Hides("skills");
    });
    state.hub = std::make_unique<mcp::ClientManager>(std::move(resolved.servers),
                                                     mcp::HubOptionsFrom(state.config));
  });
  skills::HubToolInvoker invoker(*state.hub,
                                 mcp::PermissionPolicy::FromConfig(state.config.permissions));
  skills::Runtime runtime(invoker, std::move(*runtime_options));
  skills::RunLimits limits;
  limits.wall = std::chrono::milliseconds(static_cast<int64_t>(state.config.sandbox.wall_s * 1000));
  auto r =
      runtime.Run({.code = skill.code, .entry = skill.name, .arguments = args, .limits = limits});
  if (!r)
    return mcp::ToolResult::Error("skill '" + name + "' could not start: " + r.error().message());
  {
    MutexLock lock(state.mu);
    (void)state.skills->RecordOutcome(
        name, r->ok(), r->traceback.empty() ? r->error : r->error + "\n" + r->traceback);
  }
  Json calls = Json::array();
  for (const auto& c : r->tool_calls) {
    calls.push_back({{"tool", c.tool}, {"arguments", c.arguments}, {"is_error", c.is_error}});
  }
  Json out{{"value", r->value},
           {"output", r->output},
           {"stop", std::string(skills::StopReasonName(r->stop))},
           {"tool_calls", calls},
           {"isolated", r->isolated}};
  if (!r->ok()) {
    out["error"] = r->error;
    if (!r->traceback.empty()) out["traceback"] = r->traceback;
  }
  mcp::ToolResult result = mcp::ToolResult::Text(DumpJson(out));
  result.is_error = !r->ok();
  return result;
}

}  // namespace

Json SkillInputSchema(const skills::Skill& skill) {
  Json props = Json::object();
  Json required = Json::array();
  for (const auto& p : skill.params) {
    Json prop = Json::object();
    std::string type = JsonType(p.annotation);
    if (!type.empty()) prop["type"] = type;
    if (!p.annotation.empty()) prop["description"] = "Python type: " + p.annotation;
    if (p.default_value) {
      prop["description"] = prop.value("description", std::string("")) +
                            (prop.contains("description") ? "; " : "") + "default " +
                            *p.default_value;
    } else {
      required.push_back(p.name);
    }
    props[p.name] = std::move(prop);
  }
  Json schema{{"type", "object"}, {"properties", props}, {"additionalProperties", false}};
  if (!required.empty()) schema["required"] = required;
  return schema;
}

namespace {

std::vector<mcp::Tool> SkillTools(const std::shared_ptr<SkillsServerState>& state,
                                  const std::vector<skills::Skill>& list) {
  std::vector<mcp::Tool> tools;
  for (const auto& k : list) {
    mcp::Tool tool;
    tool.name = k.name;
    tool.title = k.name + " (v" + std::to_string(k.version) + ")";
    tool.description = k.docstring;
    tool.input_schema = SkillInputSchema(k);
    tool.annotations = Json{{"readOnlyHint", false}, {"openWorldHint", true}};
    std::string name = k.name;
    tool.handler = [state, name](const Json& args, mcp::ToolContext&) {
      return RunSkill(*state, name, args);
    };
    tools.push_back(std::move(tool));
  }
  return tools;
}

// Re-reads the skill list whenever another process committed to the database, and replaces
// the served tools (which notifies the sessions) when the set of skills or versions changed.
void WatchSkills(const std::shared_ptr<SkillsServerState>& state, int64_t version, std::string key,
                 mcp::Server& server, std::stop_token stop) {
  while (SleepFor(kPollInterval, stop)) {
    std::vector<skills::Skill> list;
    {
      MutexLock lock(state->mu);
      auto now = DataVersion(*state->memory);
      if (!now) {
        spdlog::warn("skills server: cannot check for new skills: {}", now.error().message());
        continue;
      }
      if (*now == version) continue;
      version = *now;
      auto current = state->skills->Offered();
      if (!current) {
        spdlog::warn("skills server: cannot list skills: {}", current.error().message());
        continue;
      }
      list = std::move(*current);
    }
    std::string next = ToolSetKey(list);
    if (next == key) continue;
    key = std::move(next);
    spdlog::info("skills server: the skill library changed; now serving {} skills", list.size());
    server.SetTools(SkillTools(state, list));
  }
}

}  // namespace

Result<mcp::ServerDefinition> MakeSkillsServer(const Config& config) {
  auto state = std::make_shared<SkillsServerState>();
  state->config = config;
  MutexLock lock(state->mu);
  NAUT_ASSIGN_OR_RETURN(state->memory, memory::OpenMemoryStore(config));
  NAUT_ASSIGN_OR_RETURN(state->skills, skills::SkillStore::Open(
                                           *state->memory, {.skills_dir = config.home / "skills"}));
  // The version first: a skill stored between the two reads is then picked up by the watcher.
  NAUT_ASSIGN_OR_RETURN(int64_t version, DataVersion(*state->memory));
  NAUT_ASSIGN_OR_RETURN(auto list, state->skills->Offered());
  mcp::ServerDefinition def;
  def.name = "neuronaut-skills";
  def.title = "NeuroNaut learned skills";
  def.instructions =
      "Each tool is a Python skill NeuroNaut learned and validated. Calling one runs it; the "
      "result is JSON with its return value, printed output, the tool calls it made and, when "
      "it failed, the error and traceback.";
  def.tools = SkillTools(state, list);
  def.dynamic_tools = true;
  def.watch = [state, version, key = ToolSetKey(list)](mcp::Server& server, std::stop_token stop) {
    WatchSkills(state, version, key, server, stop);
  };
  return def;
}

}  // namespace naut::envs

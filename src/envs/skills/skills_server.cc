#include "envs/skills/skills_server.h"

#include <mutex>

#include "envs/registry.h"
#include "mcp/hub.h"
#include "memory/memory_store.h"
#include "skills/hub_invoker.h"
#include "skills/runtime.h"

namespace naut::envs {

namespace {

// What the handlers share; kept alive by the handlers' shared_ptr copies.
struct SkillsServerState {
  Config config;
  std::mutex mu;  // guards the stores
  std::unique_ptr<memory::MemoryStore> memory;
  std::unique_ptr<skills::SkillStore> skills;
  std::once_flag hub_once;
  std::unique_ptr<mcp::ClientManager> hub;  // created on the first call
};

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
  if (state.config.sandbox.mode != "unisolated") {
    return mcp::ToolResult::Error(
        "skill '" + name +
        "' was not run: the sandbox is not part of this build, and skills run only isolated "
        "unless [sandbox] mode = \"unisolated\" is set explicitly");
  }
  skills::Skill skill;
  {
    std::lock_guard lock(state.mu);
    auto k = state.skills->Get(name);
    if (!k) return mcp::ToolResult::Error(k.error().message());
    skill = *k;
  }
  std::call_once(state.hub_once, [&] {
    std::vector<McpServerConfig> servers = state.config.mcp_servers;
    for (auto& s : BuiltinServerConfigs(state.config)) {
      if (s.name != "skills") servers.push_back(std::move(s));
    }
    state.hub =
        std::make_unique<mcp::ClientManager>(std::move(servers), mcp::HubOptionsFrom(state.config));
  });
  skills::HubToolInvoker invoker(*state.hub);
  skills::Runtime runtime(invoker);
  skills::RunLimits limits;
  limits.wall = std::chrono::milliseconds(static_cast<int64_t>(state.config.sandbox.wall_s * 1000));
  auto r =
      runtime.Run({.code = skill.code, .entry = skill.name, .arguments = args, .limits = limits});
  if (!r)
    return mcp::ToolResult::Error("skill '" + name + "' could not start: " + r.error().message());
  {
    std::lock_guard lock(state.mu);
    (void)state.skills->RecordOutcome(name, r->ok());
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

Result<mcp::ServerDefinition> MakeSkillsServer(const Config& config) {
  auto state = std::make_shared<SkillsServerState>();
  state->config = config;
  NAUT_ASSIGN_OR_RETURN(state->memory, memory::OpenMemoryStore(config));
  NAUT_ASSIGN_OR_RETURN(state->skills, skills::SkillStore::Open(
                                           *state->memory, {.skills_dir = config.home / "skills"}));
  NAUT_ASSIGN_OR_RETURN(auto list, state->skills->List());
  mcp::ServerDefinition def;
  def.name = "neuronaut-skills";
  def.title = "NeuroNaut learned skills";
  def.instructions =
      "Each tool is a Python skill NeuroNaut learned and validated. Calling one runs it; the "
      "result is JSON with its return value, printed output, the tool calls it made and, when "
      "it failed, the error and traceback.";
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
    def.tools.push_back(std::move(tool));
  }
  return def;
}

}  // namespace naut::envs

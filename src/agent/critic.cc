#include "agent/critic.h"

#include <utility>

#include "agent/compaction.h"
#include "llm/json_repair.h"

namespace naut::agent {

std::optional<Json> CheckerResult(const ToolOutcome& outcome) {
  if (outcome.structured) return outcome.structured;
  if (auto parsed = ParseJson(outcome.text, "checker result")) return *parsed;
  return std::nullopt;
}

std::optional<bool> Truthy(const Json& j, const std::string& pointer) {
  try {
    Json::json_pointer p(pointer);
    if (!j.contains(p)) return std::nullopt;
    const Json& v = j.at(p);
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_number()) return v.get<double>() != 0;
    if (v.is_string()) return v.get<std::string>() == "true" || v.get<std::string>() == "yes";
    return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

Verdict ReadCheckerAnswer(const EnvProfile& profile, const Result<ToolOutcome>& answer) {
  if (!answer)
    return {false, "the checker " + profile.checker_tool + " failed: " + answer.error().message(),
            "checker"};
  std::optional<Json> result = CheckerResult(*answer);
  std::optional<bool> ok = result ? Truthy(*result, profile.checker_success) : std::nullopt;
  if (!ok) {
    return {false,
            "the checker's answer has no " + profile.checker_success + ": " +
                OneLine(answer->text, 200),
            "checker"};
  }
  std::string detail =
      result->is_object() ? result->value("detail", result->value("message", "")) : "";
  // A checker without a detail field (a build tool) says what failed in its text.
  if (detail.empty() && !*ok && !answer->text.starts_with("{")) detail = answer->text;
  return {*ok,
          *ok ? ""
              : "the checker " + profile.checker_tool + " says the goal is not reached" +
                    (detail.empty() ? "" : ": " + Truncate(detail, 1500, "checker output")),
          "checker"};
}

Verdict ReadLlmVerdict(const std::string& answer) {
  auto parsed = llm::ParseJsonLenient(answer);
  if (!parsed || !parsed->is_object() || !(*parsed)["success"].is_boolean()) {
    return {false, "the critic's answer was not a verdict: " + OneLine(answer, 200), "llm critic"};
  }
  return {(*parsed)["success"].get<bool>(), parsed->value("critique", ""), "llm critic"};
}

Critic::Critic(EnvProfile profile, CriticKind kind, ToolBox& tools,
               std::chrono::milliseconds tool_timeout, LoopAccess access)
    : profile_(std::move(profile)),
      kind_(kind),
      tools_(tools),
      tool_timeout_(tool_timeout),
      access_(std::move(access)) {}

bool Critic::HasCheckerFor(const TaskRecord& task) const {
  return !profile_.checker_tool.empty() && !task.milestone.empty() && kind_ == CriticKind::kChecker;
}

Verdict Critic::Verify(const TaskRecord& task, const std::vector<std::string>& round_steps) {
  return HasCheckerFor(task) ? AskChecker(task) : AskModel(task, round_steps);
}

Verdict Critic::Judge(const TaskRecord& task, const std::vector<std::string>& round_steps) {
  Verdict verdict = Verify(task, round_steps);
  access_.emit(
      "critic",
      {{"success", verdict.success}, {"critique", verdict.critique}, {"source", verdict.source}});
  return verdict;
}

bool Critic::AlreadyAchieved(const TaskRecord& task) {
  return HasCheckerFor(task) && AskChecker(task).success;
}

bool Critic::CheckerConfirms(const std::string& id) {
  if (profile_.checker_tool.empty()) return false;
  auto r = tools_.CallTool(profile_.checker_tool, Json{{profile_.checker_argument, id}},
                           tool_timeout_, {});
  if (!r) return false;
  std::optional<Json> result = CheckerResult(*r);
  return result && Truthy(*result, profile_.checker_success) == true;
}

Verdict Critic::AskChecker(const TaskRecord& task) {
  Json args = {{profile_.checker_argument, task.milestone}};
  return ReadCheckerAnswer(profile_,
                           tools_.CallTool(profile_.checker_tool, args, tool_timeout_, {}));
}

Verdict Critic::AskModel(const TaskRecord& task, const std::vector<std::string>& round_steps) {
  // The LLM critic judges from the final state.
  std::string actions;
  size_t from = round_steps.size() > kCriticSteps ? round_steps.size() - kCriticSteps : 0;
  for (size_t i = from; i < round_steps.size(); ++i) actions += "- " + round_steps[i] + "\n";
  auto prompt = access_.prompt("critic", {{"task", task.description},
                                          {"state", access_.observe()},
                                          {"actions", actions.empty() ? "(none)" : actions}});
  if (!prompt) return {false, prompt.error().message(), "llm critic"};
  llm::ResponseFormat format;
  format.type = llm::ResponseFormat::Type::kJsonSchema;
  format.name = "verdict";
  format.schema = Json::parse(R"({"type": "object", "properties": {"reasoning": {"type": "string"},
      "success": {"type": "boolean"}, "critique": {"type": "string"}}, "required": ["reasoning", "success", "critique"]})");
  auto answer = AskForJson(access_, *prompt, format);
  if (!answer)
    return {false, "the critic could not be asked: " + answer.error().ToString(), "llm critic"};
  return ReadLlmVerdict(answer->content);
}

}  // namespace naut::agent

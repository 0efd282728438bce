#include "agent/skill_writer.h"

#include <algorithm>

namespace naut::agent {

std::optional<std::string> ExtractPythonBlock(const std::string& text) {
  for (const char* fence : {"```python", "```py\n", "```Python"}) {
    size_t start = text.find(fence);
    if (start == std::string::npos) continue;
    size_t body = text.find('\n', start);
    if (body == std::string::npos) return std::nullopt;
    // The closing fence starts a line: a "```" inside the code (a comment quoting the prompt,
    // a string) does not end it.
    size_t end = text.find("```", body + 1);
    while (end != std::string::npos && text[end - 1] != '\n') end = text.find("```", end + 3);
    std::string code =
        text.substr(body + 1, end == std::string::npos ? std::string::npos : end - body - 1);
    return code;
  }
  return std::nullopt;
}

std::optional<std::string> ExtractBareToolCode(const std::string& text,
                                               const std::vector<std::string>& tool_names) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return std::nullopt;
  std::string_view rest = std::string_view(text).substr(begin);
  for (std::string_view prefix : {"print(", "result = "}) {
    if (rest.starts_with(prefix)) rest.remove_prefix(prefix.size());
  }
  if (rest.starts_with("tools.")) rest.remove_prefix(6);
  const bool calls_a_tool = std::any_of(tool_names.begin(), tool_names.end(), [&](const auto& n) {
    return rest.starts_with(n) && rest.substr(n.size()).starts_with("(");
  });
  if (!calls_a_tool) return std::nullopt;
  size_t end = text.find("\n\n", begin);
  std::string code = text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
  return code + "\n";
}

SkillWriter::SkillWriter(SkillLibrary* skills, std::string env, int skills_top_k, LoopAccess access)
    : skills_(skills),
      env_(std::move(env)),
      skills_top_k_(skills_top_k),
      access_(std::move(access)) {}

std::string SkillWriter::Learn(const std::string& task,
                               const std::vector<std::string>& successful_actions) {
  if (skills_ == nullptr) {
    access_.emit("skill",
                 {{"status", "unavailable"},
                  {"reason", "no skill library in this run (--no-skills, or none set up)"}});
    return "";
  }
  auto existing = skills_->SkillForTask(task, env_);
  if (existing && existing->has_value()) {
    access_.emit(
        "skill",
        {{"status", "kept"}, {"name", **existing}, {"reason", "already learned for this task"}});
    return **existing;
  }
  std::string actions;
  for (const auto& a : successful_actions) actions += a + "\n";
  std::string names;
  if (auto known = skills_->Retrieve(task, env_, skills_top_k_)) {
    for (const auto& s : *known) names += (names.empty() ? "" : ", ") + s.name;
  }
  auto prompt =
      access_.prompt("skill_writer", {{"task", task},
                                      {"actions", actions.empty() ? "(none recorded)" : actions},
                                      {"skill_names", names.empty() ? "(none)" : names}});
  if (!prompt) return "";
  std::vector<llm::Message> messages = {llm::Message::User(*prompt)};
  for (int attempt = 0; attempt < kSkillAttempts; ++attempt) {
    auto answer = access_.ask_model(messages, {});
    if (!answer) {
      access_.emit("skill", {{"status", "failed"}, {"reason", answer.error().ToString()}});
      return "";
    }
    std::string code = ExtractPythonBlock(answer->content).value_or(answer->content);
    auto added = skills_->Add(code, task, env_);
    if (added) {
      access_.emit("skill", {{"status", "learned"}, {"name", *added}});
      return *added;
    }
    access_.emit("skill", {{"status", "refused"}, {"reason", added.error().message()}});
    messages.push_back(llm::Message::Assistant(answer->content));
    messages.push_back(
        llm::Message::User("That skill was refused: " + added.error().message() +
                           "\nWrite it again, fixing that. One ```python block only."));
  }
  return "";
}

}  // namespace naut::agent

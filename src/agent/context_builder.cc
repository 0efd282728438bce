#include "agent/context_builder.h"

#include <algorithm>

#include "core/json.h"

namespace naut::agent {

int64_t EstimateTokens(std::string_view text) {
  return static_cast<int64_t>(text.size() / kCharsPerToken + 1);
}

int64_t PromptBudget::FixedTokens(std::string_view system_prompt,
                                  const std::vector<llm::ToolSpec>& tools) const {
  // The tools list's own framing is counted as the size of its length written out: a token.
  int64_t fixed = EstimateTokens(system_prompt) + EstimateTokens(DumpJson(Json(tools.size()))) +
                  answer_reserve_tokens;
  for (const auto& t : tools)
    fixed += EstimateTokens(t.name + t.description + DumpJson(t.parameters));
  return fixed;
}

int64_t PromptBudget::FreeChars(int64_t fixed_tokens) const {
  return std::max<int64_t>((context_tokens - fixed_tokens) * kCharsPerToken, min_free_chars);
}

size_t PromptBudget::ObservationChars(int64_t free_chars) const {
  return static_cast<size_t>(free_chars / observation_share);
}
size_t PromptBudget::SkillsChars(int64_t free_chars) const {
  return static_cast<size_t>(free_chars / skills_share);
}
size_t PromptBudget::MemoriesChars(int64_t free_chars) const {
  return static_cast<size_t>(free_chars / memories_share);
}
size_t PromptBudget::FeedbackChars(int64_t free_chars) const {
  return static_cast<size_t>(free_chars / feedback_share);
}

size_t PromptBudget::ToolOutputChars() const {
  return static_cast<size_t>(std::max<int64_t>(context_tokens * kCharsPerToken / tool_output_share,
                                               min_tool_output_chars));
}

size_t PromptBudget::AfterActionChars() const {
  return ToolOutputChars() / static_cast<size_t>(after_action_share);
}

int PromptBudget::MaxAnswerTokens() const {
  return static_cast<int>(
      std::min<int64_t>(max_answer_tokens, context_tokens / answer_context_share));
}

std::vector<std::string> ActionStops(std::string_view observation) {
  std::vector<std::string> stops = {"<tool_response>", "The observation now:"};
  // A labelled observation ("[game__get_messages({...})]", several calls joined) is recognised
  // by its first label; plain text is not: its first line may be anything.
  if (observation.starts_with("[")) {
    size_t end = observation.find_first_of(" (]\n");
    if (end != std::string_view::npos && end > 1) stops.emplace_back(observation.substr(0, end));
  }
  return stops;
}

std::string SkillSignature(const std::string& code, const std::string& name) {
  size_t def = code.find("def " + name + "(");
  if (def == std::string::npos) return name + "(...)";
  size_t open = def + 4 + name.size();
  size_t close = code.find(')', open);
  size_t eol = code.find('\n', open);
  if (close == std::string::npos || (eol != std::string::npos && close > eol))
    return name + "(...)";
  return name + OneLine(code.substr(open, close - open + 1), 200);
}

ActorContext BuildActorContext(const PromptBudget& budget, const ActorMaterial& material) {
  ActorContext context;
  const int64_t free_chars =
      budget.FreeChars(budget.FixedTokens(material.system_prompt, material.tools));
  context.observation =
      Truncate(material.observation, budget.ObservationChars(free_chars), "observation");

  const size_t skills_cap = budget.SkillsChars(free_chars);
  for (const auto& s : material.skills) {
    if (s.similarity < material.skills_min_similarity) {
      // Not shown (it would lead the model astray) but defined, for the skills that call it.
      context.skills_code += s.code + "\n\n";
      continue;
    }
    // A draft is shown as one, with why its check failed; a verified skill says so.
    std::string label = s.verification == "verified" ? " (verified)"
                        : s.verification == "draft"
                            ? " (draft: its check failed: " + OneLine(s.check, 160) + ")"
                            : "";
    std::string entry =
        "- " + SkillSignature(s.code, s.name) + ": " + OneLine(s.description, 300) + label + "\n";
    if (context.skills_text.size() + entry.size() > skills_cap) break;  // trimmed to fit
    context.skills_text += entry;
    context.skills_code += s.code + "\n\n";
    context.offered_skills.push_back(s.name);
  }

  const size_t memories_cap = budget.MemoriesChars(free_chars);
  for (const auto& m : material.memories) {
    // Long enough for a success's steps (a worked example), short enough for several.
    std::string entry = "- " + OneLine(m, 1200) + "\n";
    if (context.memories_text.size() + entry.size() > memories_cap) break;
    context.memories_text += entry;
  }

  context.feedback =
      CompactEarlierRounds(material.earlier_rounds, budget.FeedbackChars(free_chars));
  return context;
}

}  // namespace naut::agent

#pragma once
// The critic: whether a task is done. Where the profile names a checker tool and the task is a
// milestone, the checker is asked (tool(<argument> = <milestone id>)) and the truthiness of its
// answer's success field is the verdict, its detail the critique. Elsewhere, or when the run
// asks for it (--critic llm), the model judges from the observation and the round's last steps,
// answering {reasoning, success, critique}. A verdict is always a value: a checker that fails or
// a model that does not answer is a failed verdict whose critique says why.
//
// Called on the agent loop's thread only; the borrowed ToolBox must outlive the Critic.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "agent/loop_access.h"
#include "agent/profile.h"
#include "agent/progress.h"
#include "agent/toolbox.h"

namespace naut::agent {

// Who judges a task: the environment's checker tool where the profile names one, or the model
// (the LLM critic) even where it does; the learning benchmark compares the two.
enum class CriticKind { kChecker, kLlm };

struct Verdict {
  bool success = false;
  std::string critique;  // what is missing; empty on success
  std::string source;    // "checker" | "llm critic"
};

// A checker's answer as JSON: its structured content, else its text parsed.
std::optional<Json> CheckerResult(const ToolOutcome& outcome);

// Truthiness of the JSON value at `pointer` (e.g. "/achieved"): a boolean, a non-zero number,
// "true" or "yes". Nothing when the pointer is invalid or names nothing, or another type.
std::optional<bool> Truthy(const Json& j, const std::string& pointer);

// The verdict in the answer of `profile`'s checker tool (or in its failure). The critique quotes
// the answer's "detail" (else "message") field, else, for a checker that answers in plain text (a
// build tool), the text itself.
Verdict ReadCheckerAnswer(const EnvProfile& profile, const Result<ToolOutcome>& answer);

// The verdict in the LLM critic's answer: a JSON object with a boolean "success", read leniently.
// Anything else is a failed verdict saying so.
Verdict ReadLlmVerdict(const std::string& answer);

// How many of the round's latest steps the LLM critic is shown.
inline constexpr size_t kCriticSteps = 8;

class Critic {
 public:
  Critic(EnvProfile profile, CriticKind kind, ToolBox& tools,
         std::chrono::milliseconds tool_timeout, LoopAccess access);

  // Whether the checker tool judges `task` (else the model does).
  bool HasCheckerFor(const TaskRecord& task) const;

  // The verdict on `task`; `round_steps` are the current round's steps (the LLM critic is shown
  // the last kCriticSteps of them).
  Verdict Verify(const TaskRecord& task, const std::vector<std::string>& round_steps);
  // Verify, and the verdict reported (event "critic").
  Verdict Judge(const TaskRecord& task, const std::vector<std::string>& round_steps);

  // Whether the checker already finds `task` achieved (a resumed task, a milestone reached by an
  // earlier task). Only the checker knows the world's state: false wherever the model judges.
  bool AlreadyAchieved(const TaskRecord& task);

  // Whether the checker confirms milestone `id`, whoever judges tasks: the run's measurement
  // (milestone_reached). False without a checker tool, or when it fails.
  bool CheckerConfirms(const std::string& id);

 private:
  Verdict AskChecker(const TaskRecord& task);
  Verdict AskModel(const TaskRecord& task, const std::vector<std::string>& round_steps);

  EnvProfile profile_;
  CriticKind kind_;
  ToolBox& tools_;
  std::chrono::milliseconds tool_timeout_;
  LoopAccess access_;
};

}  // namespace naut::agent

#pragma once
// The agent loop (Voyager-style): the curriculum picks a task, the actor works it over up to
// max_rounds rounds of model turns and tool calls (or Python code actions), the critic checks
// the environment (its checker tool, else an LLM judge), and a verified success becomes a
// stored skill. Progress, traces and episodes are written as each step happens, so a run that
// is killed resumes where it stopped: the task left active is retried, nothing done is redone.
//
// Threads: an Agent runs on the thread that calls Run(); every collaborator is called from
// that thread only. Stop it by requesting stop on the token passed to Run().

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <vector>

#include "agent/profile.h"
#include "agent/progress.h"
#include "agent/rails.h"
#include "agent/toolbox.h"
#include "agent/trace.h"
#include "core/status.h"
#include "llm/chat.h"
#include "mcp/permissions.h"

namespace naut::agent {

// [permissions] for the agent's direct calls and code actions: the one policy every path to a
// tool goes through (mcp/permissions.h), also read for a ToolInfo.
struct PermissionPolicy : mcp::PermissionPolicy {
  using mcp::PermissionPolicy::Decide;
  Decision Decide(const ToolInfo& tool, std::string* reason) const {
    return Decide(tool.spec.name, tool.destructive, reason);
  }
};

// Who judges a task: the environment's checker tool where the profile names one, or the model
// (the LLM critic) even where it does; the learning benchmark compares the two.
enum class CriticKind { kChecker, kLlm };
// Where tasks come from: the automatic curriculum (the milestones in order, skipping those that
// keep failing and those already reached, then tasks the model proposes) or a fixed list (the
// milestones in order, each retried until reached, nothing skipped, nothing proposed).
enum class CurriculumKind { kAuto, kFixed };

struct AgentOptions {
  std::string run_id;
  Json run_info = Json::object();  // written into the run_start event (model, seed, variant)
  std::string goal;   // --goal: decomposed into sub-goals and pursued instead of the curriculum
  int max_tasks = 0;  // 0: until the curriculum has nothing left or stop is requested
  int max_rounds = 4;
  int max_steps_per_round = 8;  // model turns within one round
  BudgetLimits task_limits;
  std::chrono::milliseconds tool_timeout{60'000};
  std::chrono::milliseconds code_timeout{60'000};
  int skills_top_k = 5;
  double skills_min_similarity = -1;  // skills less similar to the task are not offered
  int memories_top_k = 5;
  int64_t context_tokens = 8192;  // the model's context size
  int skip_after_failures = 3;    // a milestone that failed this often is skipped
  CriticKind critic = CriticKind::kChecker;
  CurriculumKind curriculum = CurriculumKind::kAuto;
  PermissionPolicy permissions;
  std::filesystem::path prompt_dir;  // overrides of the built-in prompts
  llm::Sampling sampling;
};

// Everything the loop reports, as (type, fields); also written to the run's trace.
using EventSink = std::function<void(const std::string& type, const Json& fields)>;

struct TaskOutcome {
  bool success = false;
  std::string reason;  // the critique, or the rail / error that ended the task
  int rounds = 0;
  int model_calls = 0;
  std::string skill;  // learned or reused
};

struct RunSummary {
  int tasks = 0, done = 0, failed = 0;
  int model_calls = 0, tool_calls = 0;
  int64_t prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  std::string stop_reason;
  bool error = false;  // the run stopped because something failed (model unreachable, ...)
};

class Agent {
 public:
  // Collaborators are borrowed and must outlive the Agent. `skills`, `memory` and `code` may
  // be null: learning, recall or code actions are then reported as unavailable.
  Agent(llm::ChatModel& model, ToolBox& tools, ProgressStore& progress, TraceWriter& trace,
        EnvProfile profile, AgentOptions options, SkillLibrary* skills, EpisodeMemory* memory,
        CodeRunner* code, EventSink sink = {});

  Result<RunSummary> Run(std::stop_token stop);

 private:
  struct Round;
  struct TaskState;

  Status Prepare();
  Result<std::optional<TaskRecord>> NextTask(std::stop_token stop);
  Result<TaskOutcome> RunTask(TaskRecord& task, std::stop_token stop);
  Result<bool> AlreadyAchieved(const TaskRecord& task);
  // Asks the checker about every milestone not yet seen reached and reports each newly reached
  // one (event "milestone_reached", with the calls and tokens spent so far). This measures the
  // run; the agent's own beliefs (its critic, its curriculum) are not touched by it.
  void SweepMilestones();
  std::string Observe();
  // "The observation now: ..." to follow the result of an action, or nothing when the
  // environment has no observation.
  std::string ObservationAfterActing();
  // Why a call of `name` may not run (unknown tool, permission policy, the user said no), or
  // nothing when it may.
  std::optional<std::string> Refusal(const std::string& name, const Json& arguments);
  // One tool call as the model asked for it; fills the tool message text.
  ToolOutcome ExecuteCall(const llm::ToolCall& call, TaskState& state);
  std::optional<std::string> RunCodeAction(const std::string& code, TaskState& state,
                                           std::string* result_text);
  struct Verdict {
    bool success = false;
    std::string critique;
    std::string source;  // "checker" | "llm critic"
  };
  Verdict Verify(const TaskRecord& task, const TaskState& state);
  // Verify, and the verdict reported (event "critic").
  Verdict Judge(const TaskRecord& task, const TaskState& state);
  // Whether the environment's checker tool judges `task` (else the LLM critic does).
  bool HasCheckerFor(const TaskRecord& task) const;
  std::string LearnSkill(const TaskRecord& task, const TaskState& state);
  llm::ChatResult CallModel(std::vector<llm::Message> messages, bool with_tools, TaskState* state,
                            const llm::ResponseFormat& format = {});
  Result<std::string> Prompt(const std::string& name,
                             const std::map<std::string, std::string>& values);
  void Emit(const std::string& type, Json fields);
  size_t ToolOutputCap() const;

  llm::ChatModel& model_;
  ToolBox& tools_;
  ProgressStore& progress_;
  TraceWriter& trace_;
  EnvProfile profile_;
  AgentOptions options_;
  SkillLibrary* skills_;
  EpisodeMemory* memory_;
  CodeRunner* code_;
  EventSink sink_;

  std::vector<ToolInfo> tool_infos_;  // allowed tools
  std::vector<llm::ToolSpec> tool_specs_;
  std::vector<std::string> goal_queue_;
  std::vector<std::string> milestone_ids_;  // in curriculum order
  std::set<std::string> reached_;           // milestones the checker has confirmed in this run
  std::chrono::steady_clock::time_point started_;
  RunSummary summary_;
};

// The first ```python (or ```py) fenced block of `text`, if any.
std::optional<std::string> ExtractPythonBlock(const std::string& text);

}  // namespace naut::agent

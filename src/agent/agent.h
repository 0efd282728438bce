#pragma once
// The agent loop (Voyager-style), which ties the roles together: the curriculum picks a task
// (curriculum.h), the actor works it over up to max_rounds rounds of model turns and tool calls
// (or Python code actions) with a prompt fitted to the context (context_builder.h, compaction.h),
// the critic checks the environment (critic.h: its checker tool, else an LLM judge), and a
// verified success becomes a stored skill (skill_writer.h). The actor itself, and the counting
// of every model and tool call, live here. Progress, traces and episodes are written as each step
// happens, so a run that is killed resumes where it stopped: the task left active is retried,
// nothing done is redone.
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

#include "agent/compaction.h"
#include "agent/consolidation.h"
#include "agent/context_builder.h"
#include "agent/critic.h"
#include "agent/curriculum.h"
#include "agent/knowledge.h"
#include "agent/loop_access.h"
#include "agent/profile.h"
#include "agent/progress.h"
#include "agent/rails.h"
#include "agent/reflection.h"
#include "agent/skill_writer.h"
#include "agent/toolbox.h"
#include "agent/trace.h"
#include "core/status.h"
#include "llm/chat.h"
#include "llm/tool_calls.h"
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
  int64_t context_tokens = 8192;  // the model's context size: PromptBudget shares it out
  int skip_after_failures = 3;    // a milestone that failed this often is skipped
  CriticKind critic = CriticKind::kChecker;
  CurriculumKind curriculum = CurriculumKind::kAuto;
  ReflectWhen reflect = ReflectWhen::kFailures;  // memory replay (reflection.h)
  // A skill is first tried as a replay of the task's calls (SkillWriter::Learn).
  bool replay_skills = true;
  // Skill consolidation (consolidation.h) after every this many tasks done; 0: never.
  int consolidate_every = 0;
  ConsolidationOptions consolidation;
  PermissionPolicy permissions;
  std::filesystem::path prompt_dir;  // overrides of the built-in prompts
  llm::Sampling sampling;
};

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
  // The roles hold callbacks into this Agent: it stays where it was made.
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  Result<RunSummary> Run(std::stop_token stop);
  // One pass of skill consolidation now (`neuronaut skills consolidate`); `dry_run` only finds
  // the groups. Errors when the run has no skill library, code actions or state tools.
  Result<std::vector<Consolidation>> Consolidate(bool dry_run = false);
  // Keeps world knowledge in the knowledge-graph server `server` reached through `tools`
  // (knowledge.h): facts learned after each task, the relevant ones read into the observation.
  void UseKnowledgeGraph(ToolBox& tools, const std::string& server);

 private:
  struct TaskState;
  struct RoundState;
  // How a round ended: a rail ended the task (`failure`), else the critic's verdict.
  struct RoundEnd {
    std::optional<std::string> failure;
    Verdict verdict;
  };
  enum class StepEnd { kNextStep, kRoundOver };

  // Run's steps: the run_start event, the tools and milestones (Prepare), the goal's sub-goals;
  // then tasks until a stop (TaskLoop says why it stopped); then the run's end recorded.
  Status StartRun();
  Status Prepare();
  std::string TaskLoop(std::stop_token stop);
  void FinishRun(const std::string& stop_reason, std::stop_token stop);

  // RunTask's steps: rounds until the critic is satisfied, a rail ends the task, or max_rounds.
  Result<TaskOutcome> RunTask(TaskRecord& task, std::stop_token stop);
  Result<RoundEnd> RunRound(const TaskRecord& task, TaskState& state, std::stop_token stop);
  // The round's opening messages (system, task prompt) from the context builder.
  Result<std::vector<llm::Message>> RoundPrompt(const TaskRecord& task, TaskState& state);
  // One model answer acted on: tool calls run, a code action run and judged, a correction or a
  // claim of success answered. Appends what the model sees next to `messages`.
  StepEnd TakeStep(const TaskRecord& task, const llm::ChatResponse& answer,
                   const llm::ToolCallParser& parser, std::vector<llm::Message>& messages,
                   TaskState& state, RoundState& round);
  // TakeStep's cases: the calls the model made; a code action; an answer with neither (empty,
  // or a claim that the task is done).
  void RunToolCalls(const llm::ParsedToolCalls& parsed, std::vector<llm::Message>& messages,
                    TaskState& state);
  StepEnd RunCodeStep(const TaskRecord& task, const std::string& code,
                      std::vector<llm::Message>& messages, TaskState& state, RoundState& round);
  StepEnd AnswerClaim(const TaskRecord& task, const std::string& answer,
                      std::vector<llm::Message>& messages, TaskState& state, RoundState& round);
  // The parser's correction sent to the model, reported and logged as a step.
  void Correct(const llm::ParsedToolCalls& parsed, std::vector<llm::Message>& messages,
               TaskState& state);
  // The task's end recorded: episode, skill outcomes, progress, milestone, event "task_end".
  Result<TaskOutcome> FinishTask(const TaskRecord& task, TaskState& state, bool success,
                                 const std::string& reason, const std::string& skill);

  // A new skill checked (skill_writer.h's SkillChecker): the environment put back to the
  // state the task started in (saved by SaveStartState with the profile's save_state_tool),
  // `name()` run as a code action, the checker asked, the environment put back to now. A pass
  // is kept as the skill's case (skills::SkillCase) for consolidation to check on.
  void SaveStartState(const TaskRecord& task, TaskState& state);
  SkillCheck CheckSkill(const TaskRecord& task, const TaskState& state, const std::string& name,
                        const std::string& code);
  // CheckSkill's run: `call` with `definitions` (skill sources) from `start`, judged on `task`.
  SkillCheck RunFromState(const Json& start, const TaskRecord& task, const std::string& label,
                          const std::string& definitions, const std::string& call);
  // Why consolidation cannot run here, or nothing.
  std::optional<std::string> CannotConsolidate() const;
  Result<Json> SaveState();
  Status LoadState(const Json& saved);

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
  // What a code action's run is reported as to the model, with the loop rail's count of the
  // same code failing (or calling no tool) again updated.
  std::string DescribeCodeRun(const std::string& code, const CodeOutcome& run, TaskState& state);
  llm::ChatResult CallModel(std::vector<llm::Message> messages, bool with_tools, TaskState* state,
                            const llm::ResponseFormat& format = {});
  Result<std::string> Prompt(const std::string& name,
                             const std::map<std::string, std::string>& values);
  void Emit(const std::string& type, Json fields);
  // What the roles reach the model, the prompts, the observation and the events through.
  LoopAccess Access();

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
  PromptBudget budget_;
  Critic critic_;
  Curriculum curriculum_;
  SkillWriter skill_writer_;
  std::optional<Reflector> reflector_;  // with a memory
  std::optional<KnowledgeGraph> knowledge_;

  std::vector<ToolInfo> tool_infos_;  // allowed tools
  std::vector<llm::ToolSpec> tool_specs_;
  std::vector<std::string> tool_names_;     // of tool_specs_
  std::vector<std::string> action_stops_;   // ActionStops of the round's observation
  std::vector<std::string> milestone_ids_;  // in curriculum order
  std::set<std::string> reached_;           // milestones the checker has confirmed in this run
  std::chrono::steady_clock::time_point started_;
  RunSummary summary_;
};

}  // namespace naut::agent

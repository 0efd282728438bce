#include "agent/agent.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "agent/prompts.h"
#include "core/ids.h"
#include "skills/skill_store.h"

namespace naut::agent {

namespace {

using Clock = std::chrono::steady_clock;

// The last non-empty line of `text` (a traceback ends with what went wrong), on one line.
std::string LastLine(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  const size_t nl = text.rfind('\n');
  return OneLine(nl == std::string::npos ? text : text.substr(nl + 1), 300);
}

// A code action failing the same way this many times in a row ends the task (the loop rail).
constexpr int kSameCodeFailuresToStop = 3;

// What an episode keeps of a task's steps, in characters.
constexpr size_t kEpisodeChars = 4000;
// The knowledge graph's facts read into the observation, in characters.
constexpr size_t kKnowledgeChars = 1200;

constexpr const char* kEmptyAnswerCorrection =
    "Your answer was empty. The task is not done yet: read the observation and the last tool "
    "result, then call a tool or write one ```python code action. If you are sure the task is "
    "done, say so in one short sentence.";

// One tool call as the model is shown it, "call(args)  # answer": a model that copies the line
// copies valid Python.
std::string CallLine(const std::string& tool, const Json& arguments, bool is_error,
                     const std::string& answer, size_t arguments_cap, size_t answer_cap) {
  return tool + "(" + OneLine(DumpJson(arguments), arguments_cap) + ")  # " +
         (is_error ? "ERROR " : "") + OneLine(answer, answer_cap);
}

// Shown with a call that returned the same as the calls before it (the loop rail's warning):
// a small model pressed Buy five times against "come back to town first".
std::string RepeatNote(int repeats) {
  return "Note: you have made this same call " + std::to_string(repeats) +
         " times and got the same answer. Repeating it will not help: do what the answer says "
         "instead, or try something different.";
}

int64_t MillisSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// The ToolBox a code action calls through: the agent's tools under its permission policy, so
// code cannot reach a tool that a function call could not.
class PolicedToolBox : public ToolBox {
 public:
  using Check = std::function<std::optional<std::string>(const std::string&, const Json&)>;
  PolicedToolBox(ToolBox& inner, std::vector<ToolInfo> allowed, Check check)
      : inner_(inner), allowed_(std::move(allowed)), check_(std::move(check)) {}
  Result<std::vector<ToolInfo>> ListTools() override { return allowed_; }
  Result<ToolOutcome> CallTool(const std::string& name, const Json& arguments,
                               std::chrono::milliseconds timeout, std::stop_token cancel) override {
    if (auto refusal = check_(name, arguments))
      return ToolOutcome{"Refused: " + *refusal, true, std::nullopt};
    return inner_.CallTool(name, arguments, timeout, cancel);
  }
  Result<std::string> ReadResource(const std::string& uri) override {
    return inner_.ReadResource(uri);
  }

 private:
  ToolBox& inner_;
  std::vector<ToolInfo> allowed_;
  Check check_;
};

}  // namespace

struct Agent::TaskState {
  Budget budget;
  RepeatDetector repeats;
  std::vector<RoundLog> rounds;
  std::vector<std::string> successful_actions;  // calls and code that worked, for the skill writer
  std::vector<ActionCall> calls_that_worked;    // every tool call that worked, in order
  std::optional<std::string> stop_reason;       // a rail ended the task
  int model_calls = 0;
  std::string skills_code;  // Python source of the skills defined for this round's code actions
  std::vector<std::string> offered_skills;
  std::set<std::string> used_skills;  // offered skills that a code action called
  // The code and error (or output) of the last code action that failed or called no tool, and
  // how many times in a row it did so.
  std::string last_failed_code;
  int same_code_failures = 0;
  // The environment as the task started (the profile's save_state_tool), to check a new skill
  // from; nothing when it cannot be saved.
  std::optional<Json> start_state;
  std::string start_state_note;  // why there is none
  explicit TaskState(BudgetLimits limits) : budget(limits) {}
};

// What the steps of one round have seen so far.
struct Agent::RoundState {
  bool verified = false;           // the critic accepted the task within the round
  bool asked_after_empty = false;  // an empty answer was asked about
  bool rejected_claim = false;     // a claim of success went back with the checker's reason
  std::string last_critique;       // the critic's last word shown after a code action
  Verdict verdict;
};

Agent::Agent(llm::ChatModel& model, ToolBox& tools, ProgressStore& progress, TraceWriter& trace,
             EnvProfile profile, AgentOptions options, SkillLibrary* skills, EpisodeMemory* memory,
             CodeRunner* code, EventSink sink)
    : model_(model),
      tools_(tools),
      progress_(progress),
      trace_(trace),
      profile_(std::move(profile)),
      options_(std::move(options)),
      skills_(skills),
      memory_(memory),
      code_(code),
      sink_(std::move(sink)),
      budget_{.context_tokens = options_.context_tokens},
      critic_(profile_, options_.critic, tools_, options_.tool_timeout, Access()),
      curriculum_(progress_,
                  {.env = profile_.name,
                   .env_description = profile_.description,
                   .run_id = options_.run_id,
                   .goal = options_.goal,
                   .kind = options_.curriculum,
                   .skip_after_failures = options_.skip_after_failures,
                   .has_lessons =
                       [this](const std::vector<int64_t>& failed) {
                         return memory_ != nullptr &&
                                memory_->HasLessonsAbout(profile_.name, failed).value_or(false);
                       }},
                  Access(),
                  [this](const TaskRecord& task) { return critic_.AlreadyAchieved(task); }),
      skill_writer_(skills_, profile_.name, options_.skills_top_k, Access()) {
  if (memory_ != nullptr) reflector_.emplace(*memory_, profile_.name, options_.run_id, Access());
}

LoopAccess Agent::Access() {
  return {.ask_model =
              [this](std::vector<llm::Message> messages, const llm::ResponseFormat& format) {
                return CallModel(std::move(messages), false, nullptr, format);
              },
          .prompt =
              [this](const std::string& name, const std::map<std::string, std::string>& values) {
                return Prompt(name, values);
              },
          .observe = [this] { return Observe(); },
          .emit = [this](const std::string& type, const Json& fields) { Emit(type, fields); }};
}

void Agent::Emit(const std::string& type, Json fields) {
  if (sink_) sink_(type, fields);
  trace_.Event(type, std::move(fields));
}

Result<std::string> Agent::Prompt(const std::string& name,
                                  const std::map<std::string, std::string>& values) {
  NAUT_ASSIGN_OR_RETURN(std::string text, LoadPrompt(name, options_.prompt_dir));
  return RenderPrompt(text, values);
}

std::string Agent::ObservationAfterActing() {
  if (profile_.observe_resource.empty() && profile_.observe_tool.empty()) return "";
  return "\n\nThe observation now:\n" +
         Truncate(Observe(), budget_.AfterActionChars(), "observation");
}

Status Agent::Prepare() {
  NAUT_ASSIGN_OR_RETURN(auto all, tools_.ListTools());
  tool_infos_.clear();
  tool_specs_.clear();
  tool_names_.clear();
  for (auto& t : all) {
    if (!profile_.ToolAllowed(t.spec.name)) continue;
    tool_specs_.push_back(t.spec);
    tool_names_.push_back(t.spec.name);
    tool_infos_.push_back(std::move(t));
  }
  if (tool_infos_.empty()) {
    return FailedPrecondition("environment '" + profile_.name + "': none of the " +
                              std::to_string(all.size()) +
                              " tools offered by the MCP servers is allowed by the profile");
  }
  std::vector<Milestone> milestones = profile_.milestones;
  if (!profile_.milestones_resource.empty()) {
    auto text = tools_.ReadResource(profile_.milestones_resource);
    if (!text)
      return text.error().WithContext("reading milestones " + profile_.milestones_resource);
    NAUT_ASSIGN_OR_RETURN(milestones, ParseMilestones(*text, profile_.milestones_resource));
  }
  std::vector<MilestoneRecord> records;
  milestone_ids_.clear();
  for (const auto& m : milestones) {
    records.push_back({profile_.name, m.id, m.description});
    milestone_ids_.push_back(m.id);
  }
  NAUT_RETURN_IF_ERROR(progress_.DeclareMilestones(profile_.name, records));
  return Status::Ok();
}

std::string Agent::Observe() {
  if (!profile_.observe_resource.empty()) {
    auto r = tools_.ReadResource(profile_.observe_resource);
    return r ? Truncate(*r, budget_.ToolOutputChars(), "observation")
             : "(observation unavailable: " + r.error().message() + ")";
  }
  if (!profile_.observe_tool.empty()) {
    auto r = tools_.CallTool(profile_.observe_tool, profile_.observe_arguments,
                             options_.tool_timeout, {});
    return r ? Truncate(r->text, budget_.ToolOutputChars(), "observation")
             : "(observation unavailable: " + r.error().message() + ")";
  }
  return "(this environment has no observation tool; use the tools to look around)";
}

llm::ChatResult Agent::CallModel(std::vector<llm::Message> messages, bool with_tools,
                                 TaskState* state, const llm::ResponseFormat& format) {
  llm::ChatRequest request;
  request.messages = std::move(messages);
  if (with_tools) {
    request.tools = tool_specs_;
    request.stop = action_stops_;
  }
  request.response_format = format;
  request.sampling = options_.sampling;
  // Each call its own sampling seed, derived from the run's: a retry of a failed step is not
  // forced to write the same answer again, and the run stays reproducible.
  if (request.sampling.seed) *request.sampling.seed += summary_.model_calls;
  if (!request.sampling.max_tokens) request.sampling.max_tokens = budget_.MaxAnswerTokens();
  auto start = Clock::now();
  llm::ChatResult result = model_.Chat(request, {});
  ++summary_.model_calls;
  if (state) ++state->model_calls;
  Json fields = {{"latency_ms", MillisSince(start)}, {"messages", request.messages.size()}};
  // What is new to the model since its last answer (the task's prompt, a tool result, a
  // correction), so that a trace shows what each answer was an answer to.
  constexpr size_t kTracedChars = 4000;
  std::string input;
  for (auto it = request.messages.rbegin();
       it != request.messages.rend() && it->role != llm::Role::kAssistant; ++it) {
    if (it->role == llm::Role::kSystem) continue;
    input.insert(0, it->content + (input.empty() ? "" : "\n"));
  }
  fields["input"] = ValidUtf8(input.substr(0, kTracedChars));
  if (result) {
    const auto& u = result->usage;
    fields["prompt_tokens"] = u.prompt_tokens;
    fields["cached_tokens"] = u.cached_tokens;
    fields["completion_tokens"] = u.completion_tokens;
    // Where the call's time went, when the server says (the embedded engine, llama-server):
    // evaluating the prompt's new tokens, and generating.
    if (result->timings.server_prompt_ms > 0 || result->timings.server_predicted_ms > 0) {
      fields["prompt_ms"] = std::lround(result->timings.server_prompt_ms);
      fields["generation_ms"] = std::lround(result->timings.server_predicted_ms);
    }
    fields["finish_reason"] = std::string(llm::FinishReasonName(result->finish_reason));
    fields["endpoint"] = result->endpoint;
    // What the model wrote, so that a run with a real model can be studied (and its failures
    // turned into tests) from the trace alone; capped, a trace is not a transcript store.
    fields["content"] = ValidUtf8(result->content.substr(0, kTracedChars));
    if (!result->tool_calls.empty()) fields["native_tool_calls"] = result->tool_calls.size();
    summary_.prompt_tokens += u.prompt_tokens;
    summary_.cached_tokens += u.cached_tokens;
    summary_.completion_tokens += u.completion_tokens;
    if (state) state->budget.AddTokens(u.prompt_tokens + u.completion_tokens);
  } else {
    fields["error"] = result.error().ToString();
  }
  Emit("model_call", std::move(fields));
  return result;
}

Result<RunSummary> Agent::Run(std::stop_token stop) {
  NAUT_RETURN_IF_ERROR(StartRun());
  std::string stop_reason = TaskLoop(stop);
  FinishRun(stop_reason, stop);
  return summary_;
}

Status Agent::StartRun() {
  NAUT_RETURN_IF_ERROR(
      progress_.StartRun({.id = options_.run_id, .env = profile_.name, .goal = options_.goal}));
  started_ = Clock::now();
  Json start = options_.run_info.is_object() ? options_.run_info : Json::object();
  start["run_id"] = options_.run_id;
  start["env"] = profile_.name;
  start["goal"] = options_.goal;
  start["critic"] = options_.critic == CriticKind::kLlm ? "llm" : "checker";
  start["curriculum"] = options_.curriculum == CurriculumKind::kFixed ? "fixed" : "auto";
  start["skills"] = skills_ != nullptr;
  start["memories_top_k"] = memory_ ? options_.memories_top_k : 0;
  Emit("run_start", std::move(start));
  Status prepared = Prepare();
  if (!prepared.ok()) {
    (void)progress_.FinishRun(options_.run_id, "failed", prepared.message());
    Emit("run_end", {{"status", "failed"}, {"reason", prepared.message()}});
    return prepared;
  }
  Emit("tools", {{"count", tool_specs_.size()}});
  SweepMilestones();
  return curriculum_.DecomposeGoal();
}

std::string Agent::TaskLoop(std::stop_token stop) {
  while (true) {
    if (stop.stop_requested()) return "stopped";
    if (options_.max_tasks > 0 && summary_.tasks >= options_.max_tasks)
      return "reached --max-tasks " + std::to_string(options_.max_tasks);
    auto next = curriculum_.Next(stop);
    if (!next) {
      summary_.error = true;
      return next.error().message();
    }
    if (!next->has_value()) return "the curriculum has no task left";
    TaskRecord task = std::move(**next);
    ++summary_.tasks;
    auto outcome = RunTask(task, stop);
    if (!outcome) {
      summary_.error = outcome.error().code() != Code::kCancelled;
      return outcome.error().message();
    }
    outcome->success ? ++summary_.done : ++summary_.failed;
    if (outcome->success && options_.consolidate_every > 0 &&
        summary_.done % options_.consolidate_every == 0 && !CannotConsolidate()) {
      if (auto merged = Consolidate(); !merged)
        Emit("consolidation", {{"refused", merged.error().message()}});
    }
  }
}

void Agent::FinishRun(const std::string& stop_reason, std::stop_token stop) {
  summary_.stop_reason = stop_reason;
  std::string text = std::to_string(summary_.done) + " done, " + std::to_string(summary_.failed) +
                     " failed; " + stop_reason;
  if (reflector_ && options_.reflect == ReflectWhen::kEachTask && !stop.stop_requested() &&
      !summary_.error)
    (void)reflector_->Replay("run end");
  const char* status = stop.stop_requested() ? "stopped" : summary_.error ? "failed" : "finished";
  (void)progress_.FinishRun(options_.run_id, status, text);
  Emit("run_end", {{"status", status},
                   {"reason", stop_reason},
                   {"tasks", summary_.tasks},
                   {"done", summary_.done},
                   {"failed", summary_.failed},
                   {"model_calls", summary_.model_calls},
                   {"tool_calls", summary_.tool_calls}});
}

void Agent::SweepMilestones() {
  if (profile_.checker_tool.empty()) return;
  for (const auto& id : milestone_ids_) {
    if (reached_.contains(id)) continue;
    if (!critic_.CheckerConfirms(id)) continue;
    reached_.insert(id);
    Emit("milestone_reached", {{"milestone", id},
                               {"model_calls", summary_.model_calls},
                               {"tool_calls", summary_.tool_calls},
                               {"prompt_tokens", summary_.prompt_tokens},
                               {"completion_tokens", summary_.completion_tokens},
                               {"elapsed_s", static_cast<double>(MillisSince(started_)) / 1000}});
  }
}

std::optional<std::string> Agent::Refusal(const std::string& name, const Json& arguments) {
  auto info = std::find_if(tool_infos_.begin(), tool_infos_.end(),
                           [&](const ToolInfo& t) { return t.spec.name == name; });
  if (info == tool_infos_.end()) return "tool '" + name + "' is not available in this environment";
  return options_.permissions.Refusal(name, info->destructive, arguments);
}

ToolOutcome Agent::ExecuteCall(const llm::ToolCall& call, TaskState& state) {
  auto start = Clock::now();
  ToolOutcome outcome;
  bool known = std::any_of(tool_infos_.begin(), tool_infos_.end(),
                           [&](const ToolInfo& t) { return t.spec.name == call.name; });
  if (!known) {
    outcome = {"Error: tool '" + call.name + "' is not available in this environment.", true,
               std::nullopt};
  } else if (auto refusal = Refusal(call.name, call.arguments)) {
    outcome = {"Refused: " + *refusal + ". Do something else.", true, std::nullopt};
  } else {
    state.budget.AddToolCall();
    ++summary_.tool_calls;
    auto r = tools_.CallTool(call.name, call.arguments, options_.tool_timeout, {});
    if (r) {
      outcome = std::move(*r);
    } else {
      outcome = {"Error: the call to " + call.name + " failed: " + r.error().message(), true,
                 std::nullopt};
    }
  }
  size_t full_size = outcome.text.size();
  if (!outcome.is_error) outcome.text = JsonAsReadableText(outcome.text);
  outcome.text = Truncate(outcome.text, budget_.ToolOutputChars(), "tool output");
  auto verdict = state.repeats.Observe(call.name, call.arguments, outcome.text);
  if (verdict == RepeatDetector::Verdict::kWarn) {
    outcome.text += "\n\n" + RepeatNote(state.repeats.repeats());
  } else if (verdict == RepeatDetector::Verdict::kStop) {
    state.stop_reason = "stopped by the loop rail: " + call.name + " was called " +
                        std::to_string(state.repeats.repeats()) +
                        " times in a row with the same result";
  }
  Emit("tool_call", {{"tool", call.name},
                     {"arguments", call.arguments},
                     {"is_error", outcome.is_error},
                     {"result_bytes", full_size},
                     {"latency_ms", MillisSince(start)}});
  if (!state.rounds.empty()) {
    state.rounds.back().steps.push_back(
        CallLine(call.name, call.arguments, outcome.is_error, outcome.text, 200, 300));
  }
  if (!outcome.is_error) {
    state.successful_actions.push_back(
        CallLine(call.name, call.arguments, false, outcome.text, 200, 150));
    state.calls_that_worked.push_back({call.name, call.arguments});
  }
  return outcome;
}

std::optional<std::string> Agent::RunCodeAction(const std::string& code, TaskState& state,
                                                std::string* result_text) {
  if (code_ == nullptr) {
    *result_text = "Code actions are not available in this setup; use function calls instead.";
    return std::string("code runner unavailable");
  }
  std::string skills_code = state.skills_code;
  for (const auto& name : state.offered_skills) {
    if (code.find(name + "(") != std::string::npos) state.used_skills.insert(name);
  }
  int calls_left = std::max(0, options_.task_limits.tool_calls - state.budget.tool_calls());
  auto start = Clock::now();
  PolicedToolBox policed(tools_, tool_infos_, [this](const std::string& name, const Json& args) {
    return Refusal(name, args);
  });
  auto r = code_->Run(code, skills_code, policed, calls_left, options_.code_timeout);
  if (!r) {
    *result_text = "The code action could not run: " + r.error().message();
    Emit("code_action",
         {{"ok", false}, {"error", r.error().message()}, {"latency_ms", MillisSince(start)}});
    return r.error().message();
  }
  std::string repeat_note;
  for (const auto& c : r->calls) {
    if (!c.is_error) state.calls_that_worked.push_back({c.tool, c.arguments});
    state.budget.AddToolCall();
    ++summary_.tool_calls;
    Emit("tool_call", {{"tool", c.tool},
                       {"arguments", c.arguments},
                       {"is_error", c.is_error},
                       {"result_bytes", c.result.size()},
                       {"latency_ms", static_cast<int64_t>(c.ms)},
                       {"via", "code"}});
    auto v = state.repeats.Observe(c.tool, c.arguments, c.result);
    if (v == RepeatDetector::Verdict::kWarn) repeat_note = RepeatNote(state.repeats.repeats());
    if (v == RepeatDetector::Verdict::kStop && !state.stop_reason) {
      state.stop_reason = "stopped by the loop rail: the code action called " + c.tool + " " +
                          std::to_string(state.repeats.repeats()) +
                          " times in a row with the same result";
    }
  }
  *result_text = DescribeCodeRun(code, *r, state);
  if (!repeat_note.empty()) *result_text += "\n" + repeat_note;
  Emit("code_action", {{"ok", r->ok},
                       {"code", ValidUtf8(code.substr(0, 4000))},
                       {"tool_calls", r->calls.size()},
                       {"latency_ms", MillisSince(start)},
                       {"error", OneLine(r->error, 300)}});
  if (!state.rounds.empty()) {
    // The episode keeps what the code did to the world, call by call, as for function calls:
    // that is what a later task is shown of it.
    auto& steps = state.rounds.back().steps;
    for (const auto& c : r->calls) {
      steps.push_back(
          CallLine(c.tool, c.arguments, c.is_error, JsonAsReadableText(c.result), 200, 300));
    }
    if (!r->ok || r->calls.empty()) {
      steps.push_back(std::string("python code action -> ") + (r->ok ? "ok" : "failed") + ": " +
                      OneLine(r->ok ? r->output : r->error, 300));
    }
  }
  if (r->ok) {
    // Code that loops is shown as written; straight-line code as the calls it made, so the
    // skill writer sees one list of calls (and how often each repeated) however it acted.
    bool loops = code.find("for ") != std::string::npos || code.find("while ") != std::string::npos;
    if (loops || r->calls.empty()) {
      state.successful_actions.push_back("```python\n" + code + "\n```");
    } else {
      for (const auto& c : r->calls) {
        if (c.is_error) continue;
        state.successful_actions.push_back(
            CallLine(c.tool, c.arguments, false, JsonAsReadableText(c.result), 200, 150));
      }
    }
  }
  return r->ok ? std::nullopt
               : std::optional<std::string>(r->error.empty() ? "failed" : OneLine(r->error, 300));
}

std::string Agent::DescribeCodeRun(const std::string& code, const CodeOutcome& run,
                                   TaskState& state) {
  std::ostringstream out;
  out << (run.ok ? "The code action ran to the end." : "The code action failed.") << "\n";
  if (!run.output.empty())
    out << "Printed output:\n"
        << Truncate(run.output, budget_.ToolOutputChars(), "printed output") << "\n";
  if (!run.return_value.empty()) out << "Return value: " << run.return_value << "\n";
  if (!run.error.empty())
    out << "Error:\n" << Truncate(run.error, budget_.AfterActionChars(), "traceback") << "\n";
  out << run.calls.size() << " tool call(s) made.";
  // What each call answered, whether or not the code printed it: a press's answer ("You hit the
  // Slime for 8") is often the only sign of what it did.
  constexpr size_t kCallsListed = 6;
  for (size_t i = 0; i < run.calls.size() && i < kCallsListed; ++i) {
    const auto& c = run.calls[i];
    out << "\n"
        << CallLine(c.tool, c.arguments, c.is_error, JsonAsReadableText(c.result), 120, 200);
  }
  if (run.calls.size() > kCallsListed) out << "\n- ...";
  const bool no_calls = run.ok && run.calls.empty();
  if (no_calls) {
    // Small models print a call's text instead of making it (a real run printed
    // "game__send_message(...)" nine times).
    out << " Nothing in the environment changed: a tool acts only when the code calls it, as "
           "tools.<server>__<tool>(arg=value).";
  }
  // The same code failing the same way again, or again calling no tool: the model is stuck.
  // Say so, then stop the task.
  const std::string stuck =
      run.ok && !no_calls ? "" : code + '\x1f' + OneLine(run.ok ? run.output : run.error, 300);
  state.same_code_failures =
      stuck.empty() ? 0 : (stuck == state.last_failed_code ? state.same_code_failures + 1 : 1);
  state.last_failed_code = stuck;
  if (state.same_code_failures >= 2) {
    out << (no_calls
                ? "\nThis is the same code as before, and again it called no tool: change it."
                : "\nThis is the same code that failed before, with the same error: change it.");
  }
  if (state.same_code_failures >= kSameCodeFailuresToStop && !state.stop_reason) {
    state.stop_reason = "stopped by the loop rail: the same code action " +
                        std::string(no_calls ? "called no tool " : "failed ") +
                        std::to_string(state.same_code_failures) + " times in a row" +
                        (no_calls ? "" : " with the same error");
  }
  return out.str();
}

Result<TaskOutcome> Agent::RunTask(TaskRecord& task, std::stop_token stop) {
  Emit("task_start", {{"task", task.description},
                      {"task_id", task.id},
                      {"milestone", task.milestone},
                      {"attempt", task.attempts}});
  TaskState state(options_.task_limits);
  // A resumed task may have been achieved just before the stop.
  if (task.attempts > 1 && critic_.AlreadyAchieved(task)) {
    std::string skill = skill_writer_.Learn(task.description, state.successful_actions);
    return FinishTask(task, state, true, "", skill);
  }
  SaveStartState(task, state);
  for (int round = 1; round <= options_.max_rounds; ++round) {
    if (stop.stop_requested()) return Cancelled("stopped during task '" + task.description + "'");
    if (auto exceeded = state.budget.Exceeded())
      return FinishTask(task, state, false, "stopped by the budget rail: " + *exceeded, "");
    state.budget.AddRound();
    state.rounds.emplace_back();
    Emit("round", {{"round", round}, {"task", task.description}});
    NAUT_ASSIGN_OR_RETURN(RoundEnd end, RunRound(task, state, stop));
    if (end.failure) return FinishTask(task, state, false, *end.failure, "");
    if (end.verdict.success) {
      SweepMilestones();  // reached by the actions, before the skill writer's call
      std::string skill = skill_writer_.Learn(
          task.description, state.successful_actions,
          [&](const std::string& name, const std::string& code) {
            return CheckSkill(task, state, name, code);
          },
          options_.replay_skills ? state.calls_that_worked : std::vector<ActionCall>{});
      return FinishTask(task, state, true, "", skill);
    }
    state.rounds.back().critique = end.verdict.critique;
  }
  return FinishTask(task, state, false,
                    state.rounds.empty()
                        ? "no rounds"
                        : "not verified after " + std::to_string(options_.max_rounds) +
                              " rounds: " + state.rounds.back().critique,
                    "");
}

Result<Json> Agent::SaveState() {
  NAUT_ASSIGN_OR_RETURN(ToolOutcome saved, tools_.CallTool(profile_.save_state_tool, Json::object(),
                                                           options_.tool_timeout, {}));
  if (saved.is_error)
    return Unavailable(profile_.save_state_tool + ": " + OneLine(saved.text, 300));
  std::optional<Json> answer = CheckerResult(saved);
  if (!answer || !answer->is_object() || !answer->contains("state")) {
    return InvalidArgument(profile_.save_state_tool +
                           " answered no {\"state\": ...}: " + OneLine(saved.text, 200));
  }
  return (*answer)["state"];
}

Status Agent::LoadState(const Json& saved) {
  NAUT_ASSIGN_OR_RETURN(
      ToolOutcome loaded,
      tools_.CallTool(profile_.load_state_tool, Json{{"state", saved}}, options_.tool_timeout, {}));
  if (loaded.is_error)
    return Unavailable(profile_.load_state_tool + ": " + OneLine(loaded.text, 300));
  return Status::Ok();
}

void Agent::SaveStartState(const TaskRecord& task, TaskState& state) {
  if (skills_ == nullptr || code_ == nullptr) {
    state.start_state_note = "code actions or the skill library are off in this run";
  } else if (profile_.save_state_tool.empty()) {
    state.start_state_note =
        "the profile names no [checker] save_state_tool, so the state a "
        "task started in cannot be put back";
  } else if (!critic_.HasCheckerFor(task)) {
    state.start_state_note = "no checker decides this task";
  } else if (auto saved = SaveState()) {
    state.start_state = std::move(*saved);
  } else {
    state.start_state_note =
        "the state the task started in could not be saved: " + saved.error().message();
  }
}

SkillCheck Agent::CheckSkill(const TaskRecord& task, const TaskState& state,
                             const std::string& name, const std::string& code) {
  if (!state.start_state) return {SkillCheck::State::kNotRun, state.start_state_note};
  SkillCheck check =
      RunFromState(*state.start_state, task, name, state.skills_code + code + "\n", name + "()");
  if (check.state == SkillCheck::State::kPassed && skills_ && skills_->Store()) {
    Status kept = skills_->Store()->AddCase({.skill = name,
                                             .task = task.description,
                                             .milestone = task.milestone,
                                             .environment = profile_.name,
                                             .call = name + "()",
                                             .start_state = *state.start_state});
    if (!kept.ok())
      spdlog::warn("agent: the task skill '{}' passed on was not kept: {}", name, kept.ToString());
  }
  return check;
}

SkillCheck Agent::RunFromState(const Json& start, const TaskRecord& task, const std::string& label,
                               const std::string& definitions, const std::string& call) {
  using State = SkillCheck::State;
  auto now = SaveState();
  if (!now) return {State::kNotRun, "the state now could not be saved: " + now.error().message()};
  // Whatever happens below, the environment goes back to where the agent left it.
  auto put_back = [&]() -> std::string {
    Status back = LoadState(*now);
    if (back.ok()) return "";
    spdlog::error("agent: the environment could not be put back after checking skill '{}': {}",
                  label, back.ToString());
    return " (and the environment could not be put back: " + back.message() + ")";
  };
  if (Status s = LoadState(start); !s.ok()) {
    return {State::kNotRun, "the task's start could not be put back: " + s.message() + put_back()};
  }
  if (critic_.Verify(task, {}).success) {
    return {State::kNotRun, "the task was already done in the state it started in" + put_back()};
  }
  const auto started = Clock::now();
  PolicedToolBox policed(tools_, tool_infos_, [this](const std::string& tool, const Json& args) {
    return Refusal(tool, args);
  });
  auto run = code_->Run(call, definitions, policed, options_.task_limits.tool_calls,
                        options_.code_timeout);
  const Verdict verdict = critic_.Verify(task, {});
  const size_t calls = run ? run->calls.size() : 0;
  std::string note;
  State result = State::kFailed;
  if (!run) {
    note = "it could not run: " + run.error().message();
  } else if (!run->ok) {
    note = "it raised: " + LastLine(run->error) +
           (verdict.success ? " (after the checker's goal was reached)" : "");
  } else if (!verdict.success) {
    note =
        "it ran (" + std::to_string(calls) + " tool calls), and " + OneLine(verdict.critique, 300);
  } else {
    result = State::kPassed;
    note = "the " + verdict.source + " agreed after " + call + " made " + std::to_string(calls) +
           " tool calls from the state the task started in";
  }
  note += put_back();
  Emit("skill_check", {{"name", label},
                       {"call", call},
                       {"task", task.description},
                       {"passed", result == State::kPassed},
                       {"tool_calls", calls},
                       {"latency_ms", MillisSince(started)},
                       {"note", note}});
  return {result, note};
}

void Agent::UseKnowledgeGraph(ToolBox& tools, const std::string& server) {
  knowledge_.emplace(tools, server, profile_.name, options_.tool_timeout, Access());
}

std::optional<std::string> Agent::CannotConsolidate() const {
  if (skills_ == nullptr || skills_->Store() == nullptr) return "there is no skill library";
  if (code_ == nullptr) return "code actions are off";
  if (profile_.save_state_tool.empty() || profile_.load_state_tool.empty()) {
    return "environment '" + profile_.name +
           "' names no [checker] save_state_tool and load_state_tool, so a skill cannot be run "
           "from the state its task started in";
  }
  return std::nullopt;
}

Result<std::vector<Consolidation>> Agent::Consolidate(bool dry_run) {
  if (auto why = CannotConsolidate())
    return FailedPrecondition("cannot consolidate skills: " + *why);
  if (tool_infos_.empty()) NAUT_RETURN_IF_ERROR(Prepare());
  Consolidator consolidator(
      *skills_->Store(), profile_.name, Access(),
      [this](const skills::SkillCase& c, const std::string& code, const std::string& call) {
        TaskRecord task{.env = c.environment, .description = c.task, .milestone = c.milestone};
        return RunFromState(c.start_state, task, call.substr(0, call.find('(')), code + "\n", call);
      },
      options_.consolidation);
  if (!dry_run) return consolidator.Run();
  NAUT_ASSIGN_OR_RETURN(auto groups, consolidator.Groups());
  std::vector<Consolidation> out;
  for (const auto& g : groups) {
    Consolidation c{.similarity = g.similarity};
    for (const auto& k : g.skills) c.sources.push_back(k.name);
    out.push_back(std::move(c));
  }
  return out;
}

Result<Agent::RoundEnd> Agent::RunRound(const TaskRecord& task, TaskState& state,
                                        std::stop_token stop) {
  NAUT_ASSIGN_OR_RETURN(std::vector<llm::Message> messages, RoundPrompt(task, state));
  llm::ToolCallParser parser(tool_specs_);
  RoundState round;
  for (int step = 0; step < options_.max_steps_per_round; ++step) {
    if (stop.stop_requested()) return Cancelled("stopped during task '" + task.description + "'");
    if (state.stop_reason) return RoundEnd{.failure = *state.stop_reason};
    if (step > 0) SweepMilestones();
    // The round limit is the task loop's to apply, between rounds.
    if (auto exceeded = state.budget.Exceeded();
        exceeded && exceeded->find("round") == std::string::npos) {
      return RoundEnd{.failure = "stopped by the budget rail: " + *exceeded};
    }
    auto answer = CallModel(messages, true, &state);
    if (!answer) {
      if (answer.error().kind == llm::LlmError::Kind::kContextLengthExceeded &&
          ShrinkConversation(messages)) {
        continue;
      }
      // Not the task's fault: leave it active (a later run resumes it) and stop the run.
      state.rounds.back().error = answer.error().ToString();
      Emit("task_paused", {{"task", task.description}, {"reason", answer.error().ToString()}});
      // A stop that cut the call short (SIGTERM, --max-minutes) ends the run as asked.
      if (answer.error().kind == llm::LlmError::Kind::kCancelled && stop.stop_requested())
        return Cancelled("stopped during a model call; the task stays active and is resumed");
      return Unavailable("the model could not answer: " + answer.error().ToString());
    }
    if (TakeStep(task, *answer, parser, messages, state, round) == StepEnd::kRoundOver) break;
  }
  if (state.stop_reason) return RoundEnd{.failure = *state.stop_reason};
  if (!round.verified) round.verdict = critic_.Judge(task, state.rounds.back().steps);
  return RoundEnd{.verdict = round.verdict};
}

Result<std::vector<llm::Message>> Agent::RoundPrompt(const TaskRecord& task, TaskState& state) {
  auto system =
      Prompt("system", {{"env_name", profile_.name}, {"env_description", profile_.description}});
  if (!system) return system.error();
  std::string observation = Observe();
  if (knowledge_) {
    std::string facts = knowledge_->Recall(task.description + "\n" + observation, kKnowledgeChars);
    if (!facts.empty())
      observation += "\n\nWhat you know of this world (your knowledge graph):\n" + facts;
  }
  ActorMaterial material{.system_prompt = *system,
                         .tools = tool_specs_,
                         .observation = std::move(observation),
                         .skills_min_similarity = options_.skills_min_similarity,
                         .earlier_rounds = {state.rounds.begin(), state.rounds.end() - 1}};
  std::vector<std::string> withheld;  // replays of other tasks
  if (skills_ && options_.skills_top_k > 0) {
    // Twice as many as are shown, so that replays held back leave room for the next best.
    const auto k = static_cast<size_t>(options_.skills_top_k);
    auto found = skills_->Retrieve(task.description, profile_.name, 2 * options_.skills_top_k);
    if (found) {
      for (auto& s : *found) {
        if (s.replay && !ReplayFitsTask(s.description, task.description)) {
          withheld.push_back(std::move(s.name));
        } else if (material.skills.size() < k) {
          material.skills.push_back(std::move(s));
        }
      }
    }
  }
  if (memory_ && options_.memories_top_k > 0) {
    auto found = memory_->Retrieve(task.description, profile_.name, options_.memories_top_k);
    if (found) material.memories = std::move(*found);
  }
  action_stops_ = ActionStops(material.observation);
  ActorContext context = BuildActorContext(budget_, material);
  state.skills_code = context.skills_code;
  state.offered_skills = context.offered_skills;
  auto user = Prompt(
      "action", {{"task", task.description},
                 {"observation", context.observation},
                 {"skills", context.skills_text.empty() ? "(none yet)" : context.skills_text},
                 {"memories", context.memories_text.empty() ? "(none yet)" : context.memories_text},
                 {"feedback", context.feedback}});
  if (!user) return user.error();
  Json prompt_event = {{"observation_chars", context.observation.size()},
                       {"skills", context.offered_skills},
                       {"memories_chars", context.memories_text.size()},
                       {"feedback_chars", context.feedback.size()}};
  if (!withheld.empty()) prompt_event["replays_withheld"] = withheld;
  Emit("prompt", prompt_event);
  return std::vector<llm::Message>{llm::Message::System(*system), llm::Message::User(*user)};
}

Agent::StepEnd Agent::TakeStep(const TaskRecord& task, const llm::ChatResponse& answer,
                               const llm::ToolCallParser& parser,
                               std::vector<llm::Message>& messages, TaskState& state,
                               RoundState& round) {
  auto parsed = parser.Parse(answer);
  if (!parsed.repairs.empty()) Emit("repair", {{"repairs", parsed.repairs}});
  if (!parsed.calls.empty()) {
    RunToolCalls(parsed, messages, state);
    if (!parsed.ok()) Correct(parsed, messages, state);
    return StepEnd::kNextStep;
  }
  if (!parsed.ok()) {
    messages.push_back(llm::Message::Assistant(answer.content));
    Correct(parsed, messages, state);
    return StepEnd::kNextStep;
  }
  if (auto code = ExtractPythonBlock(answer.content))
    return RunCodeStep(task, WithCallParentheses(*code, tool_names_), messages, state, round);
  if (auto code = ExtractBareToolCode(answer.content, tool_names_))
    return RunCodeStep(task, *code, messages, state, round);
  return AnswerClaim(task, answer.content, messages, state, round);
}

void Agent::RunToolCalls(const llm::ParsedToolCalls& parsed, std::vector<llm::Message>& messages,
                         TaskState& state) {
  // The conversation keeps the action, not the talk around it: a small model imitates its own
  // earlier turns, and a turn of prose before each call doubled the time of every step.
  messages.push_back(llm::Message::Assistant("", parsed.calls));
  for (size_t i = 0; i < parsed.calls.size(); ++i) {
    const auto& call = parsed.calls[i];
    ToolOutcome o = ExecuteCall(call, state);
    bool last = i + 1 == parsed.calls.size() || state.stop_reason;
    // The world has changed: the model sees it as it is now, not as the round began.
    if (last) o.text += ObservationAfterActing();
    messages.push_back(llm::Message::ToolResult(call.id, call.name, o.text));
    if (state.stop_reason) break;
  }
}

void Agent::Correct(const llm::ParsedToolCalls& parsed, std::vector<llm::Message>& messages,
                    TaskState& state) {
  messages.push_back(llm::Message::User(parsed.Correction()));
  Emit("correction", {{"problems", parsed.problems}});
  state.rounds.back().steps.push_back(
      "(model output corrected: " + OneLine(parsed.problems.front(), 200) + ")");
}

Agent::StepEnd Agent::RunCodeStep(const TaskRecord& task, const std::string& code,
                                  std::vector<llm::Message>& messages, TaskState& state,
                                  RoundState& round) {
  std::string result_text;
  auto error = RunCodeAction(code, state, &result_text);
  messages.push_back(llm::Message::Assistant("```python\n" + code + "```"));
  std::string critique;
  if (!error) {
    round.verdict = critic_.Judge(task, state.rounds.back().steps);
    if (round.verdict.success) {
      round.verified = true;
      return StepEnd::kRoundOver;
    }
    // Said again only when it changed: the same sentence after every step costs tokens and
    // tells nothing new. It comes last, after the observation, where a small model reads
    // it just before it answers (placed before, the 1.5B defended in a fight it was told to
    // win by attacking).
    if (round.verdict.critique != round.last_critique)
      critique = "\n\nThe task is not complete yet: " + round.verdict.critique;
    round.last_critique = round.verdict.critique;
  }
  messages.push_back(llm::Message::User(result_text + ObservationAfterActing() + critique));
  return StepEnd::kNextStep;
}

Agent::StepEnd Agent::AnswerClaim(const TaskRecord& task, const std::string& answer,
                                  std::vector<llm::Message>& messages, TaskState& state,
                                  RoundState& round) {
  // An empty answer is no claim of success: small models sometimes end their turn at once
  // after a tool result. Ask once per round for an action; a second empty answer ends it.
  const bool empty = answer.find_first_not_of(" \t\r\n") == std::string::npos;
  if (empty && !round.asked_after_empty) {
    round.asked_after_empty = true;
    messages.push_back(llm::Message::Assistant(answer));
    messages.push_back(llm::Message::User(kEmptyAnswerCorrection));
    Emit("correction", {{"problems", Json::array({"empty answer"})}});
    state.rounds.back().steps.emplace_back("(empty answer: asked again)");
    return StepEnd::kNextStep;
  }
  // No call and no code: the model says it is done. A checker tool answers at once, so the
  // first claim of a round that it rejects goes back to the model with the reason and the
  // round goes on (small models often talk about the task instead of acting); a second
  // ends the round.
  state.rounds.back().steps.push_back("model: " + OneLine(answer, 200));
  if (empty || round.rejected_claim || !critic_.HasCheckerFor(task)) return StepEnd::kRoundOver;
  round.verdict = critic_.Judge(task, state.rounds.back().steps);
  if (round.verdict.success) {
    round.verified = true;
    return StepEnd::kRoundOver;
  }
  round.rejected_claim = true;
  messages.push_back(llm::Message::Assistant(answer));
  messages.push_back(llm::Message::User("The task is not done: " + round.verdict.critique +
                                        "\nAct now: call a tool, or write one ```python code "
                                        "action." +
                                        ObservationAfterActing()));
  state.rounds.back().steps.push_back("(not done: " + OneLine(round.verdict.critique, 200) + ")");
  return StepEnd::kNextStep;
}

Result<TaskOutcome> Agent::FinishTask(const TaskRecord& task, TaskState& state, bool success,
                                      const std::string& reason, const std::string& skill) {
  SweepMilestones();
  TaskOutcome outcome{.success = success,
                      .reason = reason,
                      .rounds = static_cast<int>(state.rounds.size()),
                      .model_calls = state.model_calls,
                      .skill = skill};
  if (memory_) {
    Status s = memory_->Record({.env = profile_.name,
                                .task = task.description,
                                .success = success,
                                .critique = reason,
                                .summary = EpisodeSummary(state.rounds, kEpisodeChars),
                                .run_id = options_.run_id,
                                .task_id = task.id});
    if (!s.ok()) spdlog::warn("episode not stored: {}", s.message());
  }
  if (knowledge_) knowledge_->Learn(task.description, EpisodeSummary(state.rounds, kEpisodeChars));
  if (skills_) {
    for (const auto& name : state.used_skills) (void)skills_->RecordOutcome(name, success, reason);
  }
  NAUT_RETURN_IF_ERROR(progress_.FinishTask(
      task.id, success ? TaskStatus::kDone : TaskStatus::kFailed, skill, reason));
  if (success && !task.milestone.empty())
    NAUT_RETURN_IF_ERROR(progress_.MarkMilestone(profile_.name, task.milestone, skill));
  Emit("task_end", {{"task", task.description},
                    {"success", success},
                    {"rounds", outcome.rounds},
                    {"reason", reason},
                    {"skill", skill},
                    {"used_skills", state.used_skills},
                    {"model_calls", state.model_calls}});
  if (reflector_ && (options_.reflect == ReflectWhen::kEachTask ||
                     (options_.reflect == ReflectWhen::kFailures && !success))) {
    // Lessons are a bonus: a replay that fails is reported (event "reflection") and the run
    // goes on.
    (void)reflector_->Replay(success ? "task done" : "task failed");
  }
  return outcome;
}

}  // namespace naut::agent

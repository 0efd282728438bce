#include "agent/agent.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "agent/prompts.h"
#include "core/ids.h"
#include "llm/json_repair.h"
#include "llm/tool_calls.h"

namespace naut::agent {

namespace {

using Clock = std::chrono::steady_clock;

// A code action failing the same way this many times in a row ends the task (the loop rail).
constexpr int kSameCodeFailuresToStop = 3;

constexpr const char* kEmptyAnswerCorrection =
    "Your answer was empty. The task is not done yet: read the observation and the last tool "
    "result, then call a tool or write one ```python code action. If you are sure the task is "
    "done, say so in one short sentence.";

int64_t MillisSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// Roughly four characters a token for English and JSON; good enough for budgeting.
int64_t EstimateTokens(std::string_view text) { return static_cast<int64_t>(text.size() / 4 + 1); }

std::string Truncate(const std::string& text, size_t cap, std::string_view what) {
  if (text.size() <= cap) return text;
  size_t head = cap * 3 / 4, tail = cap - head;
  // Keep UTF-8 sequences whole at both cut points.
  while (head > 0 && (static_cast<unsigned char>(text[head]) & 0xC0) == 0x80) --head;
  size_t tail_start = text.size() - tail;
  while (tail_start < text.size() && (static_cast<unsigned char>(text[tail_start]) & 0xC0) == 0x80)
    ++tail_start;
  return text.substr(0, head) + "\n[... " + std::to_string(tail_start - head) + " characters of " +
         std::string(what) + " cut to fit the context ...]\n" + text.substr(tail_start);
}

std::string OneLine(std::string s, size_t cap) {
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (s.size() > cap) s = s.substr(0, cap) + "...";
  return s;
}

// "name(a, b=1)" from a skill's "def name(a, b=1):", so the model sees how to call it; the bare
// name when the definition is not found on one line.
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

// A checker's answer as JSON: its structured content, else its text parsed.
std::optional<Json> CheckerResult(const ToolOutcome& r) {
  if (r.structured) return r.structured;
  if (auto parsed = ParseJson(r.text, "checker result")) return *parsed;
  return std::nullopt;
}

// Truthiness of a JSON value at `pointer` (e.g. "/achieved").
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

// What happened in one round, compacted for the next one.
struct Agent::Round {
  std::vector<std::string> steps;  // "rpg__press_inline_button({...}) -> ..." lines
  std::string critique;
  std::string error;
};

struct Agent::TaskState {
  Budget budget;
  RepeatDetector repeats;
  std::vector<Round> rounds;
  std::vector<std::string> successful_actions;  // calls and code that worked, for the skill writer
  std::optional<std::string> stop_reason;       // a rail ended the task
  int model_calls = 0;
  std::string skills_text;  // Python source of the skills offered this round
  std::vector<std::string> offered_skills;
  std::set<std::string> used_skills;  // offered skills that a code action called
  // The code and error (or output) of the last code action that failed or called no tool, and
  // how many times in a row it did so.
  std::string last_failed_code;
  int same_code_failures = 0;
  explicit TaskState(BudgetLimits limits) : budget(limits) {}
};

std::optional<std::string> ExtractPythonBlock(const std::string& text) {
  for (const char* fence : {"```python", "```py\n", "```Python"}) {
    size_t start = text.find(fence);
    if (start == std::string::npos) continue;
    size_t body = text.find('\n', start);
    if (body == std::string::npos) return std::nullopt;
    size_t end = text.find("```", body + 1);
    std::string code =
        text.substr(body + 1, end == std::string::npos ? std::string::npos : end - body - 1);
    return code;
  }
  return std::nullopt;
}

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
      sink_(std::move(sink)) {}

void Agent::Emit(const std::string& type, Json fields) {
  if (sink_) sink_(type, fields);
  trace_.Event(type, std::move(fields));
}

Result<std::string> Agent::Prompt(const std::string& name,
                                  const std::map<std::string, std::string>& values) {
  NAUT_ASSIGN_OR_RETURN(std::string text, LoadPrompt(name, options_.prompt_dir));
  return RenderPrompt(text, values);
}

bool Agent::HasCheckerFor(const TaskRecord& task) const {
  return !profile_.checker_tool.empty() && !task.milestone.empty() &&
         options_.critic == CriticKind::kChecker;
}

std::string Agent::ObservationAfterActing() {
  if (profile_.observe_resource.empty() && profile_.observe_tool.empty()) return "";
  // Half a tool result's share: it comes after every action, the conversation must keep room.
  return "\n\nThe observation now:\n" + Truncate(Observe(), ToolOutputCap() / 2, "observation");
}

size_t Agent::ToolOutputCap() const {
  // A single tool result may take an eighth of the context.
  return static_cast<size_t>(std::max<int64_t>(options_.context_tokens * 4 / 8, 2000));
}

Status Agent::Prepare() {
  NAUT_ASSIGN_OR_RETURN(auto all, tools_.ListTools());
  tool_infos_.clear();
  tool_specs_.clear();
  for (auto& t : all) {
    if (!profile_.ToolAllowed(t.spec.name)) continue;
    tool_specs_.push_back(t.spec);
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
    return r ? Truncate(*r, ToolOutputCap(), "observation")
             : "(observation unavailable: " + r.error().message() + ")";
  }
  if (!profile_.observe_tool.empty()) {
    auto r = tools_.CallTool(profile_.observe_tool, profile_.observe_arguments,
                             options_.tool_timeout, {});
    return r ? Truncate(r->text, ToolOutputCap(), "observation")
             : "(observation unavailable: " + r.error().message() + ")";
  }
  return "(this environment has no observation tool; use the tools to look around)";
}

llm::ChatResult Agent::CallModel(std::vector<llm::Message> messages, bool with_tools,
                                 TaskState* state, const llm::ResponseFormat& format) {
  llm::ChatRequest request;
  request.messages = std::move(messages);
  if (with_tools) request.tools = tool_specs_;
  request.response_format = format;
  request.sampling = options_.sampling;
  // Each call its own sampling seed, derived from the run's: a retry of a failed step is not
  // forced to write the same answer again, and the run stays reproducible.
  if (request.sampling.seed) *request.sampling.seed += summary_.model_calls;
  // An action is a call or a short program: a model that runs on (repeating itself, or a random
  // model) is cut off before it fills the context.
  if (!request.sampling.max_tokens)
    request.sampling.max_tokens =
        static_cast<int>(std::min<int64_t>(1024, options_.context_tokens / 4));
  auto start = Clock::now();
  llm::ChatResult result = model_.Chat(request, {});
  ++summary_.model_calls;
  if (state) ++state->model_calls;
  Json fields = {{"latency_ms", MillisSince(start)}, {"messages", request.messages.size()}};
  if (result) {
    const auto& u = result->usage;
    fields["prompt_tokens"] = u.prompt_tokens;
    fields["cached_tokens"] = u.cached_tokens;
    fields["completion_tokens"] = u.completion_tokens;
    fields["finish_reason"] = std::string(llm::FinishReasonName(result->finish_reason));
    fields["endpoint"] = result->endpoint;
    // What the model wrote, so that a run with a real model can be studied (and its failures
    // turned into tests) from the trace alone; capped, a trace is not a transcript store.
    constexpr size_t kTracedChars = 4000;
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

  if (!options_.goal.empty()) {
    auto observation = Observe();
    auto prompt = Prompt("decompose", {{"goal", options_.goal},
                                       {"env_name", profile_.name},
                                       {"env_description", profile_.description},
                                       {"observation", observation}});
    if (!prompt) return prompt.error();
    auto answer = CallModel({llm::Message::User(*prompt)}, false, nullptr);
    if (answer) {
      auto parsed = llm::ParseJsonLenient(answer->content);
      if (parsed && parsed->is_object() && (*parsed)["subgoals"].is_array()) {
        for (const auto& g : (*parsed)["subgoals"]) {
          if (g.is_string() && !g.get<std::string>().empty())
            goal_queue_.push_back(g.get<std::string>());
        }
      }
    }
    if (goal_queue_.empty()) goal_queue_.push_back(options_.goal);  // pursue the goal as one task
    Emit("goal", {{"goal", options_.goal}, {"subgoals", goal_queue_}});
  }

  std::string stop_reason;
  while (true) {
    if (stop.stop_requested()) {
      stop_reason = "stopped";
      break;
    }
    if (options_.max_tasks > 0 && summary_.tasks >= options_.max_tasks) {
      stop_reason = "reached --max-tasks " + std::to_string(options_.max_tasks);
      break;
    }
    auto next = NextTask(stop);
    if (!next) {
      stop_reason = next.error().message();
      summary_.error = true;
      break;
    }
    if (!next->has_value()) {
      stop_reason = "the curriculum has no task left";
      break;
    }
    TaskRecord task = std::move(**next);
    ++summary_.tasks;
    auto outcome = RunTask(task, stop);
    if (!outcome) {
      stop_reason = outcome.error().message();
      summary_.error = outcome.error().code() != Code::kCancelled;
      break;
    }
    outcome->success ? ++summary_.done : ++summary_.failed;
  }
  summary_.stop_reason = stop_reason;
  std::string text = std::to_string(summary_.done) + " done, " + std::to_string(summary_.failed) +
                     " failed; " + stop_reason;
  (void)progress_.FinishRun(options_.run_id,
                            stop.stop_requested() ? "stopped"
                            : summary_.error      ? "failed"
                                                  : "finished",
                            text);
  Emit("run_end", {{"status", "finished"},
                   {"reason", stop_reason},
                   {"tasks", summary_.tasks},
                   {"done", summary_.done},
                   {"failed", summary_.failed},
                   {"model_calls", summary_.model_calls},
                   {"tool_calls", summary_.tool_calls}});
  return summary_;
}

void Agent::SweepMilestones() {
  if (profile_.checker_tool.empty()) return;
  for (const auto& id : milestone_ids_) {
    if (reached_.contains(id)) continue;
    auto r = tools_.CallTool(profile_.checker_tool, Json{{profile_.checker_argument, id}},
                             options_.tool_timeout, {});
    if (!r) continue;
    std::optional<Json> result = CheckerResult(*r);
    if (!result || Truthy(*result, profile_.checker_success) != true) continue;
    reached_.insert(id);
    Emit("milestone_reached", {{"milestone", id},
                               {"model_calls", summary_.model_calls},
                               {"tool_calls", summary_.tool_calls},
                               {"prompt_tokens", summary_.prompt_tokens},
                               {"completion_tokens", summary_.completion_tokens},
                               {"elapsed_s", static_cast<double>(MillisSince(started_)) / 1000}});
  }
}

Result<bool> Agent::AlreadyAchieved(const TaskRecord& task) {
  // Only the checker knows the world's state; the LLM critic would have to be asked.
  if (task.milestone.empty() || profile_.checker_tool.empty() ||
      options_.critic == CriticKind::kLlm)
    return false;
  TaskState none(options_.task_limits);
  Verdict v = Verify(task, none);
  return v.success && v.source == "checker";
}

Result<std::optional<TaskRecord>> Agent::NextTask(std::stop_token stop) {
  // A task left active by a stopped or killed run comes first.
  NAUT_ASSIGN_OR_RETURN(auto active, progress_.ActiveTask(profile_.name));
  if (active) {
    NAUT_RETURN_IF_ERROR(progress_.RetryTask(active->id, options_.run_id));
    active->attempts += 1;
    active->run_id = options_.run_id;
    Emit("resume",
         {{"task", active->description}, {"task_id", active->id}, {"attempt", active->attempts}});
    return active;
  }
  auto begin = [&](std::string description,
                   std::string milestone) -> Result<std::optional<TaskRecord>> {
    TaskRecord t{.env = profile_.name,
                 .description = std::move(description),
                 .milestone = std::move(milestone),
                 .run_id = options_.run_id};
    NAUT_ASSIGN_OR_RETURN(t.id, progress_.BeginTask(t));
    t.attempts = 1;
    return std::optional<TaskRecord>(std::move(t));
  };
  if (!goal_queue_.empty()) {
    std::string g = goal_queue_.front();
    goal_queue_.erase(goal_queue_.begin());
    return begin(g, "");
  }
  if (!options_.goal.empty())
    return std::optional<TaskRecord>();  // the goal's sub-goals are all done

  NAUT_ASSIGN_OR_RETURN(auto milestones, progress_.Milestones(profile_.name));
  if (options_.curriculum == CurriculumKind::kFixed) {
    for (const auto& m : milestones) {
      if (!m.done) return begin(m.description, m.id);
    }
    return std::optional<TaskRecord>();  // the fixed list is done
  }
  // Failures count within the current game: a new game gives every milestone a fresh start.
  NAUT_ASSIGN_OR_RETURN(auto failed, progress_.Tasks(profile_.name, TaskStatus::kFailed));
  NAUT_ASSIGN_OR_RETURN(int64_t first_task, progress_.GameFirstTask(profile_.name));
  std::erase_if(failed, [&](const TaskRecord& t) { return t.id < first_task; });
  for (const auto& m : milestones) {
    if (m.done || stop.stop_requested()) continue;
    int failures = static_cast<int>(std::count_if(
        failed.begin(), failed.end(), [&](const TaskRecord& t) { return t.milestone == m.id; }));
    if (failures >= options_.skip_after_failures) continue;  // Voyager: skip what keeps failing
    TaskRecord probe{.env = profile_.name, .description = m.description, .milestone = m.id};
    auto achieved = AlreadyAchieved(probe);
    if (achieved && *achieved) {
      NAUT_RETURN_IF_ERROR(progress_.MarkMilestone(profile_.name, m.id, ""));
      Emit("milestone",
           {{"milestone", m.id}, {"note", "already achieved in the environment's state"}});
      continue;
    }
    return begin(m.description, m.id);
  }

  // Every milestone is done or skipped: ask the model for the next task.
  std::string ms, completed, failed_text;
  for (const auto& m : milestones)
    ms += std::string("- [") + (m.done ? "x" : " ") + "] " + m.id + ": " + m.description + "\n";
  NAUT_ASSIGN_OR_RETURN(auto done, progress_.Tasks(profile_.name, TaskStatus::kDone));
  for (const auto& t : done)
    completed += (completed.empty() ? "" : "; ") + OneLine(t.description, 120);
  for (const auto& t : failed)
    failed_text += (failed_text.empty() ? "" : "; ") + OneLine(t.description, 120);
  NAUT_ASSIGN_OR_RETURN(
      std::string prompt,
      Prompt("curriculum", {{"env_name", profile_.name},
                            {"env_description", profile_.description},
                            {"milestones", ms.empty() ? "(none)" : ms},
                            {"completed", completed.empty() ? "(none)" : completed},
                            {"failed", failed_text.empty() ? "(none)" : failed_text},
                            {"observation", Observe()}}));
  auto answer = CallModel({llm::Message::User(prompt)}, false, nullptr);
  if (!answer)
    return Unavailable("the curriculum could not ask the model: " + answer.error().ToString());
  auto parsed = llm::ParseJsonLenient(answer->content);
  if (!parsed || !parsed->is_object() || !(*parsed)["task"].is_string() ||
      (*parsed)["task"].get<std::string>().empty()) {
    return Unavailable("the curriculum's answer named no task: " + OneLine(answer->content, 200));
  }
  std::string milestone = parsed->value("milestone", "");
  Emit("curriculum", {{"task", (*parsed)["task"]}, {"reasoning", parsed->value("reasoning", "")}});
  return begin((*parsed)["task"].get<std::string>(), milestone);
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
  outcome.text = Truncate(outcome.text, ToolOutputCap(), "tool output");
  auto verdict = state.repeats.Observe(call.name, call.arguments, outcome.text);
  if (verdict == RepeatDetector::Verdict::kWarn) {
    outcome.text +=
        "\n\nNote: you have made this same call " + std::to_string(state.repeats.repeats()) +
        " times and got the same result. Repeating it will not help; try something different.";
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
  std::string line = call.name + "(" + OneLine(DumpJson(call.arguments), 200) + ") -> " +
                     (outcome.is_error ? "ERROR " : "") + OneLine(outcome.text, 300);
  if (!state.rounds.empty()) state.rounds.back().steps.push_back(line);
  if (!outcome.is_error)
    state.successful_actions.push_back(call.name + "(" + DumpJson(call.arguments) + ")");
  return outcome;
}

std::optional<std::string> Agent::RunCodeAction(const std::string& code, TaskState& state,
                                                std::string* result_text) {
  if (code_ == nullptr) {
    *result_text = "Code actions are not available in this setup; use function calls instead.";
    return std::string("code runner unavailable");
  }
  std::string skills_code = state.skills_text;
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
  for (const auto& c : r->calls) {
    state.budget.AddToolCall();
    ++summary_.tool_calls;
    Emit("tool_call", {{"tool", c.tool},
                       {"arguments", c.arguments},
                       {"is_error", c.is_error},
                       {"result_bytes", c.result.size()},
                       {"latency_ms", static_cast<int64_t>(c.ms)},
                       {"via", "code"}});
    auto v = state.repeats.Observe(c.tool, c.arguments, c.result);
    if (v == RepeatDetector::Verdict::kStop && !state.stop_reason) {
      state.stop_reason = "stopped by the loop rail: the code action called " + c.tool + " " +
                          std::to_string(state.repeats.repeats()) +
                          " times in a row with the same result";
    }
  }
  std::ostringstream out;
  out << (r->ok ? "The code action ran to the end." : "The code action failed.") << "\n";
  if (!r->output.empty())
    out << "Printed output:\n" << Truncate(r->output, ToolOutputCap(), "printed output") << "\n";
  if (!r->return_value.empty()) out << "Return value: " << r->return_value << "\n";
  if (!r->error.empty())
    out << "Error:\n" << Truncate(r->error, ToolOutputCap() / 2, "traceback") << "\n";
  out << r->calls.size() << " tool call(s) made.";
  const bool no_calls = r->ok && r->calls.empty();
  if (no_calls) {
    // Small models print a call's text instead of making it (a real run printed
    // "game__send_message(...)" nine times).
    out << " Nothing in the environment changed: a tool acts only when the code calls it, as "
           "tools.<server>__<tool>(arg=value).";
  }
  // The same code failing the same way again, or again calling no tool: the model is stuck.
  // Say so, then stop the task.
  const std::string stuck =
      r->ok && !no_calls ? "" : code + '\x1f' + OneLine(r->ok ? r->output : r->error, 300);
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
  *result_text = out.str();
  Emit("code_action", {{"ok", r->ok},
                       {"code", ValidUtf8(code.substr(0, 4000))},
                       {"tool_calls", r->calls.size()},
                       {"latency_ms", MillisSince(start)},
                       {"error", OneLine(r->error, 300)}});
  if (!state.rounds.empty()) {
    state.rounds.back().steps.push_back(std::string("python code action -> ") +
                                        (r->ok ? "ok" : "failed") + ": " +
                                        OneLine(r->ok ? r->output : r->error, 300));
  }
  if (r->ok) state.successful_actions.push_back("```python\n" + code + "\n```");
  return r->ok ? std::nullopt
               : std::optional<std::string>(r->error.empty() ? "failed" : OneLine(r->error, 300));
}

Agent::Verdict Agent::Verify(const TaskRecord& task, const TaskState& state) {
  if (HasCheckerFor(task)) {
    Json args = {{profile_.checker_argument, task.milestone}};
    auto r = tools_.CallTool(profile_.checker_tool, args, options_.tool_timeout, {});
    if (!r)
      return {false, "the checker " + profile_.checker_tool + " failed: " + r.error().message(),
              "checker"};
    std::optional<Json> result = CheckerResult(*r);
    std::optional<bool> ok = result ? Truthy(*result, profile_.checker_success) : std::nullopt;
    if (!ok) {
      return {
          false,
          "the checker's answer has no " + profile_.checker_success + ": " + OneLine(r->text, 200),
          "checker"};
    }
    std::string detail =
        result->is_object() ? result->value("detail", result->value("message", "")) : "";
    // A checker without a detail field (a build tool) says what failed in its text.
    if (detail.empty() && !*ok && !r->text.starts_with("{")) detail = r->text;
    return {*ok,
            *ok ? ""
                : "the checker " + profile_.checker_tool + " says the goal is not reached" +
                      (detail.empty() ? "" : ": " + Truncate(detail, 1500, "checker output")),
            "checker"};
  }
  // The LLM critic judges from the final state.
  std::string actions;
  if (!state.rounds.empty()) {
    const auto& steps = state.rounds.back().steps;
    size_t from = steps.size() > 8 ? steps.size() - 8 : 0;
    for (size_t i = from; i < steps.size(); ++i) actions += "- " + steps[i] + "\n";
  }
  auto prompt = Prompt("critic", {{"task", task.description},
                                  {"state", Observe()},
                                  {"actions", actions.empty() ? "(none)" : actions}});
  if (!prompt) return {false, prompt.error().message(), "llm critic"};
  llm::ResponseFormat format;
  format.type = llm::ResponseFormat::Type::kJsonSchema;
  format.name = "verdict";
  format.schema = Json::parse(R"({"type": "object", "properties": {"reasoning": {"type": "string"},
      "success": {"type": "boolean"}, "critique": {"type": "string"}}, "required": ["reasoning", "success", "critique"]})");
  auto answer = CallModel({llm::Message::User(*prompt)}, false, nullptr, format);
  if (!answer && answer.error().kind == llm::LlmError::Kind::kBadRequest) {
    // A backend that cannot constrain output (the embedded engine today): the prompt asks for
    // the same JSON, which is read leniently below.
    answer = CallModel({llm::Message::User(*prompt)}, false, nullptr);
  }
  if (!answer)
    return {false, "the critic could not be asked: " + answer.error().ToString(), "llm critic"};
  auto parsed = llm::ParseJsonLenient(answer->content);
  if (!parsed || !parsed->is_object() || !(*parsed)["success"].is_boolean()) {
    return {false, "the critic's answer was not a verdict: " + OneLine(answer->content, 200),
            "llm critic"};
  }
  return {(*parsed)["success"].get<bool>(), parsed->value("critique", ""), "llm critic"};
}

Agent::Verdict Agent::Judge(const TaskRecord& task, const TaskState& state) {
  Verdict verdict = Verify(task, state);
  Emit("critic",
       {{"success", verdict.success}, {"critique", verdict.critique}, {"source", verdict.source}});
  return verdict;
}

std::string Agent::LearnSkill(const TaskRecord& task, const TaskState& state) {
  if (skills_ == nullptr) {
    Emit("skill", {{"status", "unavailable"},
                   {"reason", "no skill library in this run (--no-skills, or none set up)"}});
    return "";
  }
  auto existing = skills_->SkillForTask(task.description, profile_.name);
  if (existing && existing->has_value()) {
    Emit("skill",
         {{"status", "kept"}, {"name", **existing}, {"reason", "already learned for this task"}});
    return **existing;
  }
  std::string actions;
  for (const auto& a : state.successful_actions) actions += a + "\n";
  std::string names;
  if (auto known = skills_->Retrieve(task.description, profile_.name, options_.skills_top_k)) {
    for (const auto& s : *known) names += (names.empty() ? "" : ", ") + s.name;
  }
  auto prompt = Prompt("skill_writer", {{"task", task.description},
                                        {"actions", actions.empty() ? "(none recorded)" : actions},
                                        {"skill_names", names.empty() ? "(none)" : names}});
  if (!prompt) return "";
  std::vector<llm::Message> messages = {llm::Message::User(*prompt)};
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto answer = CallModel(messages, false, nullptr);
    if (!answer) {
      Emit("skill", {{"status", "failed"}, {"reason", answer.error().ToString()}});
      return "";
    }
    std::string code = ExtractPythonBlock(answer->content).value_or(answer->content);
    auto added = skills_->Add(code, task.description, profile_.name);
    if (added) {
      Emit("skill", {{"status", "learned"}, {"name", *added}});
      return *added;
    }
    Emit("skill", {{"status", "refused"}, {"reason", added.error().message()}});
    messages.push_back(llm::Message::Assistant(answer->content));
    messages.push_back(
        llm::Message::User("That skill was refused: " + added.error().message() +
                           "\nWrite it again, fixing that. One ```python block only."));
  }
  return "";
}

Result<TaskOutcome> Agent::RunTask(TaskRecord& task, std::stop_token stop) {
  Emit("task_start", {{"task", task.description},
                      {"task_id", task.id},
                      {"milestone", task.milestone},
                      {"attempt", task.attempts}});
  TaskState state(options_.task_limits);
  TaskOutcome outcome;
  auto finish = [&](bool success, std::string reason, std::string skill) -> Result<TaskOutcome> {
    SweepMilestones();
    outcome.success = success;
    outcome.reason = reason;
    outcome.skill = skill;
    outcome.model_calls = state.model_calls;
    if (memory_) {
      std::string summary;
      for (const auto& r : state.rounds) {
        for (const auto& s : r.steps) summary += s + "\n";
      }
      Status s = memory_->Record({.env = profile_.name,
                                  .task = task.description,
                                  .success = success,
                                  .critique = reason,
                                  .summary = Truncate(summary, 4000, "episode"),
                                  .run_id = options_.run_id,
                                  .task_id = task.id});
      if (!s.ok()) spdlog::warn("episode not stored: {}", s.message());
    }
    if (skills_) {
      for (const auto& name : state.used_skills) (void)skills_->RecordOutcome(name, success);
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
    return outcome;
  };

  // A resumed task may have been achieved just before the stop.
  if (task.attempts > 1) {
    auto achieved = AlreadyAchieved(task);
    if (achieved && *achieved) {
      std::string skill = LearnSkill(task, state);
      return finish(true, "", skill);
    }
  }

  std::vector<std::string> offered_skills;
  for (int round = 1; round <= options_.max_rounds; ++round) {
    if (stop.stop_requested()) return Cancelled("stopped during task '" + task.description + "'");
    if (auto exceeded = state.budget.Exceeded())
      return finish(false, "stopped by the budget rail: " + *exceeded, "");
    state.budget.AddRound();
    state.rounds.emplace_back();
    outcome.rounds = round;
    Emit("round", {{"round", round}, {"task", task.description}});

    // The prompt: system and tool schemas always fit; observation, skills and memories get
    // what is left, in that order.
    auto system =
        Prompt("system", {{"env_name", profile_.name}, {"env_description", profile_.description}});
    if (!system) return system.error();
    int64_t fixed =
        EstimateTokens(*system) + EstimateTokens(DumpJson(Json(tool_specs_.size()))) + 1024;
    for (const auto& t : tool_specs_)
      fixed += EstimateTokens(t.name + t.description + DumpJson(t.parameters));
    int64_t left_chars = std::max<int64_t>((options_.context_tokens - fixed) * 4, 2000);
    std::string observation =
        Truncate(Observe(), static_cast<size_t>(left_chars / 3), "observation");

    std::string skills_text, skills_code;
    offered_skills.clear();
    if (skills_ && options_.skills_top_k > 0) {
      auto found = skills_->Retrieve(task.description, profile_.name, options_.skills_top_k);
      if (found) {
        size_t cap = static_cast<size_t>(left_chars / 3);
        for (const auto& s : *found) {
          if (s.similarity < options_.skills_min_similarity) {
            // Not shown (it would lead the model astray) but defined, for the skills that call it.
            skills_code += s.code + "\n\n";
            continue;
          }
          std::string entry =
              "- " + SkillSignature(s.code, s.name) + ": " + OneLine(s.description, 300) + "\n";
          if (skills_text.size() + entry.size() > cap) break;  // trimmed to fit
          skills_text += entry;
          skills_code += s.code + "\n\n";
          offered_skills.push_back(s.name);
        }
      }
    }
    state.skills_text = skills_code;
    state.offered_skills = offered_skills;
    std::string memories_text;
    if (memory_ && options_.memories_top_k > 0) {
      auto found = memory_->Retrieve(task.description, profile_.name, options_.memories_top_k);
      if (found) {
        size_t cap = static_cast<size_t>(left_chars / 6);
        for (const auto& m : *found) {
          std::string entry = "- " + OneLine(m, 400) + "\n";
          if (memories_text.size() + entry.size() > cap) break;
          memories_text += entry;
        }
      }
    }
    // Earlier rounds, compacted: the latest in full steps, older ones in a line each.
    std::string feedback;
    if (state.rounds.size() > 1) {
      feedback = "Earlier rounds of this task did not succeed:\n";
      for (size_t i = 0; i + 1 < state.rounds.size(); ++i) {
        const Round& r = state.rounds[i];
        bool latest = i + 2 == state.rounds.size();
        feedback += "Round " + std::to_string(i + 1) + ":";
        if (latest) {
          feedback += "\n";
          size_t from = r.steps.size() > 10 ? r.steps.size() - 10 : 0;
          if (from) feedback += "  (" + std::to_string(from) + " earlier steps omitted)\n";
          for (size_t k = from; k < r.steps.size(); ++k) feedback += "  " + r.steps[k] + "\n";
        } else {
          feedback += " " + std::to_string(r.steps.size()) + " steps;";
        }
        if (!r.error.empty()) feedback += "  error: " + r.error + "\n";
        if (!r.critique.empty()) feedback += "  critique: " + r.critique + "\n";
        if (!latest) feedback += "\n";
      }
      feedback = Truncate(feedback, static_cast<size_t>(left_chars / 4), "earlier rounds");
    }
    auto user =
        Prompt("action", {{"task", task.description},
                          {"observation", observation},
                          {"skills", skills_text.empty() ? "(none yet)" : skills_text},
                          {"memories", memories_text.empty() ? "(none yet)" : memories_text},
                          {"feedback", feedback}});
    if (!user) return user.error();
    std::vector<llm::Message> messages = {llm::Message::System(*system), llm::Message::User(*user)};
    Emit("prompt", {{"observation_chars", observation.size()},
                    {"skills", offered_skills},
                    {"memories_chars", memories_text.size()},
                    {"feedback_chars", feedback.size()}});

    llm::ToolCallParser parser(tool_specs_);
    bool verified_in_round = false;
    bool asked_after_empty = false;
    bool rejected_claim_in_round = false;
    Verdict verdict;
    for (int step = 0; step < options_.max_steps_per_round; ++step) {
      if (stop.stop_requested()) return Cancelled("stopped during task '" + task.description + "'");
      if (state.stop_reason) return finish(false, *state.stop_reason, "");
      if (step > 0) SweepMilestones();
      if (auto exceeded = state.budget.Exceeded();
          exceeded && exceeded->find("round") == std::string::npos) {
        return finish(false, "stopped by the budget rail: " + *exceeded, "");
      }
      auto answer = CallModel(messages, true, &state);
      if (!answer) {
        if (answer.error().kind == llm::LlmError::Kind::kContextLengthExceeded &&
            messages.size() > 3) {
          // Drop the oldest exchange after the task prompt and try again.
          messages.erase(messages.begin() + 2,
                         messages.begin() + std::min<size_t>(4, messages.size() - 1));
          continue;
        }
        if (answer.error().kind == llm::LlmError::Kind::kContextLengthExceeded &&
            messages.size() > 2 && messages.back().content.size() > 800) {
          // Only the task prompt and the latest message are left: the latest is cut to half.
          auto& last = messages.back().content;
          last = Truncate(last, last.size() / 2, "message");
          continue;
        }
        // Not the task's fault: leave it active (a later run resumes it) and stop the run.
        state.rounds.back().error = answer.error().ToString();
        Emit("task_paused", {{"task", task.description}, {"reason", answer.error().ToString()}});
        return Unavailable("the model could not answer: " + answer.error().ToString());
      }
      auto parsed = parser.Parse(*answer);
      if (!parsed.repairs.empty()) Emit("repair", {{"repairs", parsed.repairs}});
      if (!parsed.calls.empty()) {
        messages.push_back(llm::Message::Assistant(parsed.text, parsed.calls));
        for (size_t i = 0; i < parsed.calls.size(); ++i) {
          const auto& call = parsed.calls[i];
          ToolOutcome o = ExecuteCall(call, state);
          bool last = i + 1 == parsed.calls.size() || state.stop_reason;
          // The world has changed: the model sees it as it is now, not as the round began.
          if (last) o.text += ObservationAfterActing();
          messages.push_back(llm::Message::ToolResult(call.id, call.name, o.text));
          if (state.stop_reason) break;
        }
        if (!parsed.ok()) {
          messages.push_back(llm::Message::User(parsed.Correction()));
          Emit("correction", {{"problems", parsed.problems}});
          state.rounds.back().steps.push_back(
              "(model output corrected: " + OneLine(parsed.problems.front(), 200) + ")");
        }
        continue;
      }
      if (!parsed.ok()) {
        messages.push_back(llm::Message::Assistant(answer->content));
        messages.push_back(llm::Message::User(parsed.Correction()));
        Emit("correction", {{"problems", parsed.problems}});
        state.rounds.back().steps.push_back(
            "(model output corrected: " + OneLine(parsed.problems.front(), 200) + ")");
        continue;
      }
      if (auto code = ExtractPythonBlock(answer->content)) {
        std::string result_text;
        auto error = RunCodeAction(*code, state, &result_text);
        messages.push_back(llm::Message::Assistant(answer->content));
        if (!error) {
          verdict = Judge(task, state);
          if (verdict.success) {
            verified_in_round = true;
            break;
          }
          result_text += "\nThe task is not complete yet: " + verdict.critique;
        }
        messages.push_back(llm::Message::User(result_text + ObservationAfterActing()));
        continue;
      }
      // An empty answer is no claim of success: small models sometimes end their turn at once
      // after a tool result. Ask once per round for an action; a second empty answer ends it.
      const bool empty = answer->content.find_first_not_of(" \t\r\n") == std::string::npos;
      if (empty && !asked_after_empty) {
        asked_after_empty = true;
        messages.push_back(llm::Message::Assistant(answer->content));
        messages.push_back(llm::Message::User(kEmptyAnswerCorrection));
        Emit("correction", {{"problems", Json::array({"empty answer"})}});
        state.rounds.back().steps.push_back("(empty answer: asked again)");
        continue;
      }
      // No call and no code: the model says it is done. A checker tool answers at once, so the
      // first claim of a round that it rejects goes back to the model with the reason and the
      // round goes on (small models often talk about the task instead of acting); a second
      // ends the round.
      state.rounds.back().steps.push_back("model: " + OneLine(answer->content, 200));
      if (!empty && !rejected_claim_in_round && HasCheckerFor(task)) {
        verdict = Judge(task, state);
        if (verdict.success) {
          verified_in_round = true;
          break;
        }
        rejected_claim_in_round = true;
        messages.push_back(llm::Message::Assistant(answer->content));
        messages.push_back(
            llm::Message::User("The task is not done: " + verdict.critique +
                               "\nAct now: call a tool, or write one ```python code action." +
                               ObservationAfterActing()));
        state.rounds.back().steps.push_back("(not done: " + OneLine(verdict.critique, 200) + ")");
        continue;
      }
      break;
    }
    if (state.stop_reason) return finish(false, *state.stop_reason, "");
    if (!verified_in_round) {
      verdict = Judge(task, state);
    }
    if (verdict.success) {
      SweepMilestones();  // reached by the actions, before the skill writer's call
      std::string skill = LearnSkill(task, state);
      return finish(true, "", skill);
    }
    state.rounds.back().critique = verdict.critique;
  }
  return finish(false,
                state.rounds.empty() ? "no rounds"
                                     : "not verified after " + std::to_string(options_.max_rounds) +
                                           " rounds: " + state.rounds.back().critique,
                "");
}

}  // namespace naut::agent

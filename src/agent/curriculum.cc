#include "agent/curriculum.h"

#include <algorithm>

#include "agent/compaction.h"
#include "llm/json_repair.h"

namespace naut::agent {

std::vector<std::string> ParseSubgoals(const std::string& answer) {
  std::vector<std::string> subgoals;
  auto parsed = llm::ParseJsonLenient(answer);
  if (parsed && parsed->is_object() && (*parsed)["subgoals"].is_array()) {
    for (const auto& g : (*parsed)["subgoals"]) {
      if (g.is_string() && !g.get<std::string>().empty()) subgoals.push_back(g.get<std::string>());
    }
  }
  return subgoals;
}

std::optional<ProposedTask> ParseProposedTask(const std::string& answer) {
  auto parsed = llm::ParseJsonLenient(answer);
  if (!parsed || !parsed->is_object() || !(*parsed)["task"].is_string() ||
      (*parsed)["task"].get<std::string>().empty()) {
    return std::nullopt;
  }
  return ProposedTask{(*parsed)["task"].get<std::string>(), parsed->value("milestone", ""),
                      parsed->value("reasoning", "")};
}

std::vector<MilestoneRecord> OpenMilestones(
    const std::vector<MilestoneRecord>& milestones, const std::vector<TaskRecord>& failed,
    int skip_after_failures, const std::function<bool(const std::vector<int64_t>&)>& has_lessons) {
  std::vector<MilestoneRecord> open;
  for (const auto& m : milestones) {
    if (m.done) continue;
    std::vector<int64_t> failures;
    for (const auto& t : failed) {
      if (t.milestone == m.id) failures.push_back(t.id);
    }
    const auto n = static_cast<int>(failures.size());
    // Voyager: skip what keeps failing; one more attempt once lessons were drawn from it.
    if (n > skip_after_failures) continue;
    if (n == skip_after_failures && !(has_lessons && has_lessons(failures))) continue;
    open.push_back(m);
  }
  return open;
}

Curriculum::Curriculum(ProgressStore& progress, CurriculumOptions options, LoopAccess access,
                       std::function<bool(const TaskRecord&)> already_achieved)
    : progress_(progress),
      options_(std::move(options)),
      access_(std::move(access)),
      already_achieved_(std::move(already_achieved)) {}

Status Curriculum::DecomposeGoal() {
  if (options_.goal.empty()) return Status::Ok();
  auto observation = access_.observe();
  auto prompt = access_.prompt("decompose", {{"goal", options_.goal},
                                             {"env_name", options_.env},
                                             {"env_description", options_.env_description},
                                             {"observation", observation}});
  if (!prompt) return prompt.error();
  auto answer = access_.ask_model({llm::Message::User(*prompt)}, {});
  if (answer) goal_queue_ = ParseSubgoals(answer->content);
  if (goal_queue_.empty()) goal_queue_.push_back(options_.goal);  // pursue the goal as one task
  access_.emit("goal", {{"goal", options_.goal}, {"subgoals", goal_queue_}});
  return Status::Ok();
}

Result<std::optional<TaskRecord>> Curriculum::Begin(std::string description,
                                                    std::string milestone) {
  TaskRecord t{.env = options_.env,
               .description = std::move(description),
               .milestone = std::move(milestone),
               .run_id = options_.run_id};
  NAUT_ASSIGN_OR_RETURN(t.id, progress_.BeginTask(t));
  t.attempts = 1;
  return std::optional<TaskRecord>(std::move(t));
}

Result<std::optional<TaskRecord>> Curriculum::Next(std::stop_token stop) {
  // A task left active by a stopped or killed run comes first.
  NAUT_ASSIGN_OR_RETURN(auto active, progress_.ActiveTask(options_.env));
  if (active) {
    NAUT_RETURN_IF_ERROR(progress_.RetryTask(active->id, options_.run_id));
    active->attempts += 1;
    active->run_id = options_.run_id;
    access_.emit(
        "resume",
        {{"task", active->description}, {"task_id", active->id}, {"attempt", active->attempts}});
    return active;
  }
  if (!goal_queue_.empty()) {
    std::string g = goal_queue_.front();
    goal_queue_.erase(goal_queue_.begin());
    return Begin(g, "");
  }
  if (!options_.goal.empty())
    return std::optional<TaskRecord>();  // the goal's sub-goals are all done

  NAUT_ASSIGN_OR_RETURN(auto milestones, progress_.Milestones(options_.env));
  if (options_.kind == CurriculumKind::kFixed) {
    for (const auto& m : milestones) {
      if (!m.done) return Begin(m.description, m.id);
    }
    return std::optional<TaskRecord>();  // the fixed list is done
  }
  // Failures count within the current game: a new game gives every milestone a fresh start.
  NAUT_ASSIGN_OR_RETURN(auto failed, progress_.Tasks(options_.env, TaskStatus::kFailed));
  NAUT_ASSIGN_OR_RETURN(int64_t first_task, progress_.GameFirstTask(options_.env));
  std::erase_if(failed, [&](const TaskRecord& t) { return t.id < first_task; });
  NAUT_ASSIGN_OR_RETURN(auto next, NextMilestone(milestones, stop, failed));
  if (next) return next;
  // Every milestone is done or skipped: ask the model for the next task.
  return Propose(milestones, failed);
}

Result<std::optional<TaskRecord>> Curriculum::NextMilestone(
    const std::vector<MilestoneRecord>& milestones, std::stop_token stop,
    const std::vector<TaskRecord>& failed) {
  for (const auto& m :
       OpenMilestones(milestones, failed, options_.skip_after_failures, options_.has_lessons)) {
    if (stop.stop_requested()) continue;
    TaskRecord probe{.env = options_.env, .description = m.description, .milestone = m.id};
    if (already_achieved_(probe)) {
      NAUT_RETURN_IF_ERROR(progress_.MarkMilestone(options_.env, m.id, ""));
      access_.emit("milestone",
                   {{"milestone", m.id}, {"note", "already achieved in the environment's state"}});
      continue;
    }
    const auto failures = std::count_if(failed.begin(), failed.end(),
                                        [&](const TaskRecord& t) { return t.milestone == m.id; });
    if (failures >= options_.skip_after_failures) {
      access_.emit("milestone", {{"milestone", m.id},
                                 {"note", "retried after " + std::to_string(failures) +
                                              " failures: lessons were drawn from them"}});
    }
    return Begin(m.description, m.id);
  }
  return std::optional<TaskRecord>();
}

Result<std::optional<TaskRecord>> Curriculum::Propose(
    const std::vector<MilestoneRecord>& milestones, const std::vector<TaskRecord>& failed) {
  std::string ms, completed, failed_text;
  for (const auto& m : milestones)
    ms += std::string("- [") + (m.done ? "x" : " ") + "] " + m.id + ": " + m.description + "\n";
  NAUT_ASSIGN_OR_RETURN(auto done, progress_.Tasks(options_.env, TaskStatus::kDone));
  for (const auto& t : done)
    completed += (completed.empty() ? "" : "; ") + OneLine(t.description, 120);
  for (const auto& t : failed)
    failed_text += (failed_text.empty() ? "" : "; ") + OneLine(t.description, 120);
  NAUT_ASSIGN_OR_RETURN(
      std::string prompt,
      access_.prompt("curriculum", {{"env_name", options_.env},
                                    {"env_description", options_.env_description},
                                    {"milestones", ms.empty() ? "(none)" : ms},
                                    {"completed", completed.empty() ? "(none)" : completed},
                                    {"failed", failed_text.empty() ? "(none)" : failed_text},
                                    {"observation", access_.observe()}}));
  auto answer = access_.ask_model({llm::Message::User(prompt)}, {});
  if (!answer)
    return Unavailable("the curriculum could not ask the model: " + answer.error().ToString());
  auto proposed = ParseProposedTask(answer->content);
  if (!proposed)
    return Unavailable("the curriculum's answer named no task: " + OneLine(answer->content, 200));
  access_.emit("curriculum", {{"task", proposed->task}, {"reasoning", proposed->reasoning}});
  return Begin(proposed->task, proposed->milestone);
}

}  // namespace naut::agent

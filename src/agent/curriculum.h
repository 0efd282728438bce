#pragma once
// The curriculum: which task the agent works next. In order:
//   1. a task left active by a stopped or killed run (it is retried: attempts + 1, event
//      "resume");
//   2. with a goal (--goal), the sub-goals the model split it into (DecomposeGoal), one after the
//      other; when they are done, nothing more;
//   3. the fixed curriculum: the first milestone not reached, again and again until it is;
//   4. the automatic curriculum: the first milestone not reached that has not failed
//      skip_after_failures times in the current game (Voyager: skip what keeps failing) and that
//      the environment does not already show reached (then it is marked, event "milestone");
//      when every milestone is done or skipped, a task the model proposes from the milestones,
//      the tasks completed and failed, and the observation (event "curriculum").
// Every task it returns is recorded in the progress store first (active, attempts counted).
//
// Called on the agent loop's thread only; the borrowed ProgressStore must outlive it.

#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "agent/loop_access.h"
#include "agent/progress.h"

namespace naut::agent {

// Where tasks come from: the automatic curriculum (the milestones in order, skipping those that
// keep failing and those already reached, then tasks the model proposes) or a fixed list (the
// milestones in order, each retried until reached, nothing skipped, nothing proposed).
enum class CurriculumKind { kAuto, kFixed };

struct CurriculumOptions {
  std::string env;              // the profile's name: progress is kept per environment
  std::string env_description;  // told to the model
  std::string run_id;
  std::string goal;  // --goal: decomposed into sub-goals, pursued instead of the milestones
  CurriculumKind kind = CurriculumKind::kAuto;
  int skip_after_failures = 3;  // a milestone that failed this often in the game is skipped
  // Whether lessons were drawn (reflection.h) from the episodes of these failed tasks: a
  // milestone skipped for its failures is then given one more attempt, with those lessons in
  // its prompt. Empty: never.
  std::function<bool(const std::vector<int64_t>& failed_task_ids)> has_lessons;
};

// The sub-goals in the model's answer to the decompose prompt ({"subgoals": [...]}, read
// leniently): the non-empty strings, in order; none when the answer holds no such list.
std::vector<std::string> ParseSubgoals(const std::string& answer);

// A task the model proposed ({"task", "milestone"?, "reasoning"?}, read leniently).
struct ProposedTask {
  std::string task;
  std::string milestone;  // empty when it advances none
  std::string reasoning;
};
// Nothing when the answer names no task.
std::optional<ProposedTask> ParseProposedTask(const std::string& answer);

// The milestones the automatic curriculum may give next, in order: not done, and failed fewer
// than `skip_after_failures` times among `failed` (the failed tasks of the current game), or
// exactly that often when `has_lessons` says lessons were drawn from those failures (one more
// attempt, with its lessons).
std::vector<MilestoneRecord> OpenMilestones(
    const std::vector<MilestoneRecord>& milestones, const std::vector<TaskRecord>& failed,
    int skip_after_failures,
    const std::function<bool(const std::vector<int64_t>&)>& has_lessons = {});

class Curriculum {
 public:
  // `already_achieved`: whether the environment already shows a task's milestone reached (the
  // critic's checker, asked now).
  Curriculum(ProgressStore& progress, CurriculumOptions options, LoopAccess access,
             std::function<bool(const TaskRecord&)> already_achieved);

  // With a goal: asks the model to split it into sub-goals (the goal itself, as one task, when
  // the answer holds none) and reports them (event "goal"). Without one: nothing. An error only
  // when the decompose prompt cannot be rendered.
  Status DecomposeGoal();

  // The next task, begun in the progress store; nothing when the curriculum has no task left.
  // An error when the progress store fails or the model, asked for a task, names none.
  Result<std::optional<TaskRecord>> Next(std::stop_token stop);

 private:
  Result<std::optional<TaskRecord>> Begin(std::string description, std::string milestone);
  Result<std::optional<TaskRecord>> NextMilestone(const std::vector<MilestoneRecord>& milestones,
                                                  std::stop_token stop,
                                                  const std::vector<TaskRecord>& failed);
  Result<std::optional<TaskRecord>> Propose(const std::vector<MilestoneRecord>& milestones,
                                            const std::vector<TaskRecord>& failed);

  ProgressStore& progress_;
  CurriculumOptions options_;
  LoopAccess access_;
  std::function<bool(const TaskRecord&)> already_achieved_;
  std::vector<std::string> goal_queue_;
};

}  // namespace naut::agent

#pragma once
// The agent's progress: runs, tasks and milestones, kept in SQLite (component "agent") and
// mirrored as a readable checklist, PROGRESS.md, in the data home after every change.
//
// A restarted agent resumes from here: a task that was active when the process stopped is
// active again; done tasks and milestones are never redone. One ProgressStore per thread;
// several processes may share the database (SQLite WAL).

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/db.h"

namespace naut::agent {

enum class TaskStatus { kActive, kDone, kFailed };
std::string_view TaskStatusName(TaskStatus s);

struct TaskRecord {
  int64_t id = 0;
  std::string env;
  std::string description;
  std::string milestone;  // milestone id this task pursues, or empty
  TaskStatus status = TaskStatus::kActive;
  int attempts = 0;      // times the task was started
  std::string skill;     // name of the skill that solved it
  std::string critique;  // last critique or failure reason
  std::string run_id;
  std::string created, finished;
};

struct RunRecord {
  std::string id;
  std::string env;
  std::string goal;
  std::string started, finished;
  std::string status;  // running | finished | stopped | failed
  std::string summary;
};

struct MilestoneRecord {
  std::string env;
  std::string id;
  std::string description;
  bool done = false;
  std::string done_at;
  std::string skill;
};

class ProgressStore {
 public:
  static Result<std::unique_ptr<ProgressStore>> Open(const std::filesystem::path& db_path,
                                                     std::filesystem::path progress_file);

  // Runs
  Status StartRun(const RunRecord& run);
  Status FinishRun(const std::string& run_id, const std::string& status,
                   const std::string& summary);
  Result<std::vector<RunRecord>> Runs(int limit = 50);
  Result<std::optional<RunRecord>> FindRun(const std::string& id_prefix);

  // Milestones of an environment, in curriculum order. Known ones keep their state.
  Status DeclareMilestones(const std::string& env, const std::vector<MilestoneRecord>& milestones);
  Result<std::vector<MilestoneRecord>> Milestones(const std::string& env);
  Status MarkMilestone(const std::string& env, const std::string& id, const std::string& skill);

  // A new game of `env` (the world was reset): its milestones are to be reached again and an
  // active task is abandoned; the task history is kept, and GameFirstTask() says where the
  // current game's tasks begin (0 when no new game was ever started).
  Status StartNewGame(const std::string& env);
  Result<int64_t> GameFirstTask(const std::string& env);

  // Tasks
  Result<int64_t> BeginTask(const TaskRecord& task);  // inserts an active task with attempts = 1
  Status RetryTask(int64_t id, const std::string& run_id);  // attempts += 1, back to active
  Status FinishTask(int64_t id, TaskStatus status, const std::string& skill,
                    const std::string& critique);
  // The task left active by a stopped run of `env`, if any.
  Result<std::optional<TaskRecord>> ActiveTask(const std::string& env);
  Result<std::vector<TaskRecord>> Tasks(const std::string& env,
                                        std::optional<TaskStatus> status = {});

  // Rewrites PROGRESS.md from the database.
  Status WriteProgressFile();

 private:
  ProgressStore(std::unique_ptr<store::Db> db, std::filesystem::path progress_file)
      : db_(std::move(db)), progress_file_(std::move(progress_file)) {}
  std::unique_ptr<store::Db> db_;
  std::filesystem::path progress_file_;
};

}  // namespace naut::agent

#include "agent/progress.h"

#include <sstream>

#include "core/files.h"
#include "core/ids.h"

namespace naut::agent {

namespace {

constexpr store::Migration kMigrations[] = {
    {1, "runs, tasks and milestones",
     "CREATE TABLE runs ("
     " id TEXT PRIMARY KEY, env TEXT NOT NULL, goal TEXT NOT NULL DEFAULT '',"
     " started TEXT NOT NULL, finished TEXT NOT NULL DEFAULT '', status TEXT NOT NULL,"
     " summary TEXT NOT NULL DEFAULT '');"
     "CREATE TABLE tasks ("
     " id INTEGER PRIMARY KEY, env TEXT NOT NULL, description TEXT NOT NULL,"
     " milestone TEXT NOT NULL DEFAULT '',"
     " status TEXT NOT NULL CHECK (status IN ('active', 'done', 'failed')),"
     " attempts INTEGER NOT NULL DEFAULT 1, skill TEXT NOT NULL DEFAULT '',"
     " critique TEXT NOT NULL DEFAULT '', run_id TEXT NOT NULL DEFAULT '',"
     " created TEXT NOT NULL, finished TEXT NOT NULL DEFAULT '');"
     "CREATE INDEX tasks_env_status ON tasks (env, status);"
     "CREATE TABLE milestones ("
     " env TEXT NOT NULL, id TEXT NOT NULL, position INTEGER NOT NULL,"
     " description TEXT NOT NULL, done_at TEXT NOT NULL DEFAULT '',"
     " skill TEXT NOT NULL DEFAULT '', PRIMARY KEY (env, id));"},
    {2, "games: where the current game of an environment began",
     "CREATE TABLE games ("
     " env TEXT PRIMARY KEY, first_task INTEGER NOT NULL, started TEXT NOT NULL);"},
};

TaskStatus ParseStatus(const std::string& s) {
  if (s == "done") return TaskStatus::kDone;
  if (s == "failed") return TaskStatus::kFailed;
  return TaskStatus::kActive;
}

TaskRecord ReadTask(const store::Statement& q) {
  TaskRecord t;
  t.id = q.ColumnInt(0);
  t.env = q.ColumnText(1);
  t.description = q.ColumnText(2);
  t.milestone = q.ColumnText(3);
  t.status = ParseStatus(q.ColumnText(4));
  t.attempts = static_cast<int>(q.ColumnInt(5));
  t.skill = q.ColumnText(6);
  t.critique = q.ColumnText(7);
  t.run_id = q.ColumnText(8);
  t.created = q.ColumnText(9);
  t.finished = q.ColumnText(10);
  return t;
}

constexpr const char* kTaskColumns =
    "id, env, description, milestone, status, attempts, skill, critique, run_id, created, finished";

RunRecord ReadRun(const store::Statement& q) {
  return {q.ColumnText(0), q.ColumnText(1), q.ColumnText(2), q.ColumnText(3),
          q.ColumnText(4), q.ColumnText(5), q.ColumnText(6)};
}

// One line of Markdown: newlines would break the checklist.
std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

}  // namespace

std::string_view TaskStatusName(TaskStatus s) {
  switch (s) {
    case TaskStatus::kActive:
      return "active";
    case TaskStatus::kDone:
      return "done";
    case TaskStatus::kFailed:
      return "failed";
  }
  return "active";
}

Result<std::unique_ptr<ProgressStore>> ProgressStore::Open(const std::filesystem::path& db_path,
                                                           std::filesystem::path progress_file) {
  NAUT_ASSIGN_OR_RETURN(auto db, store::Db::Open(db_path));
  NAUT_RETURN_IF_ERROR(db->Migrate("agent", kMigrations));
  return std::unique_ptr<ProgressStore>(new ProgressStore(std::move(db), std::move(progress_file)));
}

Status ProgressStore::StartRun(const RunRecord& run) {
  NAUT_ASSIGN_OR_RETURN(
      auto q,
      db_->Prepare("INSERT INTO runs (id, env, goal, started, status) VALUES (?, ?, ?, ?, ?)"));
  q.Bind(1, run.id)
      .Bind(2, run.env)
      .Bind(3, run.goal)
      .Bind(4, run.started.empty() ? NowIso8601() : run.started);
  q.Bind(5, run.status.empty() ? std::string("running") : run.status);
  return q.Run();
}

Status ProgressStore::FinishRun(const std::string& run_id, const std::string& status,
                                const std::string& summary) {
  NAUT_ASSIGN_OR_RETURN(
      auto q, db_->Prepare("UPDATE runs SET finished = ?, status = ?, summary = ? WHERE id = ?"));
  q.Bind(1, NowIso8601()).Bind(2, status).Bind(3, summary).Bind(4, run_id);
  NAUT_RETURN_IF_ERROR(q.Run());
  return WriteProgressFile();
}

Result<std::vector<RunRecord>> ProgressStore::Runs(int limit) {
  NAUT_ASSIGN_OR_RETURN(
      auto q, db_->Prepare("SELECT id, env, goal, started, finished, status, summary FROM runs "
                           "ORDER BY started DESC, id DESC LIMIT ?"));
  q.Bind(1, limit);
  std::vector<RunRecord> out;
  while (true) {
    NAUT_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back(ReadRun(q));
  }
  return out;
}

Result<std::optional<RunRecord>> ProgressStore::FindRun(const std::string& id_prefix) {
  NAUT_ASSIGN_OR_RETURN(
      auto q, db_->Prepare("SELECT id, env, goal, started, finished, status, summary FROM runs "
                           "WHERE substr(id, 1, length(?1)) = ?1 ORDER BY id DESC LIMIT 2"));
  q.Bind(1, id_prefix);
  std::vector<RunRecord> found;
  while (true) {
    NAUT_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    found.push_back(ReadRun(q));
  }
  if (found.empty()) return std::optional<RunRecord>();
  if (found.size() > 1 && found[0].id != id_prefix) {
    return InvalidArgument("run id '" + id_prefix + "' is ambiguous: it matches " + found[0].id +
                           " and " + found[1].id);
  }
  return std::optional<RunRecord>(found[0]);
}

Status ProgressStore::DeclareMilestones(const std::string& env,
                                        const std::vector<MilestoneRecord>& milestones) {
  NAUT_ASSIGN_OR_RETURN(auto tx, db_->Begin());
  NAUT_ASSIGN_OR_RETURN(
      auto q,
      db_->Prepare("INSERT INTO milestones (env, id, position, description) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (env, id) DO UPDATE SET position = excluded.position, description "
                   "= excluded.description"));
  int position = 0;
  for (const auto& m : milestones) {
    q.Reset();
    q.Bind(1, env).Bind(2, m.id).Bind(3, position++).Bind(4, m.description);
    NAUT_RETURN_IF_ERROR(q.Run());
  }
  NAUT_RETURN_IF_ERROR(tx.Commit());
  return WriteProgressFile();
}

Result<std::vector<MilestoneRecord>> ProgressStore::Milestones(const std::string& env) {
  NAUT_ASSIGN_OR_RETURN(auto q,
                        db_->Prepare("SELECT env, id, description, done_at, skill FROM milestones "
                                     "WHERE env = ? ORDER BY position"));
  q.Bind(1, env);
  std::vector<MilestoneRecord> out;
  while (true) {
    NAUT_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    MilestoneRecord m{q.ColumnText(0), q.ColumnText(1), q.ColumnText(2),
                      false,           q.ColumnText(3), q.ColumnText(4)};
    m.done = !m.done_at.empty();
    out.push_back(std::move(m));
  }
  return out;
}

Status ProgressStore::MarkMilestone(const std::string& env, const std::string& id,
                                    const std::string& skill) {
  NAUT_ASSIGN_OR_RETURN(auto q, db_->Prepare("UPDATE milestones SET done_at = ?, skill = ? "
                                             "WHERE env = ? AND id = ? AND done_at = ''"));
  q.Bind(1, NowIso8601()).Bind(2, skill).Bind(3, env).Bind(4, id);
  NAUT_RETURN_IF_ERROR(q.Run());
  return WriteProgressFile();
}

Status ProgressStore::StartNewGame(const std::string& env) {
  NAUT_ASSIGN_OR_RETURN(auto tx, db_->Begin());
  NAUT_ASSIGN_OR_RETURN(auto abandon,
                        db_->Prepare("UPDATE tasks SET status = 'failed', finished = ?, "
                                     "critique = 'abandoned: a new game started' "
                                     "WHERE env = ? AND status = 'active'"));
  abandon.Bind(1, NowIso8601()).Bind(2, env);
  NAUT_RETURN_IF_ERROR(abandon.Run());
  NAUT_ASSIGN_OR_RETURN(
      auto undo, db_->Prepare("UPDATE milestones SET done_at = '', skill = '' WHERE env = ?"));
  undo.Bind(1, env);
  NAUT_RETURN_IF_ERROR(undo.Run());
  NAUT_ASSIGN_OR_RETURN(
      auto game, db_->Prepare("INSERT INTO games (env, first_task, started) VALUES "
                              "(?, (SELECT COALESCE(MAX(id), 0) + 1 FROM tasks), ?) "
                              "ON CONFLICT (env) DO UPDATE SET "
                              "first_task = excluded.first_task, started = excluded.started"));
  game.Bind(1, env).Bind(2, NowIso8601());
  NAUT_RETURN_IF_ERROR(game.Run());
  NAUT_RETURN_IF_ERROR(tx.Commit());
  return WriteProgressFile();
}

Result<int64_t> ProgressStore::GameFirstTask(const std::string& env) {
  NAUT_ASSIGN_OR_RETURN(auto q, db_->Prepare("SELECT first_task FROM games WHERE env = ?"));
  q.Bind(1, env);
  NAUT_ASSIGN_OR_RETURN(bool row, q.Step());
  return row ? q.ColumnInt(0) : int64_t{0};
}

Result<int64_t> ProgressStore::BeginTask(const TaskRecord& task) {
  NAUT_ASSIGN_OR_RETURN(
      auto q,
      db_->Prepare(
          "INSERT INTO tasks (env, description, milestone, status, attempts, run_id, created) "
          "VALUES (?, ?, ?, 'active', 1, ?, ?)"));
  q.Bind(1, task.env)
      .Bind(2, task.description)
      .Bind(3, task.milestone)
      .Bind(4, task.run_id)
      .Bind(5, NowIso8601());
  NAUT_RETURN_IF_ERROR(q.Run());
  int64_t id = db_->LastInsertRowId();
  NAUT_RETURN_IF_ERROR(WriteProgressFile());
  return id;
}

Status ProgressStore::RetryTask(int64_t id, const std::string& run_id) {
  NAUT_ASSIGN_OR_RETURN(auto q,
                        db_->Prepare("UPDATE tasks SET attempts = attempts + 1, status = 'active', "
                                     "run_id = ?, finished = '' WHERE id = ?"));
  q.Bind(1, run_id).Bind(2, id);
  NAUT_RETURN_IF_ERROR(q.Run());
  return WriteProgressFile();
}

Status ProgressStore::FinishTask(int64_t id, TaskStatus status, const std::string& skill,
                                 const std::string& critique) {
  NAUT_ASSIGN_OR_RETURN(
      auto q,
      db_->Prepare(
          "UPDATE tasks SET status = ?, skill = ?, critique = ?, finished = ? WHERE id = ?"));
  q.Bind(1, TaskStatusName(status))
      .Bind(2, skill)
      .Bind(3, critique)
      .Bind(4, NowIso8601())
      .Bind(5, id);
  NAUT_RETURN_IF_ERROR(q.Run());
  if (db_->Changes() != 1) return NotFound("task " + std::to_string(id));
  return WriteProgressFile();
}

Result<std::optional<TaskRecord>> ProgressStore::ActiveTask(const std::string& env) {
  NAUT_ASSIGN_OR_RETURN(
      auto q,
      db_->Prepare(std::string("SELECT ") + kTaskColumns +
                   " FROM tasks WHERE env = ? AND status = 'active' ORDER BY id DESC LIMIT 1"));
  q.Bind(1, env);
  NAUT_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return std::optional<TaskRecord>();
  return std::optional<TaskRecord>(ReadTask(q));
}

Result<std::vector<TaskRecord>> ProgressStore::Tasks(const std::string& env,
                                                     std::optional<TaskStatus> status) {
  std::string sql = std::string("SELECT ") + kTaskColumns + " FROM tasks WHERE env = ?";
  if (status) sql += " AND status = ?";
  sql += " ORDER BY id";
  NAUT_ASSIGN_OR_RETURN(auto q, db_->Prepare(sql));
  q.Bind(1, env);
  if (status) q.Bind(2, TaskStatusName(*status));
  std::vector<TaskRecord> out;
  while (true) {
    NAUT_ASSIGN_OR_RETURN(bool row, q.Step());
    if (!row) break;
    out.push_back(ReadTask(q));
  }
  return out;
}

Status ProgressStore::WriteProgressFile() {
  std::ostringstream md;
  md << "# NeuroNaut progress\n\n"
     << "Written by neuronaut after every change; the database (neuronaut.db) is its twin.\n";
  NAUT_ASSIGN_OR_RETURN(
      auto envs_q,
      db_->Prepare("SELECT env FROM milestones UNION SELECT env FROM tasks ORDER BY 1"));
  std::vector<std::string> envs;
  while (true) {
    NAUT_ASSIGN_OR_RETURN(bool row, envs_q.Step());
    if (!row) break;
    envs.push_back(envs_q.ColumnText(0));
  }
  for (const auto& env : envs) {
    md << "\n## Environment `" << env << "`\n\n### Milestones\n\n";
    NAUT_ASSIGN_OR_RETURN(auto milestones, Milestones(env));
    if (milestones.empty()) md << "(none declared)\n";
    for (const auto& m : milestones) {
      md << "- [" << (m.done ? "x" : " ") << "] `" << m.id << "` " << OneLine(m.description);
      if (m.done)
        md << " (" << m.done_at << (m.skill.empty() ? "" : ", skill `" + m.skill + "`") << ")";
      md << "\n";
    }
    md << "\n### Tasks\n\n";
    NAUT_ASSIGN_OR_RETURN(auto tasks, Tasks(env));
    if (tasks.empty()) md << "(none yet)\n";
    for (const auto& t : tasks) {
      const char* box = t.status == TaskStatus::kDone     ? "[x]"
                        : t.status == TaskStatus::kFailed ? "[-]"
                                                          : "[ ]";
      md << "- " << box << " " << OneLine(t.description);
      if (t.status == TaskStatus::kActive) md << " (in progress, attempt " << t.attempts << ")";
      if (t.status == TaskStatus::kDone) {
        md << " (" << t.finished << (t.skill.empty() ? "" : ", skill `" + t.skill + "`") << ")";
      }
      if (t.status == TaskStatus::kFailed)
        md << " (failed " << t.finished << ": " << OneLine(t.critique) << ")";
      md << "\n";
    }
  }
  return WriteFileAtomic(progress_file_, md.str());
}

}  // namespace naut::agent

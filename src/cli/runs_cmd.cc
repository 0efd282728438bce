// neuronaut runs list|show <id>: what earlier runs did, from the database and their traces.

#include <iomanip>
#include <iostream>

#include "agent/progress.h"
#include "agent/trace.h"
#include "cli/context.h"
#include "core/data_home.h"
#include "core/home_lock.h"

namespace naut::cli {

namespace {

// A run recorded as running whose process is gone (killed, crashed, the machine lost power)
// never wrote its end; only the home lock's live holder is really running. The record is left
// as it is (read-only command): `neuronaut run` resumes the task it left active.
std::string ShownStatus(const agent::RunRecord& r, const std::optional<HomeLockHolder>& holder) {
  if (r.status == "running" && (!holder || holder->run_id != r.id)) return "interrupted";
  return r.status;
}

Result<std::unique_ptr<agent::ProgressStore>> OpenProgress(Context& ctx, DataHome& home) {
  NAUT_ASSIGN_OR_RETURN(Config config, ctx.LoadConfig());
  NAUT_ASSIGN_OR_RETURN(home, OpenDataHome(config.home));
  return agent::ProgressStore::Open(home.database(), home.progress_file());
}

int ListRuns(Context& ctx) {
  DataHome home;
  auto progress = OpenProgress(ctx, home);
  if (!progress) return Fail(progress.error());
  auto runs = (*progress)->Runs();
  if (!runs) return Fail(runs.error());
  auto holder = HomeLock::Holder(home);
  if (holder) {
    std::cout << "active now: run " << holder->run_id << " (pid " << holder->pid << ", "
              << holder->what << ")\n";
  }
  if (runs->empty()) {
    std::cout << "no runs yet in " << home.root.string() << "\n";
    return kExitOk;
  }
  std::cout << std::left << std::setw(26) << "RUN" << std::setw(8) << "ENV" << std::setw(12)
            << "STATUS" << std::setw(22) << "STARTED"
            << "SUMMARY\n";
  bool interrupted = false;
  for (const auto& r : *runs) {
    std::string status = ShownStatus(r, holder);
    interrupted = interrupted || status == "interrupted";
    std::cout << std::setw(26) << r.id << std::setw(8) << r.env << std::setw(12) << status
              << std::setw(22) << r.started << r.summary << "\n";
  }
  if (interrupted) {
    std::cout << "interrupted: the process ended without finishing the run (killed or crashed); "
                 "`neuronaut run` resumes its task\n";
  }
  return kExitOk;
}

int ShowRun(Context& ctx, const std::string& id) {
  DataHome home;
  auto progress = OpenProgress(ctx, home);
  if (!progress) return Fail(progress.error());
  auto run = (*progress)->FindRun(id);
  if (!run) return Fail(run.error());
  if (!run->has_value())
    return Fail(NotFound("no run with id '" + id + "' (see `neuronaut runs list`)"));
  const auto& r = **run;
  std::cout << "run      " << r.id << "\nenv      " << r.env << "\nstatus   "
            << ShownStatus(r, HomeLock::Holder(home)) << "\nstarted  " << r.started << "\nfinished "
            << (r.finished.empty() ? "-" : r.finished) << "\n";
  if (!r.goal.empty()) std::cout << "goal     " << r.goal << "\n";
  if (!r.summary.empty()) std::cout << "summary  " << r.summary << "\n";
  auto trace = agent::SummariseTrace(home.runs_dir() / r.id / "events.jsonl");
  if (!trace) {
    std::cout << "trace    " << trace.error().message() << "\n";
    return kExitOk;
  }
  const auto& t = *trace;
  std::cout << "tasks    " << t.tasks << " started, " << t.tasks_done << " done, " << t.tasks_failed
            << " failed\n"
            << "rounds   " << t.rounds << "\nmodel    " << t.model_calls << " calls, "
            << t.prompt_tokens << " prompt tokens (" << t.cached_tokens << " cached), "
            << t.completion_tokens << " completion tokens, " << t.model_ms << " ms\n"
            << "tools    " << t.tool_calls << " calls (" << t.tool_errors << " errors), "
            << t.tool_ms << " ms\n"
            << "elapsed  " << t.total_ms << " ms\n";
  if (t.skipped_lines)
    std::cout << "note     " << t.skipped_lines << " unreadable trace line(s) skipped\n";
  for (const auto& line : t.lines) std::cout << "  " << line << "\n";
  return kExitOk;
}

}  // namespace

void AddRunsCommand(CLI::App& app, Context& ctx) {
  auto* runs =
      app.add_subcommand("runs", "List earlier agent runs and summarise one from its trace");
  runs->require_subcommand(1);
  runs->add_subcommand("list", "List runs, newest first")->callback([&ctx] {
    ctx.exit_code = ListRuns(ctx);
  });
  auto* show =
      runs->add_subcommand("show", "Summarise one run: tasks, rounds, tokens, tool calls, time");
  static std::string id;
  show->add_option("id", id, "Run id or a unique prefix of it")->required();
  show->callback([&ctx] { ctx.exit_code = ShowRun(ctx, id); });
}

}  // namespace naut::cli

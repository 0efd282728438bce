#include "agent/trace.h"

#include <spdlog/spdlog.h>

#include <fstream>

#include "core/files.h"
#include "core/ids.h"

namespace naut::agent {

Result<std::unique_ptr<TraceWriter>> TraceWriter::Open(const std::filesystem::path& runs_dir,
                                                       const std::string& run_id) {
  std::filesystem::path dir = runs_dir / run_id;
  NAUT_RETURN_IF_ERROR(MakePrivateDirs(dir));
  std::filesystem::path path = dir / "events.jsonl";
  std::FILE* f = std::fopen(path.c_str(), "ae");
  if (f == nullptr)
    return PermissionDenied("trace " + path.string() + ": cannot open for appending");
  return std::unique_ptr<TraceWriter>(new TraceWriter(f, path));
}

TraceWriter::~TraceWriter() { std::fclose(file_); }

void TraceWriter::Event(const std::string& type, Json fields) {
  if (!fields.is_object()) fields = Json{{"value", std::move(fields)}};
  fields["type"] = type;
  fields["time"] = NowIso8601();
  fields["ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - start_)
                     .count();
  std::string line = DumpJson(fields) + "\n";
  MutexLock lock(mu_);
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
    if (!warned_)
      spdlog::warn("trace {}: write failed; further events may be lost", path_.string());
    warned_ = true;
  }
}

Result<TraceSummary> SummariseTrace(const std::filesystem::path& events_file) {
  std::ifstream in(events_file);
  if (!in) return NotFound("trace " + events_file.string() + ": no such file");
  TraceSummary s;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto parsed = ParseJson(line, "trace line");
    if (!parsed || !parsed->is_object()) {
      ++s.skipped_lines;
      continue;
    }
    const Json& e = *parsed;
    ++s.events;
    std::string type = e.value("type", "");
    s.total_ms = std::max<int64_t>(s.total_ms, e.value("ms", int64_t{0}));
    if (type == "task_start") {
      ++s.tasks;
      s.lines.push_back("task: " + e.value("task", std::string()));
    } else if (type == "task_end") {
      bool ok = e.value("success", false);
      ok ? ++s.tasks_done : ++s.tasks_failed;
      std::string reason = e.value("reason", std::string()),
                  skill = e.value("skill", std::string());
      s.lines.push_back(std::string(ok ? "  done" : "  failed") + " after " +
                        std::to_string(e.value("rounds", 0)) + " round(s)" +
                        (skill.empty() ? "" : ", skill " + skill) +
                        (reason.empty() ? "" : ": " + reason));
    } else if (type == "round") {
      ++s.rounds;
    } else if (type == "model_call") {
      ++s.model_calls;
      s.prompt_tokens += e.value("prompt_tokens", int64_t{0});
      s.cached_tokens += e.value("cached_tokens", int64_t{0});
      s.completion_tokens += e.value("completion_tokens", int64_t{0});
      s.model_ms += e.value("latency_ms", int64_t{0});
    } else if (type == "tool_call") {
      ++s.tool_calls;
      if (e.value("is_error", false)) ++s.tool_errors;
      s.tool_ms += e.value("latency_ms", int64_t{0});
    }
  }
  return s;
}

}  // namespace naut::agent

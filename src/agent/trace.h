#pragma once
// Run traces: runs/<run id>/events.jsonl in the data home, one JSON object per line, appended
// and flushed as each step happens so a killed run keeps everything up to the kill.
//
// Every event has "type", "time" (ISO 8601) and "ms" (since the run started); the agent adds
// per-step fields (prompt_tokens, cached_tokens, completion_tokens, latency_ms, tool, result_bytes,
// verdict, ...). TraceWriter is thread-safe.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "core/json.h"
#include "core/mutex.h"
#include "core/status.h"

namespace naut::agent {

class TraceWriter {
 public:
  static Result<std::unique_ptr<TraceWriter>> Open(const std::filesystem::path& runs_dir,
                                                   const std::string& run_id);
  ~TraceWriter();

  // Appends {"type": type, "time": ..., "ms": ..., ...fields}. Write errors are logged once,
  // never thrown: a full disk must not stop the agent mid-task.
  void Event(const std::string& type, Json fields = Json::object());
  const std::filesystem::path& path() const { return path_; }

 private:
  TraceWriter(std::FILE* file, std::filesystem::path path)
      : file_(file), path_(std::move(path)), start_(std::chrono::steady_clock::now()) {}
  Mutex mu_;
  std::FILE* file_ GUARDED_BY(mu_);
  bool warned_ GUARDED_BY(mu_) = false;
  std::filesystem::path path_;
  std::chrono::steady_clock::time_point start_;
};

// A summary of one trace file, for `neuronaut runs show`.
struct TraceSummary {
  int events = 0;
  int tasks = 0, tasks_done = 0, tasks_failed = 0;
  int rounds = 0, model_calls = 0, tool_calls = 0, tool_errors = 0;
  int64_t prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  int64_t model_ms = 0, tool_ms = 0, total_ms = 0;
  int skipped_lines = 0;           // lines that were not valid JSON (e.g. torn by a kill)
  std::vector<std::string> lines;  // one readable line per task event
};

Result<TraceSummary> SummariseTrace(const std::filesystem::path& events_file);

}  // namespace naut::agent

#pragma once
// What an endpoint pool went through, kept where `neuronaut llm status` (another process, run
// later) can show it: one JSON line per event, appended to <home>/logs/llm-pool.jsonl by every
// process whose pool has the journal (the agent's run, `llm ask`).
//
// Only changes are written, never every request: an endpoint that failed a request (and
// whether it was cut mid-answer), a request answered by another endpoint after such a failure,
// a request that failed everywhere, and what the health probe found (an endpoint going down,
// or back up). A journal line is written with one write() to a file opened O_APPEND, so the
// lines of several processes do not interleave. The file is moved to llm-pool.jsonl.1 when it
// passes `max_bytes`, so it stays bounded.
//
// Thread-safety: Append may be called from any number of threads at once.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/status.h"

namespace naut::llm {

// The journal's file name in the data home's logs/ folder.
inline constexpr const char* kPoolJournalName = "llm-pool.jsonl";

struct PoolEvent {
  std::string time;  // ISO 8601, UTC
  int64_t pid = 0;   // of the process whose pool saw it
  std::string endpoint;
  // "failed" (a request failed there), "answered" (by this endpoint, after failures elsewhere),
  // "gave up" (no endpoint could answer), "down" / "up" (what the health probe found)
  std::string event;
  std::string detail;  // the error, or what happened, in words
};

class PoolJournal {
 public:
  explicit PoolJournal(std::filesystem::path file, uintmax_t max_bytes = uintmax_t{1} << 20);

  // Best effort: a journal that cannot be written (its folder's parent missing, a full disk)
  // is reported in the log once, and the pool goes on. `time` and `pid` are filled in when
  // empty. The file's folder is created, not the folders above it.
  void Append(PoolEvent event);
  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  uintmax_t max_bytes_;
};

// The last `last` events of the journal (oldest first); an absent file is no events. Lines
// that do not parse are skipped.
Result<std::vector<PoolEvent>> ReadPoolJournal(const std::filesystem::path& file, size_t last);

}  // namespace naut::llm

#pragma once
// One agent per data home. The process that plays (a run, `play` on the saved game) holds an
// exclusive lock (fcntl F_OFD_SETLK) on <home>/agent.lock for as long as it lives; a second one is
// refused with the holder's run id and pid. The kernel drops the lock when its holder dies, however
// it dies, so a stale lock cannot block anyone: the id and pid written in the file only describe
// the holder, they are never trusted to decide. Read-only commands never take the lock.
//
//   auto lock = HomeLock::Acquire(home, run_id, "neuronaut run");
//   if (!lock) return Fail(lock.error());     // "...held by run 7f3a… (pid 4711, neuronaut run)"
//   if (lock->took_over()) ...                // the previous holder died holding it

#include <sys/types.h>

#include <optional>
#include <string>

#include "core/data_home.h"
#include "core/status.h"
#include "core/unique_fd.h"

namespace naut {

struct HomeLockHolder {
  std::string run_id;
  pid_t pid = 0;
  std::string what;  // "neuronaut run", "neuronaut play", ...
};

class HomeLock {
 public:
  // Takes the lock for `run_id` or fails with kFailedPrecondition naming the holder. The lock
  // descriptor is close-on-exec, so child processes (MCP servers, the sandbox) never keep it.
  static Result<HomeLock> Acquire(const DataHome& home, const std::string& run_id,
                                  const std::string& what);

  // Who holds the lock now, or nullopt when nobody does (for status displays).
  static std::optional<HomeLockHolder> Holder(const DataHome& home);

  // The holder described in the file when this lock was taken, if one had died holding it.
  const std::optional<HomeLockHolder>& took_over() const { return took_over_; }

  HomeLock(HomeLock&&) = default;
  HomeLock& operator=(HomeLock&&) = default;
  ~HomeLock();

 private:
  HomeLock() = default;
  UniqueFd fd_;  // holds the lock
  std::optional<HomeLockHolder> took_over_;
};

}  // namespace naut

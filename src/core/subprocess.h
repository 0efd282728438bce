#pragma once
// Child processes: spawn with pipes, wait with a deadline, kill the whole process group.
//
// A Subprocess owns its pipes and its child. Destroying a running Subprocess kills its
// process group with SIGKILL and reaps it, so no child outlives its owner by accident.
// One thread at a time may use a Subprocess; different Subprocess objects are independent.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace naut {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is looked up on PATH
  // Variables added to (or replacing those of) the inherited environment.
  std::map<std::string, std::string> env;
  bool clear_env = false;     // start from an empty environment instead of the inherited one
  std::filesystem::path cwd;  // empty: inherit
  bool pipe_stdin = true;     // false: /dev/null
  bool pipe_stdout = true;    // false: inherit
  bool pipe_stderr = true;    // false: inherit
  bool new_process_group = true;
  // Linux PR_SET_PDEATHSIG: the signal the child gets when its parent dies, so that it cannot
  // outlive us even when we are SIGKILLed (no destructor runs then). 0: none. The kernel's
  // "parent" is the *thread* that spawned the child: the signal comes as soon as that thread
  // exits, so spawn from a thread that lives as long as the child should (not a short-lived
  // worker). Kept across exec except for set-user-ID programs.
  int parent_death_signal = 0;
};

struct ExitStatus {
  int exit_code = -1;  // valid when signal == 0
  int signal = 0;      // the signal that ended the process, or 0
  bool success() const { return signal == 0 && exit_code == 0; }
  std::string ToString() const;  // "exit code 3" / "killed by signal 9 (Killed)"
};

class Subprocess {
 public:
  static Result<std::unique_ptr<Subprocess>> Spawn(const SpawnOptions& options);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  // -1 when that stream is not piped or has been closed.
  int stdin_fd() const { return stdin_fd_; }
  int stdout_fd() const { return stdout_fd_; }
  int stderr_fd() const { return stderr_fd_; }
  void CloseStdin();

  // Non-blocking check; the status once the child has ended.
  std::optional<ExitStatus> TryWait();
  ExitStatus Wait();
  std::optional<ExitStatus> WaitFor(std::chrono::milliseconds timeout);
  // Sends `sig` to the child's process group (or the child alone without one).
  void Signal(int sig);
  // SIGTERM, then SIGKILL after `grace`; returns the final status.
  ExitStatus Terminate(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));
  bool running() const { return !status_.has_value(); }

 private:
  Subprocess() = default;
  pid_t pid_ = -1;
  bool group_ = false;
  int stdin_fd_ = -1, stdout_fd_ = -1, stderr_fd_ = -1;
  std::optional<ExitStatus> status_;
};

struct CommandResult {
  ExitStatus status;
  std::string out;
  std::string err;
  bool timed_out = false;
};

// Runs a command to completion, feeding `input` to its stdin and collecting its output.
// On timeout the process group is killed and timed_out is set.
Result<CommandResult> RunCommand(const SpawnOptions& options, std::string_view input = {},
                                 std::chrono::milliseconds timeout = std::chrono::minutes(5));

// Full path of `program` on PATH, if it is there and executable.
std::optional<std::filesystem::path> FindOnPath(std::string_view program);

}  // namespace naut

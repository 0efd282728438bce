#pragma once
// The four steps of `sandbox::Run`, each with its own test (sandbox_test.cc):
//
//   Plan      (pure)  Spec + who calls          -> RunPlan: mount plan, argv, env, ids, rlimits
//   Launch            RunPlan                   -> LaunchedChild: pipes, clone3, id maps, released
//   Supervise         LaunchedChild + limits    -> RawOutcome: output, report bytes, which stop
//   Classify  (pure)  RawOutcome + limits       -> RunResult the caller sees, which limit was hit
//
// Plan and Classify touch no process: Plan reads the host's file system (canonical workspace,
// which system paths exist) and compiles the seccomp program once; Classify only decodes.
// Thread-safety: every step may run on several threads at once for different runs; one run's
// values (RunPlan, LaunchedChild, RawOutcome) belong to the thread running it.

#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include "core/status.h"
#include "core/unique_fd.h"
#include "sandbox/launch_plan.h"
#include "sandbox/sandbox.h"

namespace naut::sandbox::internal {

// ---- Plan ----------------------------------------------------------------------------------

// The effective ids of the process calling Run (root decides which host id the command gets).
struct Caller {
  uid_t uid = 0;
  gid_t gid = 0;
  bool root() const { return uid == 0; }
};
Caller CurrentCaller();

// Everything a run needs before any process exists.
struct RunPlan {
  LaunchPlan child;  // what the child does; Launch fills in its pipe ends and argv/envp
  std::filesystem::path workspace;  // canonical host path
  bool isolated = true;
  // Isolated only: the user namespace's maps, kInsideId -> the host id the command runs as
  // (the caller's, or kHostIdWhenRoot for root). setgroups is denied first unless the caller is
  // root, as the kernel requires of an unprivileged writer of gid_map.
  bool deny_setgroups = false;
  std::string uid_map, gid_map;
  // The caller is root: the workspace is handed to kHostIdWhenRoot before the child starts.
  bool hand_workspace = false;
  Limits limits;
  std::string program;  // argv[0] as given, for messages
};

// Checks `spec` (command line, workspace, workdir, binds) and builds the run's plan. Errors:
// kInvalidArgument for a bad spec, kNotFound for a bind source that is not there, and the
// seccomp compiler's error.
Result<RunPlan> Plan(const Spec& spec, const Caller& caller);

// ---- Launch --------------------------------------------------------------------------------

// Free space of the workspace's file system; `valid` is false when statfs failed.
struct DiskUsage {
  bool valid = false;
  int64_t free_bytes = 0;
  int64_t free_inodes = 0;
};
DiskUsage MeasureDisk(const std::filesystem::path& dir);

// A child Launch started and released: PID 1 of the sandbox's namespaces (isolated) or the
// command itself (unisolated). Owned by the thread running the run. Until Reap, destroying it
// kills and reaps the child, so no early return leaves a process behind.
class LaunchedChild {
 public:
  LaunchedChild(pid_t pid, bool isolated, UniqueFd pidfd);
  LaunchedChild(LaunchedChild&& other) noexcept;
  LaunchedChild& operator=(LaunchedChild&&) = delete;
  ~LaunchedChild();

  pid_t pid() const { return pid_; }
  bool isolated() const { return isolated_; }
  int pidfd() const { return pidfd_.get(); }

  // Kills every process of the run: PID 1 of the namespace (which takes the rest with it), or
  // unisolated the command's session and the command.
  void KillAll() const;
  // Waits for the child; returns its wait status and fills `usage` (its own and that of the
  // processes it reaped). Unisolated, what is left of the command's session is killed after.
  int Reap(rusage& usage);

  // The parent's ends of the pipes, non-blocking. stdin_w is closed once stdin is fed.
  UniqueFd stdin_w, stdout_r, stderr_r, report_r;
  DiskUsage disk_at_start;                      // the workspace's file system before the clone
  std::chrono::steady_clock::time_point start;  // just before the clone

 private:
  pid_t pid_ = -1;  // -1: reaped, or moved from
  bool isolated_ = true;
  UniqueFd pidfd_;
};

// Hands the workspace over when asked, makes the pipes, clones (with new namespaces when
// isolated), writes the id maps and releases the child. Errors: kFailedPrecondition when
// namespaces cannot be created (saying why) or the id maps cannot be written, kPermissionDenied
// when the workspace cannot be handed over, kResourceExhausted / kInternal for the rest.
Result<LaunchedChild> Launch(RunPlan& plan);

// ---- Supervise -----------------------------------------------------------------------------

// One output stream, capped: beyond `cap` bytes only the count grows.
struct CappedStream {
  std::string text;
  int64_t total = 0;
  size_t cap = 0;

  void Add(const char* data, size_t n) {
    total += static_cast<int64_t>(n);
    if (text.size() < cap) text.append(data, std::min(n, cap - text.size()));
  }
  bool truncated() const { return total > static_cast<int64_t>(text.size()); }
  // The text, ended by a visible marker when bytes were dropped.
  std::string Finish() &&;
};

// What a finished run left, before anything is read into it.
struct RawOutcome {
  LimitHit stop = LimitHit::kNone;  // a stop the supervisor made: wall time, disk, files, cancel
  int launched_status = 0;          // wait status of the launched child (PID 1 when isolated)
  double wall_s = 0;
  double cpu_s = 0;            // user + system of the launched child and all it reaped
  int64_t peak_memory_kb = 0;  // largest resident set among them
  CappedStream out, err;
  std::string report;  // the bytes the child wrote on the report pipe (ReportRecords)
};

// Feeds stdin and collects output until the launched child exits; stops the run (KillAll) at
// the wall-clock limit, when the workspace's file system lost more than limits.disk_mb or
// limits.max_new_files since the start (checked every 100 ms), or when `cancel` is requested.
// Reaps the child. Errors: kInternal when poll fails (the run is killed).
Result<RawOutcome> Supervise(LaunchedChild& child, std::string_view stdin_data,
                             const Limits& limits, const std::filesystem::path& workspace,
                             std::stop_token cancel);

// ---- Classify ------------------------------------------------------------------------------

// The command's wait status from the report bytes, if the child reported one. Whole records
// are read in order; a trailing partial record and unknown tags are ignored. Errors: kInternal
// naming the setup step that failed, kNotFound when `program` could not be executed.
Result<std::optional<int>> DecodeReport(std::string_view report, std::string_view program);

// The result the caller sees: the command's own status (from the report; unisolated, the
// launched child's), the capped output, and which limit ended it: the supervisor's stop, else
// what the ending shows (SIGXCPU, or SIGKILL after the CPU limit's seconds; SIGXFSZ; a failure
// whose stderr tells of an allocation that failed). Errors: DecodeReport's, and kInternal for an
// isolated run that ended with no report and no stop to explain it.
Result<RunResult> Classify(RawOutcome raw, bool isolated, const Limits& limits,
                           std::string_view program);

// For a person: "wall-clock limit of 5 s reached; every process of the run was killed".
// Empty for kNone.
std::string LimitDetail(LimitHit hit, const Limits& limits);

}  // namespace naut::sandbox::internal

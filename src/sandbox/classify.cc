// Classify: from what a run left to the result the caller sees (see run_steps.h).

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>

#include "sandbox/run_steps.h"

namespace naut::sandbox::internal {

namespace {

std::string Errno(int error) { return std::strerror(error); }

std::string FormatSeconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g s", s);
  return buf;
}

// Output that tells an allocation failed; the address-space limit has no counter of its own.
bool LooksOutOfMemory(const std::string& err) {
  for (const char* marker : {"MemoryError", "std::bad_alloc", "Cannot allocate memory",
                             "out of memory", "Out of memory", "memory exhausted"}) {
    if (err.find(marker) != std::string::npos) return true;
  }
  return false;
}

// The limit a command's own ending shows, when no stop of the supervisor explains it.
LimitHit LimitFromEnding(const RunResult& result, const Limits& limits) {
  // Shells report a signalled child as 128 + signal.
  auto ended_by = [&](int sig) {
    return result.signal == sig || (result.signal == 0 && result.exit_code == 128 + sig);
  };
  // Past the soft CPU limit a process that ignores SIGXCPU gets SIGKILL at the hard one.
  if (ended_by(SIGXCPU) || (result.signal == SIGKILL && result.cpu_s >= std::ceil(limits.cpu_s)))
    return LimitHit::kCpuTime;
  if (ended_by(SIGXFSZ)) return LimitHit::kFileSize;
  if (!(result.signal == 0 && result.exit_code == 0) && LooksOutOfMemory(result.err))
    return LimitHit::kMemory;
  return LimitHit::kNone;
}

}  // namespace

Result<std::optional<int>> DecodeReport(std::string_view report, std::string_view program) {
  std::optional<int> command_status;
  for (size_t off = 0; off + sizeof(ReportRecord) <= report.size(); off += sizeof(ReportRecord)) {
    ReportRecord record;
    std::memcpy(&record, report.data() + off, sizeof(record));
    if (record.tag == kReportSetupError) {
      record.what[sizeof(record.what) - 1] = '\0';
      return Internal("sandbox: setting up the sandbox failed at '" + std::string(record.what) +
                      "': " + Errno(record.error));
    }
    if (record.tag == kReportExecError) {
      return NotFound("sandbox: cannot execute '" + std::string(program) +
                      "': " + Errno(record.error));
    }
    if (record.tag == kReportExit) command_status = record.wait_status;
  }
  return command_status;
}

std::string LimitDetail(LimitHit hit, const Limits& limits) {
  switch (hit) {
    case LimitHit::kNone:
      return "";
    case LimitHit::kWallTime:
      return "wall-clock limit of " + FormatSeconds(limits.wall_s) +
             " reached; every process of the run was killed";
    case LimitHit::kCpuTime:
      // The soft limit the plan set: whole seconds, at least one.
      return "CPU time limit of " + FormatSeconds(std::max(1.0, std::ceil(limits.cpu_s))) +
             " per process reached";
    case LimitHit::kMemory:
      return "memory limit of " + std::to_string(limits.memory_mb) +
             " MiB (address space per process) reached";
    case LimitHit::kFileSize:
      return "file size limit of " + std::to_string(limits.file_size_mb) + " MiB reached";
    case LimitHit::kDisk:
      return "disk limit of " + std::to_string(limits.disk_mb) +
             " MiB written to the workspace reached; every process of the run was killed";
    case LimitHit::kFiles:
      return "limit of " + std::to_string(limits.max_new_files) +
             " new files in the workspace reached; every process of the run was killed";
    case LimitHit::kCancelled:
      return "cancelled by the caller; every process of the run was killed";
  }
  return "";
}

Result<RunResult> Classify(RawOutcome raw, bool isolated, const Limits& limits,
                           std::string_view program) {
  NAUT_ASSIGN_OR_RETURN(std::optional<int> command_status, DecodeReport(raw.report, program));
  // Isolated, PID 1 always reports before it exits; only a kill of ours may cut it short.
  if (isolated && !command_status && raw.stop == LimitHit::kNone) {
    const int s = raw.launched_status;
    return Internal("sandbox: the sandbox ended without a report (" +
                    std::string(WIFSIGNALED(s) ? "signal " + std::to_string(WTERMSIG(s))
                                               : "status " + std::to_string(WEXITSTATUS(s))) +
                    ")");
  }

  RunResult result;
  result.isolated = isolated;
  result.wall_s = raw.wall_s;
  result.cpu_s = raw.cpu_s;
  result.peak_memory_kb = raw.peak_memory_kb;
  const int status = command_status.value_or(raw.launched_status);
  if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  } else {
    result.exit_code = WEXITSTATUS(status);
  }
  // Stopped before the command's status was known: the stop's SIGKILL ended it.
  if (raw.stop != LimitHit::kNone && !command_status) {
    result.signal = SIGKILL;
    result.exit_code = -1;
  }
  result.out_truncated = raw.out.truncated();
  result.err_truncated = raw.err.truncated();
  result.out_bytes = raw.out.total;
  result.err_bytes = raw.err.total;
  result.out = std::move(raw.out).Finish();
  result.err = std::move(raw.err).Finish();
  result.limit = raw.stop != LimitHit::kNone ? raw.stop : LimitFromEnding(result, limits);
  result.limit_detail = LimitDetail(result.limit, limits);
  return result;
}

}  // namespace naut::sandbox::internal

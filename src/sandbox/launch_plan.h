#pragma once
// What a sandboxed child does between clone and exec, prepared in full by the parent.
//
// The parent may have other threads, so after clone the child must not allocate or take
// locks: every string, path, argument vector and the seccomp program are built here
// beforehand, and the child only walks this plan with raw system calls. A failure in the
// child is reported on `report_fd` as a Report record and ends the child.

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace naut::sandbox::internal {

// One step of building the sandbox's root file system. Paths are absolute in the
// intermediate layout the child uses: the host's root at /oldroot, the new root at /newroot.
struct MountStep {
  enum class Kind {
    kMkdir,       // target (mode 0755); existing is fine
    kBind,        // bind `source` on `target` (a directory, or a file already created)
    kCreateFile,  // an empty file to bind a file on
    kTmpfs,       // tmpfs with `data` as mount options
    kProc,        // a fresh procfs for the new PID namespace
    kSymlink,     // target -> source
    kWriteFile,   // target gets `data`
  };
  Kind kind;
  std::string source;
  std::string target;
  std::string data;
  bool read_only = true;  // binds: remount read-only (and nosuid, nodev)
  bool device = false;    // binds of device nodes: keep them usable (no nodev)
  bool optional = false;  // binds: a missing source is skipped
};

// Records the child writes on the report pipe (each one write(), so never interleaved).
enum ReportTag : uint8_t { kReportSetupError = 'S', kReportExecError = 'X', kReportExit = 'R' };
struct ReportRecord {
  uint8_t tag;
  int32_t error;        // errno for S and X
  int32_t wait_status;  // R: the command's wait status
  char what[200];       // S: the step that failed, with its path
};

struct LaunchPlan {
  bool isolated = true;
  std::vector<MountStep> steps;

  // exec: candidates tried in order until one is not ENOENT.
  std::vector<std::string> exec_paths;
  std::vector<std::string> args, env;
  std::vector<char*> argv, envp;  // point into args / env, null-terminated

  std::string workdir;  // chdir target of the command
  std::string hostname = "sandbox";
  uid_t inside_uid = 0;  // setresuid/setresgid target of the command
  gid_t inside_gid = 0;
  bool change_ids = false;
  bool drop_groups = false;

  struct Limit {
    int resource;
    rlimit value;
  };
  std::vector<Limit> limits;
  const std::vector<sock_filter>* seccomp = nullptr;

  // Child ends of the pipes; every other descriptor is closed in the child.
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1, sync_fd = -1, report_fd = -1;

  // Makes argv/envp point into args/env; call after filling them and before cloning.
  void Finish();
};

// Entry points run in the cloned child; they never return.
// Isolated: the child is PID 1 of a new PID namespace; it builds the root, forks the
// command, reaps everything and reports the command's status.
[[noreturn]] void RunSandboxInit(const LaunchPlan& plan);
// Unisolated: the child becomes the command directly.
[[noreturn]] void RunUnisolatedChild(const LaunchPlan& plan);

}  // namespace naut::sandbox::internal

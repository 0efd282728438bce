#pragma once
// Isolated execution of untrusted commands (code a model wrote).
//
// `Run` starts the command in fresh user, PID, mount, network, IPC, UTS and cgroup namespaces
// with a minimal read-only view of the system (/usr, /lib*, /bin, /sbin, a few /etc files),
// the caller's workspace read-write at /work, a private size-capped /tmp, its own /proc and
// a /dev holding only null, zero, full, random and urandom. The network namespace holds only
// a private loopback. The command runs as uid/gid 1000 inside (an unprivileged host uid: the
// caller's own, or kHostIdWhenRoot when the caller is root) with no capabilities, no_new_privs
// and a seccomp filter refusing what sandboxed code has no business doing (ptrace, mount,
// namespaces, kexec, bpf, keyctl, perf, module loading, io_uring, non-IP sockets, ...).
// Quotas: rlimits for CPU seconds, address space, processes, file size and open files; a
// wall-clock limit that kills the whole PID namespace; a cap on bytes and on files added to
// the workspace's file system during the run; stdout and stderr capped with a visible marker.
//
// Where namespaces cannot be created the isolated mode refuses with kFailedPrecondition and
// says why. `Mode::kUnisolated` (only when asked for by name, e.g. `[sandbox] mode =
// "unisolated"`) runs the command as a plain child with the same rlimits, seccomp filter and
// wall-clock limit but shares the host's file system and network; its results have
// `isolated == false`.
//
// Thread-safety: `Run` may be called from several threads at once; each call owns its child
// processes and never returns while one of them is alive. The calling thread must stay alive
// for the duration of the call (the sandbox's init dies with it: PR_SET_PDEATHSIG).

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/json.h"
#include "core/status.h"

namespace naut::sandbox {

enum class Mode { kIsolated, kUnisolated };

// "isolated" | "unisolated"; anything else is an error naming the value.
Result<Mode> ParseMode(std::string_view text);

// The uid and gid the sandboxed code has inside its namespace.
inline constexpr uid_t kInsideId = 1000;
// The host uid/gid sandboxed code runs as when the caller is root (the workspace is handed
// to this id before each run). Chosen to own nothing on a normal system.
inline constexpr uid_t kHostIdWhenRoot = 1999999;
// Where the workspace appears inside the sandbox.
inline constexpr std::string_view kInsideWorkspace = "/work";

struct Limits {
  double cpu_s = 30;              // per process (RLIMIT_CPU)
  double wall_s = 60;             // the whole tree
  int64_t memory_mb = 1024;       // address space per process (RLIMIT_AS)
  int processes = 64;             // RLIMIT_NPROC, counted in the sandbox's own user namespace
  int64_t file_size_mb = 64;      // RLIMIT_FSIZE
  int open_files = 256;           // RLIMIT_NOFILE
  int64_t output_kb = 64;         // each of stdout and stderr, beyond it output is dropped
  int64_t disk_mb = 1024;         // bytes the workspace's file system may grow by during a run
  int64_t max_new_files = 20000;  // inodes it may gain during a run
  int64_t tmp_mb = 256;           // the private /tmp (and /dev/shm) tmpfs size

  static Limits FromConfig(const SandboxConfig& config);
};

// An extra host path made visible inside (a toolchain outside /usr, a read-only input).
struct BindMount {
  std::filesystem::path host;    // absolute, must exist
  std::filesystem::path inside;  // absolute; empty: same as host
  bool writable = false;
};

struct Spec {
  // argv[0]: a path (used as given), or a bare name looked up in /usr/local/bin, /usr/bin, /bin,
  // /usr/local/sbin, /usr/sbin, /sbin.
  std::vector<std::string> argv;
  std::string stdin_data;           // fed to stdin, then closed
  std::filesystem::path workspace;  // host directory, mounted read-write at /work
  std::string workdir;              // relative to the workspace; empty: the workspace itself
  // Over PATH, HOME (/tmp; unisolated the workspace), TMPDIR=/tmp, LANG, USER and
  // PYTHONDONTWRITEBYTECODE; an entry here replaces the default of its name.
  std::map<std::string, std::string> env;
  std::vector<BindMount> binds;
  Limits limits;
  Mode mode = Mode::kIsolated;
};

// Which limit ended the run (kNone: it ended by itself).
enum class LimitHit { kNone, kWallTime, kCpuTime, kMemory, kFileSize, kDisk, kFiles, kCancelled };
std::string_view LimitName(LimitHit hit);

struct RunResult {
  int exit_code = -1;  // valid when signal == 0
  int signal = 0;      // the signal that ended the command, or 0
  LimitHit limit = LimitHit::kNone;
  std::string limit_detail;  // what was hit, for a person ("wall-clock limit of 5 s")
  std::string out, err;      // capped; a truncation marker ends a capped stream
  bool out_truncated = false, err_truncated = false;
  int64_t out_bytes = 0, err_bytes = 0;  // what the command wrote in total
  double wall_s = 0;
  double cpu_s = 0;            // user + system of every reaped process of the run
  int64_t peak_memory_kb = 0;  // largest resident set of any one process of the run
  bool isolated = true;

  bool success() const { return signal == 0 && exit_code == 0 && limit == LimitHit::kNone; }
  // "exit code 0" / "killed by signal 9 (wall-clock limit of 5 s)" ...
  std::string Describe() const;
  Json ToJson() const;
};

// Runs `spec` to completion (or until a limit or `cancel`). Errors are for runs that could
// not start (no namespaces, bad workspace, a program that is not there), never for what the
// command itself did. The steps it takes, each tested alone, are in run_steps.h.
Result<RunResult> Run(const Spec& spec, std::stop_token cancel = {});

// Whether the isolated mode works here; the error says why not (for `neuronaut doctor`).
Status CheckIsolationAvailable();

}  // namespace naut::sandbox

#include "sandbox/sandbox.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>
#include <system_error>

#include "core/beneath.h"
#include "core/unique_fd.h"
#include "sandbox/launch_plan.h"
#include "sandbox/seccomp_filter.h"

namespace naut::sandbox {

using internal::LaunchPlan;
using internal::MountStep;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kMiB = 1024 * 1024;

std::string Errno(int error) { return std::strerror(error); }

using Fd = UniqueFd;

// Both ends get O_CLOEXEC and numbers above 2, so that the child's dup2 onto 0..2 never
// clobbers another of its pipes.
Status MakePipe(Fd& read_end, Fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return ResourceExhausted("sandbox: pipe: " + Errno(errno));
  for (int& fd : fds) {
    if (fd <= 2) {
      int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
      ::close(fd);
      fd = moved;
    }
  }
  read_end = Fd(fds[0]);
  write_end = Fd(fds[1]);
  return Status::Ok();
}

// The /etc entries programs commonly need (dynamic linker, alternatives, time zone, Python's
// own configuration); passwd, group and hosts are written fresh instead of exposing the host's.
constexpr const char* kEtcEntries[] = {
    "ld.so.cache",   "ld.so.conf", "ld.so.conf.d", "alternatives",    "localtime", "timezone",
    "nsswitch.conf", "protocols",  "services",     "mime.types",      "python3",   "python3.11",
    "python3.12",    "python3.13", "gcc",          "ssl/openssl.cnf",
};
constexpr const char* kSystemDirs[] = {"/usr",    "/lib", "/lib64", "/lib32",
                                       "/libx32", "/bin", "/sbin"};
constexpr const char* kDevices[] = {"null", "zero", "full", "random", "urandom"};
// Places an extra bind may not land on: they are built by the sandbox itself.
constexpr const char* kReservedInside[] = {"/usr",  "/lib", "/lib64", "/lib32", "/libx32", "/bin",
                                           "/sbin", "/etc", "/proc",  "/dev",   "/tmp",    "/work"};

bool IsUnder(const fs::path& path, std::string_view prefix) {
  std::string p = path.lexically_normal().string();
  return p == prefix || (p.size() > prefix.size() && p.compare(0, prefix.size(), prefix) == 0 &&
                         p[prefix.size()] == '/');
}

class PlanBuilder {
 public:
  explicit PlanBuilder(LaunchPlan& plan) : plan_(plan) {}

  void Mkdirs(const fs::path& inside) {
    fs::path current = "/newroot";
    for (const auto& part : inside.relative_path()) {
      current /= part;
      if (made_.insert(current.string()).second) {
        plan_.steps.push_back({MountStep::Kind::kMkdir, "", current.string()});
      }
    }
  }
  static std::string Inside(const fs::path& inside) { return "/newroot" + inside.string(); }
  static std::string Host(const fs::path& host) { return "/oldroot" + host.string(); }

  // Mirrors a host path (directory, file or symlink) read-only at the same place inside.
  void Mirror(const fs::path& host) {
    std::error_code ec;
    auto status = fs::symlink_status(host, ec);
    if (ec || !fs::exists(status)) return;
    if (fs::is_symlink(status)) {
      auto target = fs::read_symlink(host, ec);
      if (ec) return;
      Mkdirs(host.parent_path());
      plan_.steps.push_back({MountStep::Kind::kSymlink, target.string(), Inside(host)});
    } else if (fs::is_directory(status)) {
      Mkdirs(host);
      plan_.steps.push_back(
          {MountStep::Kind::kBind, Host(host), Inside(host), "", true, false, true});
    } else {
      BindFile(host, host, true);
    }
  }

  void BindFile(const fs::path& host, const fs::path& inside, bool read_only, bool device = false) {
    Mkdirs(inside.parent_path());
    plan_.steps.push_back({MountStep::Kind::kCreateFile, "", Inside(inside)});
    plan_.steps.push_back(
        {MountStep::Kind::kBind, Host(host), Inside(inside), "", read_only, device, false});
  }

  void BindDir(const fs::path& host, const fs::path& inside, bool read_only) {
    Mkdirs(inside);
    plan_.steps.push_back(
        {MountStep::Kind::kBind, Host(host), Inside(inside), "", read_only, false, false});
  }

  void Tmpfs(const fs::path& inside, std::string options) {
    Mkdirs(inside);
    plan_.steps.push_back({MountStep::Kind::kTmpfs, "", Inside(inside), std::move(options)});
  }

  void Write(const fs::path& inside, std::string content) {
    Mkdirs(inside.parent_path());
    plan_.steps.push_back({MountStep::Kind::kWriteFile, "", Inside(inside), std::move(content)});
  }

  void Symlink(const std::string& target, const fs::path& inside) {
    Mkdirs(inside.parent_path());
    plan_.steps.push_back({MountStep::Kind::kSymlink, target, Inside(inside)});
  }

  void Proc() {
    Mkdirs("/proc");
    plan_.steps.push_back({MountStep::Kind::kProc, "", "/newroot/proc"});
    // What the sandbox's own procfs still offers about the machine stays read-only.
    for (const char* sub : {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"}) {
      plan_.steps.push_back(
          {MountStep::Kind::kBind, Inside(sub), Inside(sub), "", true, false, true});
    }
  }

 private:
  LaunchPlan& plan_;
  std::set<std::string> made_{"/newroot"};
};

Status BuildRootSteps(const Spec& spec, const fs::path& workspace, LaunchPlan& plan) {
  PlanBuilder b(plan);
  for (const char* dir : kSystemDirs) b.Mirror(dir);
  b.Mkdirs("/etc");
  for (const char* entry : kEtcEntries) b.Mirror(fs::path("/etc") / entry);
  const std::string id = std::to_string(kInsideId);
  b.Write(
      "/etc/passwd",
      "root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:" + id + ":" + id +
          ":sandbox:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
  b.Write("/etc/group", "root:x:0:\nsandbox:x:" + id + ":\nnogroup:x:65534:\n");
  b.Write("/etc/hosts", "127.0.0.1 localhost sandbox\n::1 localhost ip6-localhost ip6-loopback\n");
  b.Write("/etc/hostname", "sandbox\n");

  b.Tmpfs("/dev", "size=64k,nr_inodes=64,mode=0755");
  for (const char* dev : kDevices)
    b.BindFile(fs::path("/dev") / dev, fs::path("/dev") / dev, false, true);
  b.Symlink("/proc/self/fd", "/dev/fd");
  b.Symlink("/proc/self/fd/0", "/dev/stdin");
  b.Symlink("/proc/self/fd/1", "/dev/stdout");
  b.Symlink("/proc/self/fd/2", "/dev/stderr");
  const std::string tmp_options = "size=" + std::to_string(spec.limits.tmp_mb) +
                                  "m,nr_inodes=" + std::to_string(spec.limits.max_new_files) +
                                  ",mode=1777";
  b.Tmpfs("/dev/shm", tmp_options);
  b.Proc();
  b.Tmpfs("/tmp", tmp_options);
  b.BindDir(workspace, kInsideWorkspace, false);
  b.Mkdirs("/run");
  for (const auto& bind : spec.binds) {
    fs::path inside = bind.inside.empty() ? bind.host : bind.inside;
    if (!bind.host.is_absolute() || !inside.is_absolute()) {
      return InvalidArgument("sandbox: bind paths must be absolute: '" + bind.host.string() +
                             "' -> '" + inside.string() + "'");
    }
    for (const char* reserved : kReservedInside) {
      if (IsUnder(inside, reserved) || IsUnder(reserved, inside.string())) {
        return InvalidArgument("sandbox: a bind may not be placed at '" + inside.string() + "' (" +
                               reserved + " is built by the sandbox)");
      }
    }
    std::error_code ec;
    fs::path host = fs::canonical(bind.host, ec);
    if (ec) return NotFound("sandbox: bind source '" + bind.host.string() + "': " + ec.message());
    if (fs::is_directory(host)) {
      b.BindDir(host, inside.lexically_normal(), !bind.writable);
    } else {
      b.BindFile(host, inside.lexically_normal(), !bind.writable);
    }
  }
  return Status::Ok();
}

// When the caller is root the command runs as kHostIdWhenRoot, so the workspace must be its.
// The walk goes through descriptors and never follows a link: code of a run still going in the
// same workspace may swap a directory for a link to a host directory, whose files must never be
// handed to the sandbox user.
Status HandWorkspaceTo(const fs::path& workspace, uid_t id) {
  Fd dir(::open(workspace.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dir.get() < 0)
    return PermissionDenied("sandbox: cannot open workspace '" + workspace.string() +
                            "': " + Errno(errno));
  struct stat st;
  if (::fstat(dir.get(), &st) == 0 && (st.st_uid != id || st.st_gid != id) &&
      ::fchown(dir.get(), id, id) != 0) {
    return PermissionDenied("sandbox: cannot hand '" + workspace.string() +
                            "' to the sandbox user: " + Errno(errno));
  }
  Status walked = WalkTreeAt(
      dir.get(), [&](int parent, const std::string& name, const struct stat& entry) -> Status {
        if (entry.st_uid == id && entry.st_gid == id) return Status::Ok();
        if (::fchownat(parent, name.c_str(), id, id, AT_SYMLINK_NOFOLLOW) != 0 && errno != ENOENT) {
          return PermissionDenied("sandbox: cannot hand '" + name + "' in '" + workspace.string() +
                                  "' to the sandbox user: " + Errno(errno));
        }
        return Status::Ok();
      });
  return walked.ok()
             ? walked
             : walked.WithContext("sandbox: walking workspace '" + workspace.string() + "'");
}

std::vector<std::string> ExecCandidates(const std::string& program, bool isolated) {
  if (program.find('/') != std::string::npos) return {program};
  std::vector<std::string> out;
  for (const char* dir :
       {"/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin"}) {
    out.push_back(std::string(dir) + "/" + program);
  }
  (void)isolated;
  return out;
}

Status WriteProcFile(pid_t pid, const char* name, const std::string& content) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + name;
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (fd.get() < 0) return FailedPrecondition("sandbox: open " + path + ": " + Errno(errno));
  if (::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
    return FailedPrecondition("sandbox: write " + path + " ('" + content + "'): " + Errno(errno));
  }
  return Status::Ok();
}

// Output of one stream, capped.
struct Capture {
  std::string text;
  int64_t total = 0;
  size_t cap = 0;
  void Add(const char* data, size_t n) {
    total += static_cast<int64_t>(n);
    if (text.size() < cap) text.append(data, std::min(n, cap - text.size()));
  }
  bool truncated() const { return total > static_cast<int64_t>(text.size()); }
  std::string Finish() {
    if (truncated()) {
      text += "\n[sandbox: output truncated, " +
              std::to_string(total - static_cast<int64_t>(text.size())) +
              " more bytes not shown]\n";
    }
    return std::move(text);
  }
};

// Drains what is readable now; false once the stream reached end of file.
bool Drain(int fd, Capture& capture) {
  std::array<char, 65536> buffer;
  for (;;) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n > 0) {
      capture.Add(buffer.data(), static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

// Writes as much of `data` as the pipe takes without raising SIGPIPE in this process.
// Returns false when the reader is gone.
bool FeedStdin(int fd, const std::string& data, size_t& offset) {
  sigset_t pipe_set, old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  bool alive = true;
  while (offset < data.size()) {
    ssize_t n = ::write(fd, data.data() + offset, data.size() - offset);
    if (n > 0) {
      offset += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EPIPE) {
      timespec zero{0, 0};
      sigtimedwait(&pipe_set, nullptr, &zero);  // consume the pending SIGPIPE
      alive = false;
    }
    break;
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  return alive;
}

struct DiskUsage {
  bool valid = false;
  int64_t free_bytes = 0;
  int64_t free_inodes = 0;
};

DiskUsage Measure(const fs::path& dir) {
  struct statfs st;
  if (::statfs(dir.c_str(), &st) != 0) return {};
  return {true, static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_bsize),
          static_cast<int64_t>(st.f_ffree)};
}

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

}  // namespace

Result<Mode> ParseMode(std::string_view text) {
  if (text == "isolated") return Mode::kIsolated;
  if (text == "unisolated") return Mode::kUnisolated;
  return InvalidArgument("sandbox: mode '" + std::string(text) +
                         "' is not one of isolated, unisolated");
}

Limits Limits::FromConfig(const SandboxConfig& config) {
  Limits l;
  l.cpu_s = config.cpu_s;
  l.wall_s = config.wall_s;
  l.memory_mb = config.memory_mb;
  l.processes = config.processes;
  l.file_size_mb = config.file_size_mb;
  l.open_files = config.open_files;
  l.output_kb = config.output_kb;
  return l;
}

std::string_view LimitName(LimitHit hit) {
  switch (hit) {
    case LimitHit::kNone:
      return "none";
    case LimitHit::kWallTime:
      return "wall_time";
    case LimitHit::kCpuTime:
      return "cpu_time";
    case LimitHit::kMemory:
      return "memory";
    case LimitHit::kFileSize:
      return "file_size";
    case LimitHit::kDisk:
      return "disk";
    case LimitHit::kFiles:
      return "files";
    case LimitHit::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

std::string RunResult::Describe() const {
  std::string text =
      signal != 0 ? "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")"
                  : "exit code " + std::to_string(exit_code);
  if (limit != LimitHit::kNone) text += "; " + limit_detail;
  if (!isolated) text += "; NOT ISOLATED (sandbox mode 'unisolated')";
  return text;
}

Json RunResult::ToJson() const {
  Json j = {
      {"exit_code", signal != 0 ? Json(nullptr) : Json(exit_code)},
      {"signal", signal != 0 ? Json(signal) : Json(nullptr)},
      {"limit", limit == LimitHit::kNone ? Json(nullptr) : Json(std::string(LimitName(limit)))},
      {"stdout", out},
      {"stderr", err},
      {"stdout_truncated", out_truncated},
      {"stderr_truncated", err_truncated},
      {"wall_s", wall_s},
      {"cpu_s", cpu_s},
      {"peak_memory_kb", peak_memory_kb},
      {"isolated", isolated}};
  if (limit != LimitHit::kNone) j["limit_detail"] = limit_detail;
  return j;
}

Result<RunResult> Run(const Spec& spec, std::stop_token cancel) {
  if (spec.argv.empty() || spec.argv[0].empty())
    return InvalidArgument("sandbox: empty command line");
  std::error_code ec;
  fs::path workspace = fs::canonical(spec.workspace, ec);
  if (ec || !fs::is_directory(workspace)) {
    return InvalidArgument("sandbox: workspace '" + spec.workspace.string() +
                           "' is not a directory" + (ec ? ": " + ec.message() : ""));
  }
  fs::path workdir_rel = fs::path(spec.workdir).lexically_normal();
  if (workdir_rel.is_absolute() || (!workdir_rel.empty() && *workdir_rel.begin() == "..")) {
    return InvalidArgument("sandbox: workdir '" + spec.workdir +
                           "' must be relative and inside the workspace");
  }
  const bool isolated = spec.mode == Mode::kIsolated;
  const bool root = ::geteuid() == 0;

  NAUT_ASSIGN_OR_RETURN(const std::vector<sock_filter>* seccomp, internal::SeccompProgram());
  LaunchPlan plan;
  plan.isolated = isolated;
  plan.seccomp = seccomp;
  if (isolated) NAUT_RETURN_IF_ERROR(BuildRootSteps(spec, workspace, plan));
  plan.exec_paths = ExecCandidates(spec.argv[0], isolated);
  plan.args = spec.argv;
  std::map<std::string, std::string> env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"},
                                            {"HOME", isolated ? "/tmp" : workspace.string()},
                                            {"TMPDIR", isolated ? "/tmp" : "/tmp"},
                                            {"LANG", "C.UTF-8"},
                                            {"USER", "sandbox"},
                                            {"PYTHONDONTWRITEBYTECODE", "1"}};
  for (const auto& [k, v] : spec.env) env[k] = v;
  for (const auto& [k, v] : env) plan.env.push_back(k + "=" + v);
  plan.workdir = isolated ? (fs::path(kInsideWorkspace) / workdir_rel).lexically_normal().string()
                          : (workspace / workdir_rel).lexically_normal().string();
  if (!plan.workdir.empty() && plan.workdir.size() > 1 && plan.workdir.back() == '/')
    plan.workdir.pop_back();
  if (isolated) {
    plan.change_ids = true;
    plan.inside_uid = kInsideId;
    plan.inside_gid = kInsideId;
    plan.drop_groups = root;
  } else if (root) {
    plan.change_ids = true;
    plan.inside_uid = kHostIdWhenRoot;
    plan.inside_gid = kHostIdWhenRoot;
    plan.drop_groups = true;
  }
  auto limit = [&](int resource, double soft, double hard) {
    plan.limits.push_back({resource, {static_cast<rlim_t>(soft), static_cast<rlim_t>(hard)}});
  };
  const Limits& L = spec.limits;
  double cpu = std::max(1.0, std::ceil(L.cpu_s));
  limit(RLIMIT_CPU, cpu, cpu + 1);
  limit(RLIMIT_AS, static_cast<double>(L.memory_mb * kMiB),
        static_cast<double>(L.memory_mb * kMiB));
  limit(RLIMIT_NPROC, L.processes, L.processes);
  limit(RLIMIT_FSIZE, static_cast<double>(L.file_size_mb * kMiB),
        static_cast<double>(L.file_size_mb * kMiB));
  limit(RLIMIT_NOFILE, L.open_files, L.open_files);
  limit(RLIMIT_CORE, 0, 0);
  limit(RLIMIT_MEMLOCK, 64 * 1024, 64 * 1024);
  plan.Finish();

  if (root) NAUT_RETURN_IF_ERROR(HandWorkspaceTo(workspace, kHostIdWhenRoot));

  Fd in_r, in_w, out_r, out_w, err_r, err_w, sync_r, sync_w, rep_r, rep_w;
  NAUT_RETURN_IF_ERROR(MakePipe(in_r, in_w));
  NAUT_RETURN_IF_ERROR(MakePipe(out_r, out_w));
  NAUT_RETURN_IF_ERROR(MakePipe(err_r, err_w));
  NAUT_RETURN_IF_ERROR(MakePipe(sync_r, sync_w));
  NAUT_RETURN_IF_ERROR(MakePipe(rep_r, rep_w));
  plan.stdin_fd = in_r.get();
  plan.stdout_fd = out_w.get();
  plan.stderr_fd = err_w.get();
  plan.sync_fd = sync_r.get();
  plan.report_fd = rep_w.get();

  const DiskUsage disk_start = Measure(workspace);
  const auto start = std::chrono::steady_clock::now();

  clone_args args;
  std::memset(&args, 0, sizeof(args));
  int pidfd_value = -1;
  args.flags = CLONE_PIDFD;
  if (isolated) {
    args.flags |= CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC |
                  CLONE_NEWUTS | CLONE_NEWCGROUP;
  }
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd_value);
  args.exit_signal = SIGCHLD;
  long cloned = ::syscall(SYS_clone3, &args, sizeof(args));
  if (cloned == 0) {
    if (isolated) internal::RunSandboxInit(plan);
    internal::RunUnisolatedChild(plan);
  }
  if (cloned < 0) {
    int error = errno;
    if (isolated && (error == EPERM || error == EINVAL || error == ENOSPC || error == EUSERS ||
                     error == ENOSYS)) {
      return FailedPrecondition(
          "sandbox: cannot create user/PID/mount/network namespaces (" + Errno(error) +
          "); unprivileged user namespaces may be disabled (see sysctl user.max_user_namespaces, "
          "kernel.unprivileged_userns_clone, kernel.apparmor_restrict_unprivileged_userns). "
          "Refusing to run unisolated; set [sandbox] mode = \"unisolated\" to accept the risk");
    }
    return Internal("sandbox: clone3: " + Errno(error));
  }
  const pid_t pid = static_cast<pid_t>(cloned);
  Fd pidfd(pidfd_value);
  in_r.Reset();
  out_w.Reset();
  err_w.Reset();
  sync_r.Reset();
  rep_w.Reset();

  auto kill_all = [&] {
    // Killing PID 1 of the namespace ends every process in it; unisolated, the session.
    if (isolated) {
      ::kill(pid, SIGKILL);
    } else {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
    }
  };
  auto reap = [&] {
    int status;
    rusage usage;
    ::wait4(pid, &status, 0, &usage);
  };

  if (isolated) {
    Status mapped = Status::Ok();
    const uid_t uid = root ? kHostIdWhenRoot : ::geteuid();
    const gid_t gid = root ? kHostIdWhenRoot : ::getegid();
    if (!root) mapped = WriteProcFile(pid, "setgroups", "deny");
    if (mapped.ok())
      mapped = WriteProcFile(pid, "uid_map",
                             std::to_string(kInsideId) + " " + std::to_string(uid) + " 1\n");
    if (mapped.ok())
      mapped = WriteProcFile(pid, "gid_map",
                             std::to_string(kInsideId) + " " + std::to_string(gid) + " 1\n");
    if (!mapped.ok()) {
      kill_all();
      reap();
      return mapped;
    }
  }
  // Only the isolated child waits for its release (after its id maps are written); the
  // unisolated one goes straight to exec, which closes its end, so a write there could fail.
  if (isolated) {
    char go = 1;
    if (::write(sync_w.get(), &go, 1) != 1) {
      kill_all();
      reap();
      return Internal("sandbox: cannot release the child: " + Errno(errno));
    }
  }
  sync_w.Reset();

  Fd cancel_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  std::stop_callback on_cancel(cancel, [fd = cancel_fd.get()] {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof(one));
  });

  for (int fd : {out_r.get(), err_r.get(), in_w.get(), rep_r.get()}) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  Capture out{.cap = static_cast<size_t>(L.output_kb * 1024)};
  Capture err{.cap = static_cast<size_t>(L.output_kb * 1024)};
  Capture report{.cap = 64 * sizeof(internal::ReportRecord)};
  size_t stdin_offset = 0;
  if (spec.stdin_data.empty() || !FeedStdin(in_w.get(), spec.stdin_data, stdin_offset) ||
      stdin_offset == spec.stdin_data.size()) {
    in_w.Reset();
  }

  const auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    std::chrono::duration<double>(L.wall_s));
  const int64_t disk_cap = L.disk_mb * kMiB;
  LimitHit hit = LimitHit::kNone;
  bool out_open = true, err_open = true, rep_open = true, exited = false;
  auto next_disk_check = start;
  while (!exited) {
    auto now = std::chrono::steady_clock::now();
    if (hit == LimitHit::kNone) {
      if (now >= deadline) {
        hit = LimitHit::kWallTime;
      } else if (disk_start.valid && now >= next_disk_check) {
        next_disk_check = now + std::chrono::milliseconds(100);
        DiskUsage d = Measure(workspace);
        if (d.valid && disk_start.free_bytes - d.free_bytes > disk_cap) hit = LimitHit::kDisk;
        if (d.valid && disk_start.free_inodes - d.free_inodes > L.max_new_files)
          hit = LimitHit::kFiles;
      }
      if (hit != LimitHit::kNone) kill_all();
    }
    pollfd fds[6];
    int n = 0;
    int pid_slot = n;
    fds[n++] = {pidfd.get(), POLLIN, 0};
    int cancel_slot = n;
    fds[n++] = {cancel_fd.get(), POLLIN, 0};
    int out_slot = -1, err_slot = -1, rep_slot = -1, in_slot = -1;
    if (out_open) {
      out_slot = n;
      fds[n++] = {out_r.get(), POLLIN, 0};
    }
    if (err_open) {
      err_slot = n;
      fds[n++] = {err_r.get(), POLLIN, 0};
    }
    if (rep_open) {
      rep_slot = n;
      fds[n++] = {rep_r.get(), POLLIN, 0};
    }
    if (in_w.get() >= 0) {
      in_slot = n;
      fds[n++] = {in_w.get(), POLLOUT, 0};
    }
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
    if (disk_start.valid) wait = std::min<int64_t>(wait, 100);
    if (hit != LimitHit::kNone) wait = 100;
    int ready = ::poll(fds, static_cast<nfds_t>(n), static_cast<int>(std::max<int64_t>(wait, 0)));
    if (ready < 0 && errno != EINTR) {
      kill_all();
      reap();
      return Internal("sandbox: poll: " + Errno(errno));
    }
    if (ready <= 0) continue;
    if (out_slot >= 0 && fds[out_slot].revents) out_open = Drain(out_r.get(), out);
    if (err_slot >= 0 && fds[err_slot].revents) err_open = Drain(err_r.get(), err);
    if (rep_slot >= 0 && fds[rep_slot].revents) rep_open = Drain(rep_r.get(), report);
    if (in_slot >= 0 && fds[in_slot].revents) {
      if (!FeedStdin(in_w.get(), spec.stdin_data, stdin_offset) ||
          stdin_offset == spec.stdin_data.size() || (fds[in_slot].revents & (POLLERR | POLLHUP))) {
        in_w.Reset();
      }
    }
    if (fds[cancel_slot].revents && hit == LimitHit::kNone) {
      hit = LimitHit::kCancelled;
      kill_all();
    }
    if (fds[pid_slot].revents) exited = true;
  }

  int init_status = 0;
  rusage usage{};
  while (::wait4(pid, &init_status, 0, &usage) < 0 && errno == EINTR) {
  }
  if (!isolated) ::kill(-pid, SIGKILL);  // leftovers of the session (best effort)
  const auto end = std::chrono::steady_clock::now();
  // Every writer is gone once the namespace's init has exited; what remains is buffered.
  in_w.Reset();
  while (out_open) out_open = Drain(out_r.get(), out) && false;
  while (err_open) err_open = Drain(err_r.get(), err) && false;
  while (rep_open) rep_open = Drain(rep_r.get(), report) && false;

  RunResult result;
  result.isolated = isolated;
  result.wall_s = std::chrono::duration<double>(end - start).count();
  result.cpu_s = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                 static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  result.peak_memory_kb = usage.ru_maxrss;

  std::optional<int> command_status;
  for (size_t off = 0; off + sizeof(internal::ReportRecord) <= report.text.size();
       off += sizeof(internal::ReportRecord)) {
    internal::ReportRecord record;
    std::memcpy(&record, report.text.data() + off, sizeof(record));
    if (record.tag == internal::kReportSetupError) {
      record.what[sizeof(record.what) - 1] = '\0';
      return Internal("sandbox: setting up the sandbox failed at '" + std::string(record.what) +
                      "': " + Errno(record.error));
    }
    if (record.tag == internal::kReportExecError) {
      return NotFound("sandbox: cannot execute '" + spec.argv[0] + "': " + Errno(record.error));
    }
    if (record.tag == internal::kReportExit) command_status = record.wait_status;
  }
  int status = command_status.value_or(init_status);
  if (isolated && !command_status && hit == LimitHit::kNone) {
    return Internal("sandbox: the sandbox ended without a report (" +
                    std::string(WIFSIGNALED(init_status)
                                    ? "signal " + std::to_string(WTERMSIG(init_status))
                                    : "status " + std::to_string(WEXITSTATUS(init_status))) +
                    ")");
  }
  if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  } else {
    result.exit_code = WEXITSTATUS(status);
  }
  if (hit != LimitHit::kNone && !command_status) {
    result.signal = SIGKILL;
    result.exit_code = -1;
  }
  result.out_truncated = out.truncated();
  result.err_truncated = err.truncated();
  result.out_bytes = out.total;
  result.err_bytes = err.total;
  result.out = out.Finish();
  result.err = err.Finish();

  // Shells report a signalled child as 128 + signal.
  auto ended_by = [&](int sig) {
    return result.signal == sig || (result.signal == 0 && result.exit_code == 128 + sig);
  };
  if (hit == LimitHit::kNone) {
    if (ended_by(SIGXCPU) || (result.signal == SIGKILL && result.cpu_s >= std::ceil(L.cpu_s))) {
      hit = LimitHit::kCpuTime;
    } else if (ended_by(SIGXFSZ)) {
      hit = LimitHit::kFileSize;
    } else if (!(result.signal == 0 && result.exit_code == 0) && LooksOutOfMemory(result.err)) {
      hit = LimitHit::kMemory;
    }
  }
  result.limit = hit;
  switch (hit) {
    case LimitHit::kNone:
      break;
    case LimitHit::kWallTime:
      result.limit_detail = "wall-clock limit of " + FormatSeconds(L.wall_s) +
                            " reached; every process of the run was killed";
      break;
    case LimitHit::kCpuTime:
      result.limit_detail = "CPU time limit of " + FormatSeconds(cpu) + " per process reached";
      break;
    case LimitHit::kMemory:
      result.limit_detail = "memory limit of " + std::to_string(L.memory_mb) +
                            " MiB (address space per process) reached";
      break;
    case LimitHit::kFileSize:
      result.limit_detail = "file size limit of " + std::to_string(L.file_size_mb) + " MiB reached";
      break;
    case LimitHit::kDisk:
      result.limit_detail =
          "disk limit of " + std::to_string(L.disk_mb) +
          " MiB written to the workspace reached; every process of the run was killed";
      break;
    case LimitHit::kFiles:
      result.limit_detail =
          "limit of " + std::to_string(L.max_new_files) +
          " new files in the workspace reached; every process of the run was killed";
      break;
    case LimitHit::kCancelled:
      result.limit_detail = "cancelled by the caller; every process of the run was killed";
      break;
  }
  return result;
}

Status CheckIsolationAvailable() {
  std::error_code ec;
  fs::path dir = fs::temp_directory_path(ec) / ("naut-sandbox-check-" + std::to_string(::getpid()));
  fs::create_directories(dir, ec);
  if (ec) return Internal("sandbox: cannot create '" + dir.string() + "': " + ec.message());
  Spec spec;
  spec.argv = {"/bin/true"};
  spec.workspace = dir;
  spec.limits.wall_s = 20;
  auto result = Run(spec);
  fs::remove_all(dir, ec);
  if (!result.ok()) return result.error();
  if (!result->success())
    return Internal("sandbox: /bin/true failed inside the sandbox: " + result->Describe() + " " +
                    result->err);
  return Status::Ok();
}

}  // namespace naut::sandbox

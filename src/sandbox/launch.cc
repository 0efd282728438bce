// Launch: from a plan to a released child (see run_steps.h).

#include <fcntl.h>
#include <linux/sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <utility>

#include "core/beneath.h"
#include "sandbox/run_steps.h"

namespace naut::sandbox::internal {

namespace fs = std::filesystem;

namespace {

using Fd = UniqueFd;

std::string Errno(int error) { return std::strerror(error); }

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

void SetNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

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

Status WriteProcFile(pid_t pid, const char* name, const std::string& content) {
  std::string path = "/proc/" + std::to_string(pid) + "/" + name;
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (fd.get() < 0) return FailedPrecondition("sandbox: open " + path + ": " + Errno(errno));
  if (::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
    return FailedPrecondition("sandbox: write " + path + " ('" + content + "'): " + Errno(errno));
  }
  return Status::Ok();
}

Status WriteIdMaps(const RunPlan& plan, pid_t pid) {
  if (plan.deny_setgroups) NAUT_RETURN_IF_ERROR(WriteProcFile(pid, "setgroups", "deny"));
  NAUT_RETURN_IF_ERROR(WriteProcFile(pid, "uid_map", plan.uid_map));
  return WriteProcFile(pid, "gid_map", plan.gid_map);
}

Status CloneError(int error, bool isolated) {
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

}  // namespace

DiskUsage MeasureDisk(const fs::path& dir) {
  struct statfs st;
  if (::statfs(dir.c_str(), &st) != 0) return {};
  return {true, static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_bsize),
          static_cast<int64_t>(st.f_ffree)};
}

LaunchedChild::LaunchedChild(pid_t pid, bool isolated, UniqueFd pidfd)
    : pid_(pid), isolated_(isolated), pidfd_(std::move(pidfd)) {}

LaunchedChild::LaunchedChild(LaunchedChild&& other) noexcept
    : stdin_w(std::move(other.stdin_w)),
      stdout_r(std::move(other.stdout_r)),
      stderr_r(std::move(other.stderr_r)),
      report_r(std::move(other.report_r)),
      disk_at_start(other.disk_at_start),
      start(other.start),
      pid_(std::exchange(other.pid_, -1)),
      isolated_(other.isolated_),
      pidfd_(std::move(other.pidfd_)) {}

LaunchedChild::~LaunchedChild() {
  if (pid_ < 0) return;
  KillAll();
  rusage usage;
  Reap(usage);
}

void LaunchedChild::KillAll() const {
  if (isolated_) {
    ::kill(pid_, SIGKILL);
  } else {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
  }
}

int LaunchedChild::Reap(rusage& usage) {
  int status = 0;
  usage = {};
  while (::wait4(pid_, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  if (!isolated_) ::kill(-pid_, SIGKILL);  // leftovers of the session (best effort)
  pid_ = -1;
  return status;
}

Result<LaunchedChild> Launch(RunPlan& plan) {
  if (plan.hand_workspace) NAUT_RETURN_IF_ERROR(HandWorkspaceTo(plan.workspace, kHostIdWhenRoot));

  Fd in_r, in_w, out_r, out_w, err_r, err_w, sync_r, sync_w, rep_r, rep_w;
  NAUT_RETURN_IF_ERROR(MakePipe(in_r, in_w));
  NAUT_RETURN_IF_ERROR(MakePipe(out_r, out_w));
  NAUT_RETURN_IF_ERROR(MakePipe(err_r, err_w));
  NAUT_RETURN_IF_ERROR(MakePipe(sync_r, sync_w));
  NAUT_RETURN_IF_ERROR(MakePipe(rep_r, rep_w));
  LaunchPlan& child_plan = plan.child;
  child_plan.stdin_fd = in_r.get();
  child_plan.stdout_fd = out_w.get();
  child_plan.stderr_fd = err_w.get();
  child_plan.sync_fd = sync_r.get();
  child_plan.report_fd = rep_w.get();
  child_plan.Finish();

  const DiskUsage disk_at_start = MeasureDisk(plan.workspace);
  const auto start = std::chrono::steady_clock::now();

  clone_args args;
  std::memset(&args, 0, sizeof(args));
  int pidfd_value = -1;
  args.flags = CLONE_PIDFD;
  if (plan.isolated) {
    args.flags |= CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC |
                  CLONE_NEWUTS | CLONE_NEWCGROUP;
  }
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd_value);
  args.exit_signal = SIGCHLD;
  long cloned = ::syscall(SYS_clone3, &args, sizeof(args));
  if (cloned == 0) {
    if (plan.isolated) RunSandboxInit(child_plan);
    RunUnisolatedChild(child_plan);
  }
  if (cloned < 0) return CloneError(errno, plan.isolated);

  // From here on an early return kills and reaps the child (LaunchedChild's destructor).
  LaunchedChild child(static_cast<pid_t>(cloned), plan.isolated, Fd(pidfd_value));
  child.disk_at_start = disk_at_start;
  child.start = start;
  in_r.Reset();
  out_w.Reset();
  err_w.Reset();
  sync_r.Reset();
  rep_w.Reset();

  // Only the isolated child waits for its release (after its id maps are written); the
  // unisolated one goes straight to exec, which closes its end, so a write there could fail.
  if (plan.isolated) {
    NAUT_RETURN_IF_ERROR(WriteIdMaps(plan, child.pid()));
    char go = 1;
    if (::write(sync_w.get(), &go, 1) != 1)
      return Internal("sandbox: cannot release the child: " + Errno(errno));
  }
  sync_w.Reset();

  for (int fd : {out_r.get(), err_r.get(), in_w.get(), rep_r.get()}) SetNonBlocking(fd);
  child.stdin_w = std::move(in_w);
  child.stdout_r = std::move(out_r);
  child.stderr_r = std::move(err_r);
  child.report_r = std::move(rep_r);
  return child;
}

}  // namespace naut::sandbox::internal

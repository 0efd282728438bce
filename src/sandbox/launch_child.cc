// The code that runs in a freshly cloned sandbox child. Only raw system calls here: the
// parent may have had other threads holding libc locks (malloc, stdio, the thread list) at
// the moment of clone, so nothing that allocates, locks or signals threads may run.

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "sandbox/launch_plan.h"

namespace naut::sandbox::internal {

void LaunchPlan::Finish() {
  argv.clear();
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  envp.clear();
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
}

namespace {

constexpr int kSkipped = -2;
constexpr size_t kMaxSteps = 512;

void Append(char* buf, size_t size, size_t& used, const char* text) {
  while (*text != '\0' && used + 1 < size) buf[used++] = *text++;
  buf[used] = '\0';
}

[[noreturn]] void FailSetup(const LaunchPlan& plan, const char* step, const char* path) {
  int error = errno;
  ReportRecord record{};
  record.tag = kReportSetupError;
  record.error = error;
  size_t used = 0;
  Append(record.what, sizeof(record.what), used, step);
  if (path != nullptr && path[0] != '\0') {
    Append(record.what, sizeof(record.what), used, " ");
    Append(record.what, sizeof(record.what), used, path);
  }
  [[maybe_unused]] ssize_t n = write(plan.report_fd, &record, sizeof(record));
  _exit(126);
}

// Closes every descriptor except the ones in `keep` (unsorted, -1 entries ignored).
void CloseAllExcept(const int* keep, int count) {
  int sorted[8];
  int n = 0;
  for (int i = 0; i < count; ++i) {
    if (keep[i] < 0) continue;
    int v = keep[i];
    int j = n++;
    while (j > 0 && sorted[j - 1] > v) {
      sorted[j] = sorted[j - 1];
      --j;
    }
    sorted[j] = v;
  }
  unsigned int next = 0;
  for (int i = 0; i < n; ++i) {
    if (static_cast<unsigned int>(sorted[i]) > next) {
      syscall(SYS_close_range, next, static_cast<unsigned int>(sorted[i]) - 1, 0);
    }
    next = static_cast<unsigned int>(sorted[i]) + 1;
  }
  syscall(SYS_close_range, next, ~0U, 0);
}

unsigned long MountFlagsOf(const char* path) {
  struct statfs st;
  if (statfs(path, &st) != 0) return 0;
  unsigned long flags = 0;
  if (st.f_flags & ST_NOSUID) flags |= MS_NOSUID;
  if (st.f_flags & ST_NODEV) flags |= MS_NODEV;
  if (st.f_flags & ST_NOEXEC) flags |= MS_NOEXEC;
  if (st.f_flags & ST_NOATIME) flags |= MS_NOATIME;
  if (st.f_flags & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (st.f_flags & ST_RELATIME) flags |= MS_RELATIME;
  if (st.f_flags & ST_RDONLY) flags |= MS_RDONLY;
  return flags;
}

// The path through which an O_PATH descriptor opened before the pivot is reachable now.
void FdPath(char (&buf)[64], int fd) {
  size_t used = 0;
  Append(buf, sizeof(buf), used, "/oldroot/proc/self/fd/");
  char digits[16];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + fd % 10);
    fd /= 10;
  } while (fd > 0 && n < 15);
  while (n > 0 && used + 1 < sizeof(buf)) buf[used++] = digits[--n];
  buf[used] = '\0';
}

void RunStep(const LaunchPlan& plan, const MountStep& step, int source_fd) {
  const char* target = step.target.c_str();
  switch (step.kind) {
    case MountStep::Kind::kMkdir:
      if (mkdir(target, 0755) != 0 && errno != EEXIST) FailSetup(plan, "mkdir", target);
      return;
    case MountStep::Kind::kCreateFile: {
      int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
      if (fd < 0) FailSetup(plan, "create", target);
      close(fd);
      return;
    }
    case MountStep::Kind::kWriteFile: {
      int fd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
      if (fd < 0) FailSetup(plan, "create", target);
      const char* p = step.data.data();
      size_t left = step.data.size();
      while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n <= 0) FailSetup(plan, "write", target);
        p += n;
        left -= static_cast<size_t>(n);
      }
      close(fd);
      return;
    }
    case MountStep::Kind::kSymlink:
      if (symlink(step.source.c_str(), target) != 0 && errno != EEXIST) {
        FailSetup(plan, "symlink", target);
      }
      return;
    case MountStep::Kind::kTmpfs:
      if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, step.data.c_str()) != 0) {
        FailSetup(plan, "mount tmpfs on", target);
      }
      return;
    case MountStep::Kind::kProc:
      if (mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
        FailSetup(plan, "mount proc on", target);
      }
      return;
    case MountStep::Kind::kBind: {
      if (source_fd == kSkipped) return;
      char fd_path[64];
      const char* source = step.source.c_str();
      if (source_fd >= 0) {
        FdPath(fd_path, source_fd);
        source = fd_path;
      }
      if (mount(source, target, nullptr, MS_BIND | MS_REC, nullptr) != 0) {
        if (step.optional && (errno == ENOENT || errno == ENOTDIR)) return;
        FailSetup(plan, "bind", target);
      }
      if (step.device) return;
      // Remounting must keep the flags the kernel locked on the source (atime, noexec...).
      unsigned long flags = MountFlagsOf(target) | MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV;
      if (step.read_only) {
        flags |= MS_RDONLY;
      } else {
        flags &= ~static_cast<unsigned long>(MS_RDONLY);
      }
      if (mount(nullptr, target, nullptr, flags, nullptr) != 0) FailSetup(plan, "remount", target);
      return;
    }
  }
}

void BringUpLoopback() {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof(ifr));
  std::memcpy(ifr.ifr_name, "lo", 3);
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    ioctl(fd, SIOCSIFFLAGS, &ifr);
  }
  close(fd);
}

void ResetSignals() {
  struct sigaction action;
  std::memset(&action, 0, sizeof(action));
  action.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    syscall(SYS_rt_sigaction, sig, &action, nullptr, sizeof(uint64_t));
  }
  uint64_t empty = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty, nullptr, sizeof(empty));
}

void DropCapabilities(const LaunchPlan& plan) {
  for (int cap = 0; cap <= 63; ++cap) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL) break;
  }
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2];
  std::memset(data, 0, sizeof(data));
  if (syscall(SYS_capset, &header, data) != 0) FailSetup(plan, "capset", nullptr);
}

// Becomes the command: descriptors, identity, limits, capabilities, seccomp, exec.
[[noreturn]] void ExecCommand(const LaunchPlan& plan, bool isolated) {
  ResetSignals();
  if (dup2(plan.stdin_fd, 0) < 0 || dup2(plan.stdout_fd, 1) < 0 || dup2(plan.stderr_fd, 2) < 0) {
    FailSetup(plan, "dup2", nullptr);
  }
  // The report descriptor must not be 0..2 after the dup2s; the parent ensures it is > 2.
  int keep[] = {0, 1, 2, plan.report_fd};
  CloseAllExcept(keep, 4);
  fcntl(plan.report_fd, F_SETFD, FD_CLOEXEC);
  if (!isolated) {
    setsid();
    if (chdir(plan.workdir.c_str()) != 0) FailSetup(plan, "chdir", plan.workdir.c_str());
  }
  if (plan.drop_groups) syscall(SYS_setgroups, 0, nullptr);
  if (plan.change_ids) {
    if (syscall(SYS_setresgid, plan.inside_gid, plan.inside_gid, plan.inside_gid) != 0) {
      FailSetup(plan, "setresgid", nullptr);
    }
    if (syscall(SYS_setresuid, plan.inside_uid, plan.inside_uid, plan.inside_uid) != 0) {
      FailSetup(plan, "setresuid", nullptr);
    }
  }
  if (isolated && chdir(plan.workdir.c_str()) != 0) FailSetup(plan, "chdir", plan.workdir.c_str());
  for (const auto& limit : plan.limits) {
    if (setrlimit(static_cast<__rlimit_resource>(limit.resource), &limit.value) != 0) {
      FailSetup(plan, "setrlimit", nullptr);
    }
  }
  if (isolated) DropCapabilities(plan);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) FailSetup(plan, "no_new_privs", nullptr);
  prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  sock_fprog prog{static_cast<unsigned short>(plan.seccomp->size()),
                  const_cast<sock_filter*>(plan.seccomp->data())};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
    FailSetup(plan, "seccomp", nullptr);

  int error = ENOENT;
  for (const auto& path : plan.exec_paths) {
    execve(path.c_str(), plan.argv.data(), plan.envp.data());
    if (errno != ENOENT && errno != ENOTDIR) {
      error = errno;
      break;
    }
  }
  ReportRecord record{};
  record.tag = kReportExecError;
  record.error = error;
  [[maybe_unused]] ssize_t n = write(plan.report_fd, &record, sizeof(record));
  _exit(127);
}

void WaitForParent(const LaunchPlan& plan) {
  char go = 0;
  ssize_t n;
  do {
    n = read(plan.sync_fd, &go, 1);
  } while (n < 0 && errno == EINTR);
  // No byte: the parent gave up (or died) before finishing the id maps.
  if (n != 1) _exit(125);
  close(plan.sync_fd);
}

}  // namespace

void RunSandboxInit(const LaunchPlan& plan) {
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  int keep[] = {plan.stdin_fd, plan.stdout_fd, plan.stderr_fd, plan.sync_fd, plan.report_fd};
  CloseAllExcept(keep, 5);
  WaitForParent(plan);
  // init's memory holds the parent's copy-on-write image; nobody inside may read it.
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    FailSetup(plan, "make / private", nullptr);
  // Host paths are opened now, with the caller's file-system identity (which, for a root
  // caller, is not mapped into the namespace and so could neither create files in the new
  // root nor be used later); the binds then go through these descriptors.
  if (plan.steps.size() > kMaxSteps) FailSetup(plan, "too many mount steps", nullptr);
  int source_fds[kMaxSteps];
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const MountStep& step = plan.steps[i];
    source_fds[i] = -1;
    if (step.kind != MountStep::Kind::kBind || step.source.compare(0, 9, "/oldroot/") != 0)
      continue;
    source_fds[i] = open(step.source.c_str() + 8, O_PATH | O_CLOEXEC);
    if (source_fds[i] < 0) {
      if (step.optional && (errno == ENOENT || errno == ENOTDIR)) {
        source_fds[i] = kSkipped;
      } else {
        FailSetup(plan, "open", step.source.c_str() + 8);
      }
    }
  }
  // setfsuid reports no errors; a failure shows up as the first mkdir failing.
  syscall(SYS_setfsgid, plan.inside_gid);
  syscall(SYS_setfsuid, plan.inside_uid);
  // A scratch tmpfs becomes the root for a moment so that the host's root stays reachable at
  // /oldroot while the new root is assembled at /newroot from it.
  if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755") != 0) {
    FailSetup(plan, "mount scratch tmpfs on", "/tmp");
  }
  if (chdir("/tmp") != 0) FailSetup(plan, "chdir", "/tmp");
  if (mkdir("oldroot", 0755) != 0 || mkdir("newroot", 0755) != 0)
    FailSetup(plan, "mkdir", "scratch");
  if (syscall(SYS_pivot_root, ".", "oldroot") != 0) FailSetup(plan, "pivot_root", "scratch");
  if (chdir("/") != 0) FailSetup(plan, "chdir", "/");
  if (mount("tmpfs", "/newroot", "tmpfs", MS_NOSUID | MS_NODEV,
            "size=1m,nr_inodes=4096,mode=0755") != 0) {
    FailSetup(plan, "mount root tmpfs on", "/newroot");
  }
  for (size_t i = 0; i < plan.steps.size(); ++i) RunStep(plan, plan.steps[i], source_fds[i]);
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    if (source_fds[i] >= 0) close(source_fds[i]);
  }

  if (chdir("/newroot") != 0) FailSetup(plan, "chdir", "/newroot");
  // pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves
  // only the new root (and the host's root with it).
  if (syscall(SYS_pivot_root, ".", ".") != 0) FailSetup(plan, "pivot_root", "/newroot");
  if (umount2(".", MNT_DETACH) != 0) FailSetup(plan, "detach", "old root");
  if (chdir("/") != 0) FailSetup(plan, "chdir", "/");
  if (mount(nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
            nullptr) != 0) {
    FailSetup(plan, "remount read-only", "/");
  }
  sethostname(plan.hostname.data(), plan.hostname.size());
  BringUpLoopback();

  long child = syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, 0);
  if (child < 0) FailSetup(plan, "fork", nullptr);
  if (child == 0) ExecCommand(plan, /*isolated=*/true);
  close(plan.stdin_fd);
  close(plan.stdout_fd);
  close(plan.stderr_fd);

  // As PID 1, reap everything; once the command ends, end the rest of the namespace too
  // (daemonised leftovers included) and report the command's status.
  int command_status = 0;
  bool command_done = false;
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, __WALL);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;  // ECHILD: nothing left
    }
    if (pid == child) {
      command_status = status;
      command_done = true;
      kill(-1, SIGKILL);
    }
  }
  ReportRecord record{};
  record.tag = kReportExit;
  record.wait_status = command_done ? command_status : (SIGKILL & 0x7f);
  [[maybe_unused]] ssize_t n = write(plan.report_fd, &record, sizeof(record));
  _exit(0);
}

void RunUnisolatedChild(const LaunchPlan& plan) {
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  ExecCommand(plan, /*isolated=*/false);
}

}  // namespace naut::sandbox::internal

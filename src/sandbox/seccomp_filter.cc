#include "sandbox/seccomp_filter.h"

#include <linux/sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace naut::sandbox::internal {
namespace {

constexpr const char* kDeniedSyscalls[] = {
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "unshare",
    "setns",
    "kexec_load",
    "kexec_file_load",
    "bpf",
    "keyctl",
    "add_key",
    "request_key",
    "perf_event_open",
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "swapon",
    "swapoff",
    "reboot",
    "syslog",
    "acct",
    "quotactl",
    "quotactl_fd",
    "open_by_handle_at",
    "name_to_handle_at",
    "iopl",
    "ioperm",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "lookup_dcookie",
    "vhangup",
    "uselib",
    "sysfs",
    "_sysctl",
    "kcmp",
    "pidfd_getfd",
    "setdomainname",
    "sethostname",
    "fanotify_init",
    "nfsservctl",
    "get_kernel_syms",
    "query_module",
    "vm86",
    "vm86old",
    "mbind",
    "migrate_pages",
    "move_pages",
    "set_mempolicy",
};

constexpr uint64_t kNamespaceFlags[] = {CLONE_NEWUSER,   CLONE_NEWNS,  CLONE_NEWPID,
                                        CLONE_NEWNET,    CLONE_NEWIPC, CLONE_NEWUTS,
                                        CLONE_NEWCGROUP, 0x00000080 /* CLONE_NEWTIME */};

Status Check(int rc, const std::string& what) {
  if (rc == 0) return Status::Ok();
  return Internal("sandbox: seccomp " + what + ": " + std::strerror(-rc));
}

Result<std::vector<sock_filter>> Build() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) return Internal("sandbox: seccomp_init failed");
  struct Release {
    scmp_filter_ctx c;
    ~Release() { seccomp_release(c); }
  } release{ctx};
  // The filter is installed by hand after no_new_privs is set.
  NAUT_RETURN_IF_ERROR(Check(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0), "attr nnp"));

  const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
  for (const char* name : kDeniedSyscalls) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    NAUT_RETURN_IF_ERROR(Check(seccomp_rule_add(ctx, eperm, nr, 0), std::string("rule ") + name));
  }
  for (uint64_t flag : kNamespaceFlags) {
    NAUT_RETURN_IF_ERROR(Check(
        seccomp_rule_add(ctx, eperm, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)),
        "rule clone"));
  }
  NAUT_RETURN_IF_ERROR(
      Check(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "rule clone3"));
  for (unsigned long request :
       {static_cast<unsigned long>(TIOCSTI), static_cast<unsigned long>(TIOCLINUX)}) {
    NAUT_RETURN_IF_ERROR(Check(seccomp_rule_add(ctx, eperm, SCMP_SYS(ioctl), 1,
                                                SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, request)),
                               "rule ioctl"));
  }
  // Socket families: AF_UNIX(1), AF_INET(2), AF_INET6(10), AF_NETLINK(16) only. Others
  // (AF_VSOCK above all, which no network namespace confines) are refused.
  const uint32_t eafnosupport = SCMP_ACT_ERRNO(EAFNOSUPPORT);
  for (int syscall : {SCMP_SYS(socket), SCMP_SYS(socketpair)}) {
    for (uint64_t family : {0, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15}) {
      NAUT_RETURN_IF_ERROR(
          Check(seccomp_rule_add(ctx, eafnosupport, syscall, 1, SCMP_A0(SCMP_CMP_EQ, family)),
                "rule socket"));
    }
    NAUT_RETURN_IF_ERROR(Check(
        seccomp_rule_add(ctx, eafnosupport, syscall, 1, SCMP_A0(SCMP_CMP_GT, 16)), "rule socket"));
  }

  int fd = memfd_create("naut-seccomp", MFD_CLOEXEC);
  if (fd < 0) return Internal(std::string("sandbox: memfd_create: ") + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  NAUT_RETURN_IF_ERROR(Check(seccomp_export_bpf(ctx, fd), "export"));
  off_t size = lseek(fd, 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter) != 0)
    return Internal("sandbox: seccomp export is empty");
  std::vector<sock_filter> program(static_cast<size_t>(size) / sizeof(sock_filter));
  if (pread(fd, program.data(), static_cast<size_t>(size), 0) != size) {
    return Internal("sandbox: cannot read the exported seccomp filter");
  }
  return program;
}

}  // namespace

Result<const std::vector<sock_filter>*> SeccompProgram() {
  // Built once, thread-safely (function-local static), and never modified afterwards.
  static const Result<std::vector<sock_filter>> program = Build();
  if (!program.ok()) return program.error();
  return &program.value();
}

}  // namespace naut::sandbox::internal

#pragma once
// The seccomp filter every sandboxed process runs under, compiled once to classic BPF so
// that a freshly cloned child can install it with one system call (no allocation after
// clone, which matters when the caller has other threads).

#include <linux/filter.h>

#include <vector>

#include "core/status.h"

namespace naut::sandbox::internal {

// The compiled filter; built on first use, then shared (read-only) by every thread.
// Default action: allow. Refused with EPERM: ptrace and process_vm_*, mount family,
// pivot_root, chroot, unshare, setns, clone with any CLONE_NEW* flag, kexec_*, bpf,
// keyctl/add_key/request_key, perf_event_open, module loading, userfaultfd, io_uring,
// swap, reboot, syslog, acct, quotactl, clock setting, open_by_handle_at, kcmp,
// pidfd_getfd, TIOCSTI/TIOCLINUX ioctls, sockets other than
// AF_UNIX/AF_INET/AF_INET6/AF_NETLINK. clone3 answers ENOSYS so that libc falls back to
// clone, whose flags the filter can inspect.
Result<const std::vector<sock_filter>*> SeccompProgram();

}  // namespace naut::sandbox::internal

// Plan: everything a run needs, built before any process exists (see run_steps.h).

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <system_error>

#include "sandbox/run_steps.h"
#include "sandbox/seccomp_filter.h"

namespace naut::sandbox::internal {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kMiB = 1024 * 1024;

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

// argv[0] with a slash is used as given; a bare name is tried in the usual directories.
std::vector<std::string> ExecCandidates(const std::string& program) {
  if (program.find('/') != std::string::npos) return {program};
  std::vector<std::string> out;
  for (const char* dir :
       {"/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin"}) {
    out.push_back(std::string(dir) + "/" + program);
  }
  return out;
}

// The command's environment: a small fixed one, then the spec's entries over it. HOME is the
// private /tmp inside; unisolated it is the workspace, so that nothing lands in the caller's home.
std::vector<std::string> Environment(const Spec& spec, bool isolated, const fs::path& workspace) {
  std::map<std::string, std::string> env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"},
                                            {"HOME", isolated ? "/tmp" : workspace.string()},
                                            {"TMPDIR", "/tmp"},
                                            {"LANG", "C.UTF-8"},
                                            {"USER", "sandbox"},
                                            {"PYTHONDONTWRITEBYTECODE", "1"}};
  for (const auto& [k, v] : spec.env) env[k] = v;
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

// The ids the command takes: kInsideId in its own user namespace, or unisolated, when the
// caller is root, kHostIdWhenRoot (a root caller's supplementary groups are dropped either way).
void PlanIdentity(const Caller& caller, RunPlan& plan) {
  LaunchPlan& child = plan.child;
  if (plan.isolated) {
    child.change_ids = true;
    child.inside_uid = kInsideId;
    child.inside_gid = kInsideId;
    child.drop_groups = caller.root();
    const uid_t uid = caller.root() ? kHostIdWhenRoot : caller.uid;
    const gid_t gid = caller.root() ? kHostIdWhenRoot : caller.gid;
    plan.deny_setgroups = !caller.root();
    plan.uid_map = std::to_string(kInsideId) + " " + std::to_string(uid) + " 1\n";
    plan.gid_map = std::to_string(kInsideId) + " " + std::to_string(gid) + " 1\n";
  } else if (caller.root()) {
    child.change_ids = true;
    child.inside_uid = kHostIdWhenRoot;
    child.inside_gid = kHostIdWhenRoot;
    child.drop_groups = true;
  }
  plan.hand_workspace = caller.root();
}

std::vector<LaunchPlan::Limit> ResourceLimits(const Limits& l) {
  std::vector<LaunchPlan::Limit> out;
  auto limit = [&](int resource, double soft, double hard) {
    out.push_back({resource, {static_cast<rlim_t>(soft), static_cast<rlim_t>(hard)}});
  };
  // The hard CPU limit one second above the soft one: SIGXCPU first, SIGKILL if ignored.
  const double cpu = std::max(1.0, std::ceil(l.cpu_s));
  limit(RLIMIT_CPU, cpu, cpu + 1);
  limit(RLIMIT_AS, static_cast<double>(l.memory_mb * kMiB),
        static_cast<double>(l.memory_mb * kMiB));
  limit(RLIMIT_NPROC, l.processes, l.processes);
  limit(RLIMIT_FSIZE, static_cast<double>(l.file_size_mb * kMiB),
        static_cast<double>(l.file_size_mb * kMiB));
  limit(RLIMIT_NOFILE, l.open_files, l.open_files);
  limit(RLIMIT_CORE, 0, 0);
  limit(RLIMIT_MEMLOCK, 64 * 1024, 64 * 1024);
  return out;
}

}  // namespace

Caller CurrentCaller() { return {::geteuid(), ::getegid()}; }

Result<RunPlan> Plan(const Spec& spec, const Caller& caller) {
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

  RunPlan plan;
  plan.isolated = spec.mode == Mode::kIsolated;
  plan.workspace = workspace;
  plan.limits = spec.limits;
  plan.program = spec.argv[0];
  LaunchPlan& child = plan.child;
  child.isolated = plan.isolated;
  NAUT_ASSIGN_OR_RETURN(child.seccomp, SeccompProgram());
  if (plan.isolated) NAUT_RETURN_IF_ERROR(BuildRootSteps(spec, workspace, child));
  child.exec_paths = ExecCandidates(spec.argv[0]);
  child.args = spec.argv;
  child.env = Environment(spec, plan.isolated, workspace);
  child.workdir = plan.isolated
                      ? (fs::path(kInsideWorkspace) / workdir_rel).lexically_normal().string()
                      : (workspace / workdir_rel).lexically_normal().string();
  // An empty workdir appended leaves a trailing slash ("/work/").
  if (child.workdir.size() > 1 && child.workdir.back() == '/') child.workdir.pop_back();
  PlanIdentity(caller, plan);
  child.limits = ResourceLimits(spec.limits);
  return plan;
}

}  // namespace naut::sandbox::internal

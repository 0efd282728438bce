#include "core/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>

namespace naut {

namespace {

struct Pipe {
  int read = -1, write = -1;
};

Result<Pipe> MakePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return ResourceExhausted(std::string("pipe: ") + std::strerror(errno));
  return Pipe{fds[0], fds[1]};
}

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

ExitStatus Decode(int wstatus) {
  ExitStatus s;
  if (WIFEXITED(wstatus)) s.exit_code = WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus)) s.signal = WTERMSIG(wstatus);
  return s;
}

// posix_spawn cannot arm PR_SET_PDEATHSIG, so a child that needs it is forked by hand. The parent
// has other threads, so between fork and exec the child makes only async-signal-safe system
// calls on memory prepared before the fork. A failure before exec is reported through a
// close-on-exec pipe as an errno value.
Result<pid_t> ForkExec(const SpawnOptions& options, const Pipe& in, const Pipe& out,
                       const Pipe& err, char* const argv[], char* const envp[]) {
  std::string path = options.argv[0];
  if (path.find('/') == std::string::npos) {
    auto found = FindOnPath(path);
    if (!found) return NotFound("cannot start '" + path + "': " + std::strerror(ENOENT));
    path = found->string();
  }
  auto report = MakePipe();
  if (!report) return report.error();
  const pid_t parent = ::getpid();
  const int death_signal = options.parent_death_signal;
  const char* cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(report->read);
    ::close(report->write);
    return Unavailable("cannot start '" + options.argv[0] + "': fork: " + std::strerror(e));
  }
  if (pid == 0) {
    auto fail = [&](int e) {
      ssize_t ignored = ::write(report->write, &e, sizeof e);
      (void)ignored;
      ::_exit(127);
    };
    if (options.new_process_group) ::setpgid(0, 0);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::prctl(PR_SET_PDEATHSIG, death_signal) != 0) fail(errno);
    // The parent may have died before the signal was armed; then nobody would send it.
    if (::getppid() != parent) ::_exit(127);
    if (in.read >= 0) {
      if (::dup2(in.read, 0) < 0) fail(errno);
    } else {
      int null = ::open("/dev/null", O_RDONLY);
      if (null < 0 || ::dup2(null, 0) < 0) fail(errno);
      if (null != 0) ::close(null);
    }
    if (out.write >= 0 && ::dup2(out.write, 1) < 0) fail(errno);
    if (err.write >= 0 && ::dup2(err.write, 2) < 0) fail(errno);
    if (cwd != nullptr && ::chdir(cwd) != 0) fail(errno);
    ::execve(path.c_str(), argv, envp);
    fail(errno);
  }
  ::close(report->write);
  int e = 0;
  ssize_t n;
  do {
    n = ::read(report->read, &e, sizeof e);
  } while (n < 0 && errno == EINTR);
  ::close(report->read);
  if (n == static_cast<ssize_t>(sizeof e)) {
    int ignored;
    ::waitpid(pid, &ignored, 0);
    std::string msg = "cannot start '" + options.argv[0] + "': " + std::strerror(e);
    if (e == ENOENT) return NotFound(msg);
    return Unavailable(msg);
  }
  return pid;
}

}  // namespace

std::string ExitStatus::ToString() const {
  if (signal != 0) {
    return "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  }
  return "exit code " + std::to_string(exit_code);
}

Result<std::unique_ptr<Subprocess>> Subprocess::Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return InvalidArgument("spawn: empty command line");
  Pipe in, out, err;
  auto cleanup = [&] {
    for (int* fd : {&in.read, &in.write, &out.read, &out.write, &err.read, &err.write})
      CloseFd(*fd);
  };
  if (options.pipe_stdin) {
    auto p = MakePipe();
    if (!p) return p.error();
    in = *p;
  }
  if (options.pipe_stdout) {
    auto p = MakePipe();
    if (!p) {
      cleanup();
      return p.error();
    }
    out = *p;
  }
  if (options.pipe_stderr) {
    auto p = MakePipe();
    if (!p) {
      cleanup();
      return p.error();
    }
    err = *p;
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (options.pipe_stdin) {
    posix_spawn_file_actions_adddup2(&actions, in.read, 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  if (options.pipe_stdout) posix_spawn_file_actions_adddup2(&actions, out.write, 1);
  if (options.pipe_stderr) posix_spawn_file_actions_adddup2(&actions, err.write, 2);
  if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (options.new_process_group) {
    flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&attr, 0);
  }
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, flags);

  std::vector<std::string> env_strings;
  if (!options.clear_env) {
    for (char** e = environ; *e != nullptr; ++e) {
      std::string_view kv(*e);
      auto eq = kv.find('=');
      if (eq != std::string_view::npos && options.env.count(std::string(kv.substr(0, eq))))
        continue;
      env_strings.emplace_back(kv);
    }
  }
  for (const auto& [k, v] : options.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = options.argv;
  std::vector<char*> argv;
  argv.reserve(argv_copy.size() + 1);
  for (auto& s : argv_copy) argv.push_back(s.data());
  argv.push_back(nullptr);

  pid_t pid = -1;
  int rc = 0;
  if (options.parent_death_signal != 0) {
    auto forked = ForkExec(options, in, out, err, argv.data(), envp.data());
    if (!forked) {
      posix_spawn_file_actions_destroy(&actions);
      posix_spawnattr_destroy(&attr);
      cleanup();
      return forked.error();
    }
    pid = *forked;
  } else {
    rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  }
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    cleanup();
    std::string msg = "cannot start '" + options.argv[0] + "': " + std::strerror(rc);
    if (rc == ENOENT) return NotFound(msg);
    return Unavailable(msg);
  }
  CloseFd(in.read);
  CloseFd(out.write);
  CloseFd(err.write);
  auto p = std::unique_ptr<Subprocess>(new Subprocess());
  p->pid_ = pid;
  p->group_ = options.new_process_group;
  p->stdin_fd_ = in.write;
  p->stdout_fd_ = out.read;
  p->stderr_fd_ = err.read;
  return p;
}

Subprocess::~Subprocess() {
  if (running()) {
    Signal(SIGKILL);
    Wait();
  } else if (group_) {
    ::kill(-pid_, SIGKILL);  // stragglers left in the group
  }
  CloseFd(stdin_fd_);
  CloseFd(stdout_fd_);
  CloseFd(stderr_fd_);
}

void Subprocess::CloseStdin() { CloseFd(stdin_fd_); }

std::optional<ExitStatus> Subprocess::TryWait() {
  if (status_) return status_;
  int wstatus = 0;
  pid_t r = ::waitpid(pid_, &wstatus, WNOHANG);
  if (r == pid_) status_ = Decode(wstatus);
  return status_;
}

ExitStatus Subprocess::Wait() {
  if (status_) return *status_;
  int wstatus = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &wstatus, 0);
  } while (r < 0 && errno == EINTR);
  status_ = r == pid_ ? Decode(wstatus) : ExitStatus{};
  return *status_;
}

std::optional<ExitStatus> Subprocess::WaitFor(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto step = std::chrono::milliseconds(1);
  while (true) {
    if (auto s = TryWait()) return s;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(step);
    step = std::min(step * 2, std::chrono::milliseconds(20));
  }
}

void Subprocess::Signal(int sig) {
  if (!running()) return;
  if (group_) {
    ::kill(-pid_, sig);
  } else {
    ::kill(pid_, sig);
  }
}

ExitStatus Subprocess::Terminate(std::chrono::milliseconds grace) {
  if (!running()) return *status_;
  Signal(SIGTERM);
  if (auto s = WaitFor(grace)) return *s;
  Signal(SIGKILL);
  return Wait();
}

Result<CommandResult> RunCommand(const SpawnOptions& options, std::string_view input,
                                 std::chrono::milliseconds timeout) {
  SpawnOptions o = options;
  o.pipe_stdin = true;
  o.pipe_stdout = true;
  o.pipe_stderr = true;
  auto spawned = Subprocess::Spawn(o);
  if (!spawned) return spawned.error();
  Subprocess& p = **spawned;
  CommandResult result;
  int in_fd = p.stdin_fd();
  if (input.empty()) {
    p.CloseStdin();
    in_fd = -1;
  } else {
    ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
  }
  size_t written = 0;
  int out_fd = p.stdout_fd(), err_fd = p.stderr_fd();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  while (out_fd >= 0 || err_fd >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      break;
    }
    pollfd fds[3];
    int n = 0;
    if (out_fd >= 0) fds[n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) fds[n++] = {err_fd, POLLIN, 0};
    if (in_fd >= 0) fds[n++] = {in_fd, POLLOUT, 0};
    int r = ::poll(fds, n, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (r < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      int fd = fds[i].fd;
      if (fd == in_fd) {
        ssize_t w = ::write(in_fd, input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 && errno != EAGAIN) written = input.size();
        if (written >= input.size()) {
          p.CloseStdin();
          in_fd = -1;
        }
        continue;
      }
      ssize_t got = ::read(fd, buf, sizeof buf);
      if (got > 0) {
        (fd == out_fd ? result.out : result.err).append(buf, static_cast<size_t>(got));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        (fd == out_fd ? out_fd : err_fd) = -1;
      }
    }
  }
  if (result.timed_out) {
    p.Signal(SIGKILL);
    result.status = p.Wait();
  } else {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto s = p.WaitFor(std::max(left, std::chrono::milliseconds(0)));
    if (!s) {
      result.timed_out = true;
      p.Signal(SIGKILL);
      s = p.Wait();
    }
    result.status = *s;
  }
  return result;
}

std::optional<std::filesystem::path> FindOnPath(std::string_view program) {
  if (program.find('/') != std::string_view::npos) {
    std::filesystem::path p(program);
    if (::access(p.c_str(), X_OK) == 0) return p;
    return std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::string_view rest = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!rest.empty()) {
    auto colon = rest.find(':');
    std::string_view dir = rest.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    if (dir.empty()) continue;
    std::filesystem::path candidate = std::filesystem::path(dir) / program;
    if (::access(candidate.c_str(), X_OK) == 0 && !std::filesystem::is_directory(candidate)) {
      return candidate;
    }
  }
  return std::nullopt;
}

}  // namespace naut

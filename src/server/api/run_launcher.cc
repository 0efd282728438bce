#include "server/api/run_launcher.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <condition_variable>
#include <csignal>

#include "core/json.h"

namespace naut::server {

using namespace std::chrono_literals;

struct RunLauncher::Child {
  Mutex mu;
  std::condition_variable_any cv;
  std::unique_ptr<Subprocess> process GUARDED_BY(mu);
  std::string run_id GUARDED_BY(mu);
  bool ended GUARDED_BY(mu) = false;
  Status spawn_error GUARDED_BY(mu);
  std::deque<std::string> stderr_tail GUARDED_BY(mu);
  std::string exit_text GUARDED_BY(mu);
  std::thread thread;
};

namespace {

// Splits complete lines off `buffer` into `out`.
void TakeLines(std::string& buffer, std::vector<std::string>& out) {
  size_t start = 0;
  for (size_t nl = buffer.find('\n'); nl != std::string::npos; nl = buffer.find('\n', start)) {
    out.push_back(buffer.substr(start, nl - start));
    start = nl + 1;
  }
  buffer.erase(0, start);
}

}  // namespace

RunLauncher::~RunLauncher() {
  std::vector<std::shared_ptr<Child>> children;
  {
    MutexLock lock(mu_);
    children = children_;
  }
  for (auto& c : children) {
    MutexLock lock(c->mu);
    if (c->process && !c->ended) c->process->Signal(SIGTERM);
  }
  for (auto& c : children) {
    {
      MutexLock lock(c->mu);
      bool ended = c->cv.wait_for(lock, 20s, [&]() REQUIRES(c->mu) { return c->ended; });
      if (!ended && c->process) c->process->Signal(SIGKILL);
    }
    if (c->thread.joinable()) c->thread.join();
  }
}

Result<LaunchedRun> RunLauncher::Start(const RunRequest& request, std::chrono::milliseconds wait) {
  std::vector<std::string> argv = command_;
  argv.emplace_back("run");
  if (!request.env.empty()) argv.insert(argv.end(), {"--env", request.env});
  if (!request.goal.empty()) argv.insert(argv.end(), {"--goal", request.goal});
  if (request.max_tasks > 0)
    argv.insert(argv.end(), {"--max-tasks", std::to_string(request.max_tasks)});
  if (request.max_minutes > 0)
    argv.insert(argv.end(), {"--max-minutes", std::to_string(request.max_minutes)});
  if (request.fresh) argv.emplace_back("--fresh");
  argv.emplace_back("--json");

  auto child = std::make_shared<Child>();
  // The child's whole life on one thread: spawned there (PR_SET_PDEATHSIG follows the spawning
  // thread, so it must last as long as the child), read until both pipes close, then waited.
  child->thread = std::thread([child, argv] {
    auto spawned = Subprocess::Spawn({.argv = argv,
                                      .pipe_stdin = false,
                                      .pipe_stdout = true,
                                      .pipe_stderr = true,
                                      .new_process_group = true,
                                      .parent_death_signal = SIGTERM});
    if (!spawned) {
      MutexLock lock(child->mu);
      child->spawn_error = spawned.error();
      child->ended = true;
      child->cv.notify_all();
      return;
    }
    int out_fd = (*spawned)->stdout_fd(), err_fd = (*spawned)->stderr_fd();
    {
      MutexLock lock(child->mu);
      child->process = std::move(*spawned);
      child->cv.notify_all();
    }
    std::string out_buf, err_buf;
    bool out_open = true, err_open = true;
    while (out_open || err_open) {
      pollfd fds[2] = {{out_open ? out_fd : -1, POLLIN, 0}, {err_open ? err_fd : -1, POLLIN, 0}};
      if (poll(fds, 2, 1000) < 0 && errno != EINTR) break;
      for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        char buf[8192];
        ssize_t n = read(fds[i].fd, buf, sizeof buf);
        if (n <= 0) {
          (i == 0 ? out_open : err_open) = false;
          continue;
        }
        std::vector<std::string> lines;
        TakeLines((i == 0 ? out_buf : err_buf).append(buf, static_cast<size_t>(n)), lines);
        MutexLock lock(child->mu);
        for (auto& line : lines) {
          if (i == 1) {
            child->stderr_tail.push_back(std::move(line));
            if (child->stderr_tail.size() > 20) child->stderr_tail.pop_front();
            continue;
          }
          if (!child->run_id.empty()) continue;
          auto event = ParseJson(line, "run event");
          if (event && event->is_object() && event->value("type", "") == "run_start") {
            child->run_id = event->value("run_id", "");
            child->cv.notify_all();
          }
        }
      }
    }
    MutexLock lock(child->mu);
    child->exit_text = child->process->Wait().ToString();
    child->ended = true;
    child->cv.notify_all();
    spdlog::info("serve: run {} ended ({})", child->run_id, child->exit_text);
  });

  MutexLock lock(child->mu);
  child->cv.wait_for(lock, wait,
                     [&]() REQUIRES(child->mu) { return !child->run_id.empty() || child->ended; });
  if (!child->spawn_error.ok()) {
    Status error = child->spawn_error;
    lock.unlock();
    child->thread.join();
    return Unavailable("cannot start `neuronaut run`: " + error.message());
  }
  if (child->run_id.empty()) {
    std::string why = child->stderr_tail.empty() ? "" : child->stderr_tail.back();
    if (!child->ended) {
      child->process->Signal(SIGTERM);
      why = "it announced no run within " +
            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(wait).count()) + " s";
    } else if (why.empty()) {
      why = child->exit_text;
    }
    lock.unlock();
    child->thread.join();
    return FailedPrecondition("the run did not start: " + why);
  }
  LaunchedRun launched{child->run_id, child->process->pid()};
  lock.unlock();
  MutexLock all(mu_);
  // Ended children are forgotten (their threads have returned or are about to).
  for (auto it = children_.begin(); it != children_.end();) {
    bool ended;
    {
      MutexLock l((*it)->mu);
      ended = (*it)->ended;
    }
    if (ended) {
      if ((*it)->thread.joinable()) (*it)->thread.join();
      it = children_.erase(it);
    } else {
      ++it;
    }
  }
  children_.push_back(child);
  return launched;
}

bool RunLauncher::Stop(const std::string& run_id) {
  MutexLock all(mu_);
  for (auto& c : children_) {
    MutexLock lock(c->mu);
    if (c->run_id == run_id && !c->ended && c->process) {
      c->process->Signal(SIGTERM);
      return true;
    }
  }
  return false;
}

bool RunLauncher::IsRunning(const std::string& run_id) {
  MutexLock all(mu_);
  for (auto& c : children_) {
    MutexLock lock(c->mu);
    if (c->run_id == run_id && !c->ended) return true;
  }
  return false;
}

}  // namespace naut::server

#pragma once
// Agent runs started from the API: each is a real `neuronaut run ... --json` child process of
// serve (the same binary), so a run started from the dashboard is exactly a run started on a
// terminal: it takes the data home's lock, writes runs/<id>/events.jsonl, and resumes its task
// next time. Its stdout (JSON events) tells the run's id; its stderr is kept (last lines) to say
// why a run that could not start failed.
//
// Stop sends SIGTERM (the agent cancels the model call under way, keeps the task active and
// exits 0); runs still going when the launcher is destroyed are stopped the same way, and die
// with serve even when serve is killed (PR_SET_PDEATHSIG).
//
// Thread-safety: every method may be called from any thread.

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/mutex.h"
#include "core/status.h"
#include "core/subprocess.h"

namespace naut::server {

struct RunRequest {
  std::string env;   // empty: the configured [agent] env
  std::string goal;  // empty: the curriculum picks
  int max_tasks = 0;
  int max_minutes = 0;
  bool fresh = false;
};

struct LaunchedRun {
  std::string run_id;
  pid_t pid = 0;
};

class RunLauncher {
 public:
  // `command` is how to start neuronaut with serve's global flags, e.g. {"/usr/bin/neuronaut",
  // "--home", "/data"}; "run ..." is appended.
  explicit RunLauncher(std::vector<std::string> command) : command_(std::move(command)) {}
  ~RunLauncher();
  RunLauncher(const RunLauncher&) = delete;
  RunLauncher& operator=(const RunLauncher&) = delete;

  // Starts a run and waits (up to `wait`) until it has announced its id. Errors: the child's
  // own last stderr line when it exits first (e.g. another run holds the home), Unavailable
  // when it cannot be spawned, DeadlineExceeded when it announced nothing in time (it is then
  // stopped).
  Result<LaunchedRun> Start(const RunRequest& request,
                            std::chrono::milliseconds wait = std::chrono::seconds(60));

  // SIGTERM to the run if this launcher started it and it is still going; false otherwise.
  bool Stop(const std::string& run_id);

  // Whether this launcher started `run_id` and it is still going.
  bool IsRunning(const std::string& run_id);

 private:
  struct Child;

  std::vector<std::string> command_;
  Mutex mu_;
  std::vector<std::shared_ptr<Child>> children_ GUARDED_BY(mu_);
};

}  // namespace naut::server

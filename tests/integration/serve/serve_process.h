#pragma once
// Test support: `neuronaut serve` as a real child process on port 0 with its own data home,
// and the first line it prints parsed for the address. One thread at a time per object; the
// destructor stops the server (SIGTERM, then SIGKILL).

#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/ids.h"
#include "core/status.h"
#include "core/subprocess.h"

namespace naut::testing {

class ServeProcess {
 public:
  static Result<std::unique_ptr<ServeProcess>> Start(const std::filesystem::path& home,
                                                     std::vector<std::string> args,
                                                     std::map<std::string, std::string> env = {}) {
    std::unique_ptr<ServeProcess> p(new ServeProcess());
    std::vector<std::string> argv = {NAUT_CLI, "serve"};
    argv.insert(argv.end(), args.begin(), args.end());
    env["NEURONAUT_HOME"] = home.string();
    env["NO_COLOR"] = "1";
    NAUT_ASSIGN_OR_RETURN(p->child_, Subprocess::Spawn({.argv = argv,
                                                        .env = env,
                                                        .pipe_stdin = false,
                                                        .pipe_stderr = false,
                                                        .new_process_group = true}));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (p->out_.find('\n') == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline)
        return DeadlineExceeded("neuronaut serve did not start");
      pollfd pfd{p->child_->stdout_fd(), POLLIN, 0};
      if (poll(&pfd, 1, 200) <= 0) continue;
      char buf[512];
      ssize_t n = read(p->child_->stdout_fd(), buf, sizeof buf);
      if (n <= 0) return Unavailable("neuronaut serve exited before listening");
      p->out_.append(buf, static_cast<size_t>(n));
    }
    const std::string prefix = "neuronaut: serve listening on ";
    if (p->out_.rfind(prefix, 0) != 0) return Internal("unexpected first line: " + p->out_);
    std::string rest = p->out_.substr(prefix.size());
    p->url_ = rest.substr(0, rest.find(' '));
    p->port_ = std::stoi(p->url_.substr(p->url_.rfind(':') + 1));
    return p;
  }

  ~ServeProcess() {
    if (child_ && child_->running()) child_->Terminate(std::chrono::seconds(10));
  }

  const std::string& url() const { return url_; }
  int port() const { return port_; }
  Subprocess& process() { return *child_; }

 private:
  ServeProcess() = default;
  std::unique_ptr<Subprocess> child_;
  std::string out_, url_;
  int port_ = 0;
};

}  // namespace naut::testing

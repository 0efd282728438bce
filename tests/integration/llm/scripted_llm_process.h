#pragma once
// Test support: the scripted OpenAI-compatible server (naut-scripted-llm) as a real child
// process on port 0. Header-only so that any test target can include it; the binary's path
// comes from the NAUT_SCRIPTED_LLM compile definition.
//
//   auto server = ScriptedLlmProcess::Start(Json{{"responses", ...}});
//   ASSERT_TRUE(server) << server.error().ToString();
//   ... use (*server)->url() ...; auto requests = (*server)->Requests();
//
// One thread at a time per object. The destructor kills the child.

#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/files.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/subprocess.h"

namespace naut::testing {

class ScriptedLlmProcess {
 public:
  // `port` 0: any free port (a server restarted on the port of one that was killed passes it).
  static Result<std::unique_ptr<ScriptedLlmProcess>> Start(const Json& script,
                                                           std::string binary = NAUT_SCRIPTED_LLM,
                                                           int port = 0) {
    std::unique_ptr<ScriptedLlmProcess> p(new ScriptedLlmProcess());
    p->dir_ = std::filesystem::temp_directory_path() / ("naut-scripted-" + NewId());
    std::filesystem::create_directories(p->dir_);
    auto script_file = p->dir_ / "script.json";
    p->record_file_ = p->dir_ / "requests.jsonl";
    std::ofstream(script_file) << DumpJson(script, 2);
    NAUT_ASSIGN_OR_RETURN(
        p->child_,
        Subprocess::Spawn({.argv = {binary, "--script", script_file.string(), "--record",
                                    p->record_file_.string(), "--port", std::to_string(port)},
                           .pipe_stdin = false,
                           .pipe_stderr = false}));
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (line.find('\n') == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline)
        return DeadlineExceeded("naut-scripted-llm did not start");
      pollfd pfd{p->child_->stdout_fd(), POLLIN, 0};
      if (poll(&pfd, 1, 200) <= 0) continue;
      char buf[256];
      ssize_t n = read(p->child_->stdout_fd(), buf, sizeof buf);
      if (n <= 0) return Unavailable("naut-scripted-llm exited before listening (bad script?)");
      line.append(buf, static_cast<size_t>(n));
    }
    const std::string prefix = "listening ";
    if (line.rfind(prefix, 0) != 0)
      return Internal("unexpected first line from naut-scripted-llm: " + line);
    p->url_ = line.substr(prefix.size(), line.find('\n') - prefix.size());
    return p;
  }

  ~ScriptedLlmProcess() {
    child_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  const std::string& url() const { return url_; }
  pid_t pid() const { return child_ ? child_->pid() : -1; }
  void Kill() {
    if (child_) child_->Signal(SIGKILL);
    if (child_) child_->Wait();
  }

  // Every request received so far, in order (see the record format in llm/scripted_server.h).
  std::vector<Json> Requests(const std::string& path = "/v1/chat/completions") const {
    std::vector<Json> out;
    std::ifstream in(record_file_);
    std::string line;
    while (std::getline(in, line)) {
      auto j = Json::parse(line, nullptr, false);
      if (!j.is_discarded() && (path.empty() || j.value("path", "") == path))
        out.push_back(std::move(j));
    }
    return out;
  }

 private:
  ScriptedLlmProcess() = default;
  std::unique_ptr<Subprocess> child_;
  std::filesystem::path dir_, record_file_;
  std::string url_;
};

}  // namespace naut::testing

#include "llm/llama_server.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <future>
#include <thread>

#include "core/cancel.h"
#include "core/mutex.h"
#include "core/net.h"
#include "core/subprocess.h"
#include "llm/openai_backend.h"

namespace naut::llm {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string LogTail(const fs::path& file, size_t bytes = 1500) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  auto size = static_cast<size_t>(in.tellg());
  in.seekg(static_cast<std::streamoff>(size > bytes ? size - bytes : 0));
  std::string tail((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return tail;
}

}  // namespace

Result<fs::path> FindLlamaServer(const std::string& binary) {
  std::error_code ec;
  auto executable = [&](const fs::path& p) {
    return fs::is_regular_file(p, ec) && access(p.c_str(), X_OK) == 0;
  };
  if (binary.find('/') != std::string::npos) {
    if (executable(binary)) return fs::absolute(binary);
  } else if (auto found = FindOnPath(binary)) {
    return *found;
  } else if (fs::path built = fs::path(kProjectLlamaCppBin) / binary; executable(built)) {
    // A user working in a clone has usually built it there (bench/engine/llama_cpp.sh setup)
    // rather than installed it; finding it saves setting [llm] llama_server by hand.
    return fs::absolute(built);
  }
  const bool bare = binary.find('/') == std::string::npos;
  return FailedPrecondition(
      "llm backend \"llamacpp\" starts llama.cpp's llama-server, but '" + binary +
      "' is not installed (not an executable file" +
      std::string(bare ? " on PATH or in ./" + std::string(kProjectLlamaCppBin) : "") +
      "). In a NeuroNaut clone, `bash bench/engine/llama_cpp.sh setup` builds it there; or "
      "install llama.cpp (https://github.com/ggml-org/llama.cpp) and put llama-server on PATH, "
      "or set [llm] llama_server to its path; or run a server yourself and use [llm] backend = "
      "\"openai\" with LLM_BASE_URL");
}

Result<fs::path> FindGguf(const std::string& model, const fs::path& models_dir) {
  std::error_code ec;
  if (!model.empty()) {
    for (const fs::path& p :
         {fs::path(model), models_dir / model, models_dir / (model + ".gguf")}) {
      if (fs::is_regular_file(p, ec)) return fs::absolute(p);
    }
    return NotFound("model '" + model + "' is neither a GGUF file nor a file in " +
                    fs::absolute(models_dir).string() +
                    "; download a .gguf there or set LLM_MODEL / [llm] model to its path");
  }
  std::vector<fs::path> found;
  if (fs::is_directory(models_dir, ec)) {
    for (const auto& entry : fs::directory_iterator(models_dir, ec)) {
      if (entry.path().extension() == ".gguf" && entry.is_regular_file(ec))
        found.push_back(entry.path());
    }
  }
  if (found.empty()) {
    return NotFound(
        "no .gguf model in " + fs::absolute(models_dir).string() +
        "; download one there (e.g. a Qwen3 or Mistral Small GGUF) or set LLM_MODEL to its path");
  }
  std::sort(found.begin(), found.end());
  return fs::absolute(found.front());
}

struct LlamaServer::Impl {
  LlamaServerOptions options;
  fs::path binary;
  int port = 0;
  mutable Mutex mu;
  std::unique_ptr<Subprocess> child GUARDED_BY(mu);
  int restarts GUARDED_BY(mu) = 0;
  std::jthread monitor;

  std::string url() const { return "http://" + options.host + ":" + std::to_string(port); }

  Result<std::unique_ptr<Subprocess>> Spawn() {
    std::vector<std::string> argv = {"/bin/sh",
                                     "-c",
                                     "exec \"$0\" \"$@\" >>\"$NAUT_LLAMA_LOG\" 2>&1",
                                     binary.string(),
                                     "--model",
                                     options.model.string(),
                                     "--host",
                                     options.host,
                                     "--port",
                                     std::to_string(port)};
    if (options.context_size > 0) {
      argv.emplace_back("--ctx-size");
      argv.push_back(std::to_string(options.context_size * std::max(1, options.parallel)));
    }
    if (options.parallel > 0) {
      argv.emplace_back("--parallel");
      argv.push_back(std::to_string(options.parallel));
    }
    argv.emplace_back("--jinja");  // native tool calling through the model's chat template
    for (const auto& a : options.extra_args) argv.push_back(a);
    // SIGKILL when the spawning thread (the monitor, which lives as long as this object) dies,
    // so that a `neuronaut` killed with SIGKILL outside systemd leaves no llama-server behind.
    return Subprocess::Spawn({.argv = argv,
                              .env = {{"NAUT_LLAMA_LOG", options.log_file.string()}},
                              .pipe_stdin = false,
                              .pipe_stdout = false,
                              .pipe_stderr = false,
                              .parent_death_signal = SIGKILL});
  }

  // Waits for /health 200; Unavailable when the process exits first or time runs out.
  Status WaitReady(Subprocess& proc, std::stop_token stop) {
    EndpointOptions eo;
    eo.base_url = url();
    eo.connect_timeout = std::chrono::milliseconds(1000);
    OpenAiBackend probe(eo);
    auto deadline = Clock::now() + options.ready_timeout;
    while (Clock::now() < deadline) {
      if (auto st = proc.TryWait()) {
        return Unavailable("llama-server exited (" + st->ToString() +
                           ") before it was ready; the end of " + options.log_file.string() +
                           ":\n" + LogTail(options.log_file));
      }
      auto h = probe.Health(std::chrono::seconds(2));
      if (h.ok()) return Status::Ok();
      if (!SleepFor(std::chrono::milliseconds(200), stop))
        return Cancelled("stopped while waiting for llama-server");
    }
    return Unavailable("llama-server did not become ready at " + url() + " within " +
                       std::to_string(options.ready_timeout.count() / 1000) + " s; see " +
                       options.log_file.string());
  }

  // The monitor thread's body: every llama-server process is spawned here, never on a caller's
  // thread, because PR_SET_PDEATHSIG fires when the spawning thread ends and Start() may be
  // called from a short-lived one. `started` gets the first start's outcome; the server is
  // stopped here too, before the thread ends.
  void Run(std::stop_token stop, std::promise<Status>& started) {
    auto first = Spawn();
    if (!first) {
      started.set_value(first.error());
      return;
    }
    Status ready = WaitReady(**first, stop);
    if (!ready.ok()) {
      started.set_value(ready);
      return;  // the Subprocess's destructor kills what was started
    }
    {
      MutexLock lock(mu);
      child = std::move(*first);
    }
    started.set_value(Status::Ok());
    Monitor(stop);
    std::unique_ptr<Subprocess> last;
    {
      MutexLock lock(mu);
      last = std::move(child);  // pid() and restarts() need not wait for the grace period
    }
    if (last && last->running()) last->Terminate(std::chrono::milliseconds(5000));
  }

  void Monitor(std::stop_token stop) {
    auto backoff = std::chrono::milliseconds(500);
    while (!stop.stop_requested()) {
      if (!SleepFor(std::chrono::milliseconds(200), stop)) return;
      std::optional<ExitStatus> ended;
      {
        MutexLock lock(mu);
        if (child) ended = child->TryWait();
      }
      if (!ended) continue;
      spdlog::warn("llama-server at {} died ({}); restarting in {} ms", url(), ended->ToString(),
                   backoff.count());
      if (!SleepFor(backoff, stop)) return;
      auto next = Spawn();
      if (!next) {
        spdlog::error("cannot restart llama-server: {}", next.error().message());
        backoff = std::min(backoff * 2, options.restart_backoff_max);
        continue;
      }
      Status ready = WaitReady(**next, stop);
      {
        MutexLock lock(mu);
        child = std::move(*next);
        if (ready.ok()) restarts++;
      }
      if (ready.ok()) {
        spdlog::info("llama-server at {} is back", url());
        backoff = std::chrono::milliseconds(500);
      } else {
        spdlog::error("{}", ready.message());
        backoff = std::min(backoff * 2, options.restart_backoff_max);
      }
    }
  }
};

LlamaServer::LlamaServer() : impl_(std::make_unique<Impl>()) {}

LlamaServer::~LlamaServer() {
  if (impl_->monitor.joinable()) {
    impl_->monitor.request_stop();
    impl_->monitor.join();  // stops the server
  }
}

Result<std::unique_ptr<LlamaServer>> LlamaServer::Start(LlamaServerOptions options) {
  NAUT_ASSIGN_OR_RETURN(fs::path binary, FindLlamaServer(options.binary));
  std::error_code ec;
  if (!fs::is_regular_file(options.model, ec)) {
    return NotFound("model file " + options.model.string() + " does not exist");
  }
  std::unique_ptr<LlamaServer> s(new LlamaServer());
  Impl& impl = *s->impl_;
  impl.binary = binary;
  impl.options = std::move(options);
  if (impl.options.port > 0) {
    impl.port = impl.options.port;
  } else {
    NAUT_ASSIGN_OR_RETURN(impl.port, FreeTcpPort(impl.options.host));
  }
  if (impl.options.log_file.empty()) {
    impl.options.log_file =
        fs::temp_directory_path() / ("llama-server-" + std::to_string(impl.port) + ".log");
  }
  spdlog::info("starting {} for {} on {} (log: {})", binary.string(), impl.options.model.string(),
               impl.url(), impl.options.log_file.string());
  std::promise<Status> started;
  std::future<Status> outcome = started.get_future();
  impl.monitor = std::jthread([&impl, &started](std::stop_token stop) { impl.Run(stop, started); });
  Status st = outcome.get();
  if (!st.ok()) return st;  // the monitor has returned; s's destructor joins it
  return s;
}

std::string LlamaServer::base_url() const { return impl_->url(); }
int LlamaServer::restarts() const {
  MutexLock lock(impl_->mu);
  return impl_->restarts;
}
int LlamaServer::pid() const {
  MutexLock lock(impl_->mu);
  return impl_->child && impl_->child->running() ? impl_->child->pid() : -1;
}
const fs::path& LlamaServer::log_file() const { return impl_->options.log_file; }

}  // namespace naut::llm

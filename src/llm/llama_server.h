#pragma once
// A llama.cpp `llama-server` started and looked after by NeuroNaut (`[llm] backend = "llamacpp"`):
// started for a GGUF file on a free local port, waited for until /health answers 200,
// restarted with backoff if it dies, and stopped (SIGTERM, then SIGKILL) when this object is
// destroyed. Its output goes to a log file, never to our terminal. The server is armed with
// PR_SET_PDEATHSIG (SIGKILL), so it goes with us even when `neuronaut` is SIGKILLed and no
// destructor runs.
//
// Thread-safety: the public methods may be called from any thread. A monitor thread owned by
// the object spawns, watches and stops the process (the kernel's parent of a PDEATHSIG child
// is the spawning thread, so spawning from the caller's thread would kill the server when that
// thread ends).

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace naut::llm {

struct LlamaServerOptions {
  std::string binary = "llama-server";  // a name on PATH or a path
  std::filesystem::path model;          // the GGUF file
  std::string host = "127.0.0.1";
  int port = 0;          // 0: a free port
  int context_size = 0;  // per slot: --ctx-size gets context_size x parallel, since llama-server
                         // splits its context between the slots; 0: the model's, split likewise
  int parallel = 0;      // slots; 0: llama-server's default
  std::vector<std::string> extra_args;
  std::filesystem::path log_file;                    // empty: <temp>/llama-server-<port>.log
  std::chrono::milliseconds ready_timeout{600'000};  // loading a large model takes minutes
  std::chrono::milliseconds restart_backoff_max{30'000};
};

class LlamaServer {
 public:
  // Starts the server and waits until it is ready. FailedPrecondition when the binary is not
  // installed (the message says how to fix it), NotFound when the model file is missing,
  // Unavailable when the process exits or never becomes ready (with the end of its log).
  static Result<std::unique_ptr<LlamaServer>> Start(LlamaServerOptions options);
  ~LlamaServer();
  LlamaServer(const LlamaServer&) = delete;
  LlamaServer& operator=(const LlamaServer&) = delete;

  std::string base_url() const;
  int restarts() const;
  int pid() const;  // of the current process, -1 while restarting
  const std::filesystem::path& log_file() const;

 private:
  LlamaServer();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Where the project builds llama.cpp (bench/engine/llama_cpp.sh setup), relative to a clone.
inline constexpr const char* kProjectLlamaCppBin = "bench/engine/.llama-cpp/bin";

// Where `[llm] llama_server` points: the executable's full path. A path is taken as it is; a
// bare name is looked up on PATH, then in kProjectLlamaCppBin under the working directory (so
// that `neuronaut` run from a clone finds the server the project built). FailedPrecondition
// when none is executable, saying that llama-server is not installed and how to get it.
Result<std::filesystem::path> FindLlamaServer(const std::string& binary);

// The GGUF to serve: `model` as a path, or a file name (with or without .gguf) in `models_dir`,
// or, with `model` empty, the only / first (by name) .gguf file in `models_dir`.
Result<std::filesystem::path> FindGguf(const std::string& model,
                                       const std::filesystem::path& models_dir);

}  // namespace naut::llm

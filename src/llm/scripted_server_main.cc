// naut-scripted-llm: the scripted OpenAI-compatible server as a process, for tests and
// benchmarks. The script format is documented in llm/scripted_server.h.

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>
#include <thread>

#include "core/files.h"
#include "llm/scripted_server.h"

int main(int argc, char** argv) {
  CLI::App app{
      "Scripted OpenAI-compatible server for NeuroNaut's tests (script format: "
      "src/llm/scripted_server.h)"};
  app.name("naut-scripted-llm");
  std::string script_path, record_path, host = "127.0.0.1";
  int port = 0;
  app.add_option("--script", script_path, "Script file (JSON)")->required();
  app.add_option("--record", record_path, "Append every received request to this JSONL file");
  app.add_option("--host", host, "Address to listen on");
  app.add_option("--port", port, "Port (0: any free port)");
  CLI11_PARSE(app, argc, argv);

  auto text = naut::ReadFile(script_path);
  if (!text) {
    std::cerr << "naut-scripted-llm: " << text.error().message() << "\n";
    return 1;
  }
  auto script = naut::ParseJson(*text, "script " + script_path);
  if (!script) {
    std::cerr << "naut-scripted-llm: " << script.error().message() << "\n";
    return 1;
  }
  std::optional<std::filesystem::path> record;
  if (!record_path.empty()) record = record_path;
  auto server = naut::llm::ScriptedServer::Create(*script, record);
  if (!server) {
    std::cerr << "naut-scripted-llm: " << script_path << ": " << server.error().message() << "\n";
    return 1;
  }
  // Signals are taken by one thread with sigwait so that stopping the server happens outside
  // a signal handler.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  auto bound = (*server)->Bind(host, port);
  if (!bound) {
    std::cerr << "naut-scripted-llm: " << bound.error().message() << "\n";
    return 1;
  }
  std::cout << "listening http://" << host << ":" << *bound << std::endl;
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&set, &sig);
    (*server)->Stop();
  });
  (*server)->Serve();
  // Wakes the stopper's sigwait (SIGTERM is blocked in every thread): it returns, nothing dies.
  pthread_kill(stopper.native_handle(), SIGTERM);  // NOLINT(bugprone-bad-signal-to-kill-thread)
  stopper.join();
  return 0;
}

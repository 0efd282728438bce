// The managed llama-server: what a user sees when it is missing, and start / restart / stop
// exercised with a stand-in executable that speaks llama-server's command line and serves
// through the scripted server.

#include "llm/llama_server.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <csignal>
#include <fstream>
#include <thread>

#include "core/files.h"
#include "core/ids.h"
#include "core/subprocess.h"
#include "llm/model_factory.h"
#include "llm/openai_backend.h"

namespace naut::llm {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class LlamaServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("naut-llama-" + NewId());
    fs::create_directories(dir_ / "models");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A stand-in for llama-server: takes its flags, serves a script on the given port, and writes
  // its pid (the same process once it execs) to <dir>/llama.pid.
  fs::path FakeLlamaServer(
      const std::string& script =
          R"({"model": "fake-gguf", "default": {"content": "hello from the managed server"}})") {
    std::ofstream(dir_ / "script.json") << script;
    fs::path bin = dir_ / "llama-server";
    std::ofstream(bin) << "#!/bin/sh\nport=0\nwhile [ $# -gt 0 ]; do\n  case \"$1\" in --port) "
                          "port=$2; shift;; esac\n"
                          "  shift\ndone\necho $$ >\""
                       << (dir_ / "llama.pid").string() << "\"\nexec \"" << NAUT_SCRIPTED_LLM
                       << "\" --script \"" << (dir_ / "script.json").string() << "\" --record \""
                       << (dir_ / "requests.jsonl").string() << "\" --port \"$port\"\n";
    fs::permissions(bin, fs::perms::owner_all);
    return bin;
  }

  fs::path dir_;
};

TEST_F(LlamaServerTest, MissingBinaryIsExplained) {
  auto r = FindLlamaServer("no-such-llama-server-binary");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.error().message().find("llama.cpp"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("[llm] llama_server"), std::string::npos);
  EXPECT_NE(r.error().message().find("'no-such-llama-server-binary' is not installed"),
            std::string::npos);

  LlmConfig config;
  config.backend = "llamacpp";
  config.llama_server = (dir_ / "bin" / "llama-server").string();
  config.models_dir = (dir_ / "models").string();
  auto model = MakeChatModel(config);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.error().message().find("is not installed"), std::string::npos)
      << model.error().message();
}

TEST_F(LlamaServerTest, MissingModelIsExplained) {
  auto none = FindGguf("", dir_ / "models");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message().find("no .gguf model in"), std::string::npos);
  std::ofstream(dir_ / "models" / "b.gguf") << "x";
  std::ofstream(dir_ / "models" / "a.gguf") << "x";
  auto first = FindGguf("", dir_ / "models");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->filename(), "a.gguf");
  auto named = FindGguf("b", dir_ / "models");
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(named->filename(), "b.gguf");
  EXPECT_FALSE(FindGguf("c", dir_ / "models").ok());
}

TEST_F(LlamaServerTest, StartsWaitsRestartsWhenKilledAndStops) {
  std::ofstream(dir_ / "models" / "tiny.gguf") << "not really a model";
  LlamaServerOptions o;
  o.binary = FakeLlamaServer().string();
  o.model = dir_ / "models" / "tiny.gguf";
  o.log_file = dir_ / "llama.log";
  o.ready_timeout = 30s;
  auto server = LlamaServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.error().ToString();
  std::string url = (*server)->base_url();
  EndpointOptions eo;
  eo.base_url = url;
  eo.max_retries = 0;
  OpenAiBackend client(eo);
  ChatRequest req;
  req.messages = {Message::User("hi")};
  auto r = client.Chat(req, {});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->content, "hello from the managed server");

  int pid = (*server)->pid();
  ASSERT_GT(pid, 0);
  kill(pid, SIGKILL);
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while ((*server)->restarts() < 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  ASSERT_EQ((*server)->restarts(), 1);
  EXPECT_NE((*server)->pid(), pid);
  auto again = client.Chat(req, {});
  ASSERT_TRUE(again.ok()) << again.error().ToString();

  server->reset();  // stops it
  auto after = client.Health(1s);
  EXPECT_FALSE(after.ok());
}

// The server is armed to die with its parent, and the kernel's parent is the spawning thread:
// started from a thread that ends at once, it must keep serving.
TEST_F(LlamaServerTest, KeepsServingAfterTheThreadThatStartedItEnds) {
  std::ofstream(dir_ / "models" / "tiny.gguf") << "not really a model";
  LlamaServerOptions o;
  o.binary = FakeLlamaServer().string();
  o.model = dir_ / "models" / "tiny.gguf";
  o.log_file = dir_ / "llama.log";
  o.ready_timeout = 30s;
  std::unique_ptr<LlamaServer> server;
  std::thread([&] {
    auto s = LlamaServer::Start(o);
    ASSERT_TRUE(s.ok()) << s.error().ToString();
    server = std::move(*s);
  }).join();
  ASSERT_NE(server, nullptr);
  int pid = server->pid();
  std::this_thread::sleep_for(500ms);
  EndpointOptions eo;
  eo.base_url = server->base_url();
  eo.max_retries = 0;
  OpenAiBackend client(eo);
  ChatRequest req;
  req.messages = {Message::User("hi")};
  auto r = client.Chat(req, {});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(server->restarts(), 0);
  EXPECT_EQ(server->pid(), pid);
}

// True once `pid` has ended (gone, or a zombie nobody has reaped yet).
bool Ended(int pid) {
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  auto paren = stat->rfind(')');
  return paren == std::string::npos || stat->substr(paren + 2, 1) == "Z";
}

// `neuronaut` killed with SIGKILL (outside systemd: no cgroup to clean up, no destructor runs)
// in the middle of a request to the llama-server it started: the server goes too.
TEST_F(LlamaServerTest, GoesWhenNeuronautIsKilled) {
  std::ofstream(dir_ / "models" / "tiny.gguf") << "not really a model";
  fs::path bin = FakeLlamaServer(
      R"({"model": "fake-gguf", "default": {"content": "late", "delay_ms": 60000}})");
  auto cli = Subprocess::Spawn(
      {.argv = {NAUT_CLI, "--home", (dir_ / "home").string(), "--set",
                "llm.llama_server=" + bin.string(), "llm", "ask", "--no-stream", "hi"},
       .env = {{"LLM_BACKEND", "llamacpp"},
               {"LLM_MODEL", (dir_ / "models" / "tiny.gguf").string()},
               {"TMPDIR", dir_.string()}},  // where its log goes: removed with dir_
       .pipe_stdin = false,
       .pipe_stdout = false,
       .pipe_stderr = false});
  ASSERT_TRUE(cli.ok()) << cli.error().ToString();
  // Until the question has reached the server.
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline && (*cli)->running()) {
    auto rec = ReadFile(dir_ / "requests.jsonl");
    if (rec && rec->find("chat/completions") != std::string::npos) break;
    std::this_thread::sleep_for(50ms);
    (*cli)->TryWait();
  }
  ASSERT_TRUE((*cli)->running()) << "neuronaut ended early: " << (*cli)->TryWait()->ToString();
  auto pid_text = ReadFile(dir_ / "llama.pid");
  ASSERT_TRUE(pid_text.ok()) << "the stand-in never started";
  int llama_pid = std::stoi(*pid_text);
  ASSERT_FALSE(Ended(llama_pid));

  ::kill((*cli)->pid(), SIGKILL);
  EXPECT_EQ((*cli)->Wait().signal, SIGKILL);
  deadline = std::chrono::steady_clock::now() + 10s;
  while (!Ended(llama_pid) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(Ended(llama_pid)) << "llama-server (pid " << llama_pid << ") outlived neuronaut";
  if (!Ended(llama_pid)) ::kill(llama_pid, SIGKILL);
}

TEST_F(LlamaServerTest, ProcessThatExitsEarlyReportsItsLog) {
  std::ofstream(dir_ / "models" / "tiny.gguf") << "x";
  fs::path bin = dir_ / "llama-server";
  std::ofstream(bin)
      << "#!/bin/sh\necho 'error: failed to load model: invalid magic' >&2\nexit 1\n";
  fs::permissions(bin, fs::perms::owner_all);
  LlamaServerOptions o;
  o.binary = bin.string();
  o.model = dir_ / "models" / "tiny.gguf";
  o.log_file = dir_ / "llama.log";
  auto server = LlamaServer::Start(o);
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.error().message().find("invalid magic"), std::string::npos)
      << server.error().message();
}

}  // namespace
}  // namespace naut::llm

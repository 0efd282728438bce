// The managed llama-server: what a user sees when it is missing, and start / restart / stop
// exercised with a stand-in executable that speaks llama-server's command line and serves
// through the scripted server.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <thread>

#include "core/ids.h"
#include "llm/llama_server.h"
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

  // A stand-in for llama-server: takes its flags, serves a script on the given port.
  fs::path FakeLlamaServer() {
    std::ofstream(dir_ / "script.json") << R"({"model": "fake-gguf", "default": {"content": "hello from the managed server"}})";
    fs::path bin = dir_ / "llama-server";
    std::ofstream(bin) << "#!/bin/sh\nport=0\nwhile [ $# -gt 0 ]; do\n  case \"$1\" in --port) port=$2; shift;; esac\n"
                          "  shift\ndone\nexec \""
                       << NAUT_SCRIPTED_LLM << "\" --script \"" << (dir_ / "script.json").string()
                       << "\" --port \"$port\"\n";
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
  EXPECT_NE(r.error().message().find("'no-such-llama-server-binary' is not installed"), std::string::npos);

  LlmConfig config;
  config.backend = "llamacpp";
  config.llama_server = (dir_ / "bin" / "llama-server").string();
  config.models_dir = (dir_ / "models").string();
  auto model = MakeChatModel(config);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.error().message().find("is not installed"), std::string::npos) << model.error().message();
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
  while ((*server)->restarts() < 1 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  ASSERT_EQ((*server)->restarts(), 1);
  EXPECT_NE((*server)->pid(), pid);
  auto again = client.Chat(req, {});
  ASSERT_TRUE(again.ok()) << again.error().ToString();

  server->reset();  // stops it
  auto after = client.Health(1s);
  EXPECT_FALSE(after.ok());
}

TEST_F(LlamaServerTest, ProcessThatExitsEarlyReportsItsLog) {
  std::ofstream(dir_ / "models" / "tiny.gguf") << "x";
  fs::path bin = dir_ / "llama-server";
  std::ofstream(bin) << "#!/bin/sh\necho 'error: failed to load model: invalid magic' >&2\nexit 1\n";
  fs::permissions(bin, fs::perms::owner_all);
  LlamaServerOptions o;
  o.binary = bin.string();
  o.model = dir_ / "models" / "tiny.gguf";
  o.log_file = dir_ / "llama.log";
  auto server = LlamaServer::Start(o);
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.error().message().find("invalid magic"), std::string::npos) << server.error().message();
}

}  // namespace
}  // namespace naut::llm

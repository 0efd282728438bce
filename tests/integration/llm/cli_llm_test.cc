// `neuronaut llm status` and `neuronaut llm ask` as a user runs them, against scripted servers.

#include <gtest/gtest.h>

#include <fstream>

#include "scripted_llm_process.h"

namespace naut {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using naut::testing::ScriptedLlmProcess;

class CliLlmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = fs::temp_directory_path() / ("naut-cli-llm-" + NewId());
    fs::create_directories(home_);
  }
  void TearDown() override { fs::remove_all(home_); }

  CommandResult Run(std::vector<std::string> args, const std::string& base_url) {
    args.insert(args.begin(), NAUT_CLI);
    auto r = RunCommand({.argv = args,
                         .env = {{"NEURONAUT_HOME", home_.string()},
                                 {"LLM_BASE_URL", base_url},
                                 {"LLM_BACKEND", "openai"}}},
                        "", 60s);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : CommandResult{};
  }

  fs::path home_;
};

TEST_F(CliLlmTest, AskStreamsTheAnswerAndPrintsTokenCounts) {
  auto s = ScriptedLlmProcess::Start(Json{
      {"responses",
       {{{"content", "The cave is dark."},
         {"chunk_size", 3},
         {"usage", {{"prompt_tokens", 12}, {"cached_tokens", 8}, {"completion_tokens", 5}}}}}}});
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  auto r = Run({"llm", "ask", "--system", "be brief", "describe", "the", "cave"}, (*s)->url());
  EXPECT_EQ(r.status.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("The cave is dark."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("12 prompt tokens (8 cached), 5 completion tokens"), std::string::npos)
      << r.out;
  auto sent = (*s)->Requests();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]["body"]["messages"][1]["content"], "describe the cave");
  EXPECT_EQ(sent[0]["body"]["stream"], true);
}

TEST_F(CliLlmTest, AskOffersTheToolsOfABuiltInMcpServer) {
  auto s =
      ScriptedLlmProcess::Start(Json{{"responses", {{{"content", "I would press a button."}}}}});
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  auto r = Run({"llm", "ask", "--no-stream", "--tools-from", "rpg", "play"}, (*s)->url());
  EXPECT_EQ(r.status.exit_code, 0) << r.err;
  auto sent = (*s)->Requests();
  ASSERT_EQ(sent.size(), 1u);
  std::vector<std::string> names;
  for (const auto& t : sent[0]["body"]["tools"])
    names.push_back(t["function"]["name"].get<std::string>());
  EXPECT_NE(std::find(names.begin(), names.end(), "rpg__press_inline_button"), names.end())
      << DumpJson(names);
}

TEST_F(CliLlmTest, AskOffersToolsAndPrintsTheCalls) {
  auto s =
      ScriptedLlmProcess::Start(Json{{"responses",
                                      {{{"content",
                                         "[TOOL_CALLS][{\"name\": \"send_message\", \"arguments\": "
                                         "{\"chat\": \"game\", \"text\": \"/start\"}}]"}}}}});
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  fs::path tools = home_ / "tools.json";
  std::ofstream(tools)
      << R"({"tools": [{"name": "rpg__send_message", "description": "Send a message",
    "inputSchema": {"type": "object", "properties": {"chat": {"type": "string", "format": "chat-id"}, "text": {"type": "string"}},
    "required": ["chat", "text"]}}]})";
  auto r = Run({"llm", "ask", "--no-stream", "--tools", tools.string(), "start"}, (*s)->url());
  EXPECT_EQ(r.status.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(R"(tool call: rpg__send_message {"chat":"game","text":"/start"})"),
            std::string::npos)
      << r.out;
  auto sent = (*s)->Requests();
  ASSERT_EQ(sent.size(), 1u);
  const Json& schema = sent[0]["body"]["tools"][0]["function"]["parameters"];
  EXPECT_FALSE(schema["properties"]["chat"].contains("format"))
      << "the sanitizer runs before the request";
}

TEST_F(CliLlmTest, AskReportsServerErrorsClearly) {
  auto s =
      ScriptedLlmProcess::Start(Json{{"default",
                                      {{"status", 400},
                                       {"error", "the request exceeds the available context size"},
                                       {"error_type", "exceed_context_size_error"}}}});
  ASSERT_TRUE(s.ok());
  auto r = Run({"llm", "ask", "hi"}, (*s)->url());
  EXPECT_EQ(r.status.exit_code, 1);
  EXPECT_NE(r.err.find("context length exceeded"), std::string::npos) << r.err;
}

TEST_F(CliLlmTest, ToolsFromAnUnknownServerNamesTheConfiguredOnes) {
  auto r = Run({"llm", "ask", "--tools-from", "nope", "hi"}, "http://127.0.0.1:1");
  EXPECT_EQ(r.status.exit_code, 1);
  EXPECT_NE(r.err.find("--tools-from nope: no such MCP server"), std::string::npos) << r.err;
}

TEST_F(CliLlmTest, StatusShowsEachEndpoint) {
  auto s = ScriptedLlmProcess::Start(
      Json{{"model", "mixtral-8x22b"}, {"context_size", 65536}, {"slots", 8}});
  ASSERT_TRUE(s.ok());
  auto r = Run({"--set", "llm.endpoints=http://127.0.0.1:1", "llm", "status"}, (*s)->url());
  EXPECT_EQ(r.status.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("mixtral-8x22b"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("65536"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("down"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 of 2 endpoint(s) up"), std::string::npos) << r.out;

  auto none = Run({"llm", "status"}, "http://127.0.0.1:1");
  EXPECT_EQ(none.status.exit_code, 1);
  EXPECT_NE(none.out.find("0 of 1 endpoint(s) up"), std::string::npos) << none.out;
}

// A new user lists two servers and sets nothing else: the pool is those two, and the default
// base_url (127.0.0.1:8080, where nothing runs) is not among them.
TEST_F(CliLlmTest, ThePoolIsExactlyTheListedEndpoints) {
  auto a = ScriptedLlmProcess::Start(Json{{"model", "model-a"}});
  auto b = ScriptedLlmProcess::Start(Json{{"model", "model-b"}});
  ASSERT_TRUE(a.ok() && b.ok());
  std::ofstream(home_ / "neuronaut.toml")
      << "[llm]\nendpoints = [\"" << (*a)->url() << "\", \"" << (*b)->url() << "\"]\n";
  auto r = RunCommand({.argv = {NAUT_CLI, "llm", "status"},
                       .env = {{"NEURONAUT_HOME", home_.string()}, {"LLM_BACKEND", "openai"}}},
                      "", 60s);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->status.exit_code, 0) << r->out << r->err;
  EXPECT_NE(r->out.find("2 of 2 endpoint(s) up"), std::string::npos) << r->out;
  EXPECT_EQ(r->out.find("8080"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("model-a"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("model-b"), std::string::npos) << r->out;
}

TEST_F(CliLlmTest, LlamacppBackendWithoutLlamaServerSaysSo) {
  auto r = RunCommand({.argv = {NAUT_CLI, "--set", "llm.llama_server=/nonexistent/llama-server",
                                "llm", "ask", "hi"},
                       .env = {{"NEURONAUT_HOME", home_.string()}, {"LLM_BACKEND", "llamacpp"}}},
                      "", 60s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status.exit_code, 1);
  EXPECT_NE(r->err.find("llama.cpp's llama-server"), std::string::npos) << r->err;
  EXPECT_NE(r->err.find("is not installed"), std::string::npos) << r->err;
}

// The embedded engine behind the same commands, on the shared trained tiny model (it has no
// chat template, so the format is named).
TEST_F(CliLlmTest, EmbeddedBackendRunsTheModelInProcess) {
  const std::string model = NAUT_SOURCE_DIR "/../shared/conformance/models/stories260K.gguf";
  if (!fs::exists(model)) GTEST_SKIP() << "conformance data absent: " << model;
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), NAUT_CLI);
    auto r = RunCommand({.argv = args,
                         .env = {{"NEURONAUT_HOME", home_.string()},
                                 {"LLM_BACKEND", "embedded"},
                                 {"LLM_MODEL", model}}},
                        "", 60s);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : CommandResult{};
  };
  auto no_format = run({"llm", "status"});
  EXPECT_EQ(no_format.status.exit_code, 1);
  EXPECT_NE(no_format.out.find("no chat template"), std::string::npos) << no_format.out;
  auto status = run({"--set", "llm.chat_format=mistral", "llm", "status"});
  EXPECT_EQ(status.status.exit_code, 0) << status.out << status.err;
  EXPECT_NE(status.out.find("chat format mistral"), std::string::npos) << status.out;
  auto ask = run({"--set", "llm.chat_format=mistral", "llm", "ask", "--max-tokens", "12",
                  "--temperature", "0", "Once", "upon", "a", "time"});
  EXPECT_EQ(ask.status.exit_code, 0) << ask.err;
  EXPECT_NE(ask.out.find("12 completion tokens"), std::string::npos) << ask.out;
  EXPECT_NE(ask.out.find("embedded"), std::string::npos) << ask.out;
}

}  // namespace
}  // namespace naut

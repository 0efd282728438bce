// NeuroNaut against a real model (label `model`): the same conversations through a real
// llama.cpp llama-server (started and supervised by LlamaServer) and through the embedded
// engine, on Qwen2.5-Coder-0.5B-Instruct from ./models (scripts/models.sh fetches it).
//
// Every request runs at temperature 0, so answers are the model's greedy choice; assertions
// are about what a user notices (the fact in the answer, the tool the game gets called with,
// JSON that parses against its schema, cached prompt tokens) and never about exact wording.
//
// Without llama-server (on PATH or built by bench/engine/llama_cpp.sh) or the model, tests
// skip saying why; with NAUT_TEST_MODEL=1 (scripts/test.sh running this label) they fail
// instead, so that a run that was meant to test real models cannot pass by testing nothing.

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <thread>

#include "core/config.h"
#include "core/ids.h"
#include "core/subprocess.h"
#include "envs/rpg/rpg_server.h"
#include "llm/embedded_backend.h"
#include "llm/llama_server.h"
#include "llm/model_factory.h"
#include "llm/openai_backend.h"
#include "llm/tool_calls.h"

namespace naut::llm {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path kModel =
    fs::path(NAUT_SOURCE_DIR) / "models/Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf";
constexpr int kThreads = 2;

bool ModelTestsRequired() {
  const char* v = std::getenv("NAUT_TEST_MODEL");
  return v != nullptr && std::string(v) == "1";
}

#define NAUT_SKIP_OR_FAIL(why)                                                        \
  do {                                                                                \
    if (ModelTestsRequired()) FAIL() << why << " (NAUT_TEST_MODEL=1 asks for a run)"; \
    GTEST_SKIP() << why;                                                              \
  } while (0)

// The project-built server first (what scripts/test.sh builds), then one on PATH.
Result<fs::path> TestLlamaServer() {
  auto built =
      FindLlamaServer(std::string(NAUT_SOURCE_DIR "/") + kProjectLlamaCppBin + "/llama-server");
  if (built) return built;
  return FindLlamaServer("llama-server");
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

enum class Backend { kLlamaServer, kEmbedded };

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kLlamaServer ? "LlamaServer" : "Embedded";
}

// The five tools of the Telegram-style game, as the agent offers them (`rpg__<tool>`).
std::vector<ToolSpec> GameTools(const std::shared_ptr<envs::rpg::RpgWorld>& world) {
  std::vector<ToolSpec> specs;
  for (const auto& t : envs::rpg::RpgWorld::Tools(world)) {
    // The checker's tools, not the player's (the rpg profile keeps them from the actor).
    if (t.name == "check_goal" || t.name == "reset" || t.name == "save_state" ||
        t.name == "load_state") {
      continue;
    }
    specs.push_back({"rpg__" + t.name, t.description, t.input_schema});
  }
  return specs;
}

class ModelTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (!fs::is_regular_file(kModel)) {
      NAUT_SKIP_OR_FAIL("no " << kModel.filename().string()
                              << " in ./models; `bash scripts/models.sh qwen2.5-coder-0.5b` "
                                 "fetches it");
    }
    if (GetParam() == Backend::kEmbedded) {
      auto b = EmbeddedBackend::Load(
          {.model_path = kModel.string(), .context_size = 4096, .threads = kThreads});
      ASSERT_TRUE(b.ok()) << b.error().ToString();
      model_ = std::move(*b);
      return;
    }
    auto binary = TestLlamaServer();
    if (!binary) NAUT_SKIP_OR_FAIL("no llama-server: " << binary.error().message());
    LlamaServerOptions o;
    o.binary = binary->string();
    o.model = kModel;
    o.context_size = 4096;
    o.parallel = 1;  // one slot: the second turn of a conversation lands on the first's cache
    o.extra_args = {"--threads", std::to_string(kThreads)};
    o.log_file = fs::temp_directory_path() / ("naut-model-test-" + NewId() + ".log");
    auto s = LlamaServer::Start(o);
    ASSERT_TRUE(s.ok()) << s.error().ToString();
    server_ = std::move(*s);
    EndpointOptions eo;
    eo.base_url = server_->base_url();
    eo.timeout = 300s;
    client_ = std::make_unique<OpenAiBackend>(eo);
  }

  void TearDown() override {
    if (server_) {
      fs::path log = server_->log_file();
      server_.reset();
      if (!HasFailure()) fs::remove(log);  // kept for a failure, named in its messages
    }
  }

  ChatModel& model() { return client_ ? static_cast<ChatModel&>(*client_) : *model_; }

  static ChatRequest Ask(std::string question, int max_tokens = 48) {
    ChatRequest r;
    r.messages = {Message::System("You are a helpful assistant. Answer briefly."),
                  Message::User(std::move(question))};
    r.sampling.temperature = 0;
    r.sampling.max_tokens = max_tokens;
    return r;
  }

  std::unique_ptr<LlamaServer> server_;
  std::unique_ptr<OpenAiBackend> client_;
  std::unique_ptr<ChatModel> model_;
};

TEST_P(ModelTest, AnswersAPlainQuestion) {
  auto r = model().Chat(Ask("What is the capital of France? Answer with one word."), {});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_NE(Lower(r->content).find("paris"), std::string::npos) << r->content;
  EXPECT_EQ(r->finish_reason, FinishReason::kStop);
  EXPECT_GT(r->usage.prompt_tokens, 10);
  EXPECT_GT(r->usage.completion_tokens, 0);
}

TEST_P(ModelTest, StreamsTheAnswerAsItIsWritten) {
  std::vector<std::string> deltas;
  CallOptions opts;
  opts.on_delta = [&](const StreamDelta& d) {
    EXPECT_FALSE(d.restart);
    if (!d.content.empty()) deltas.push_back(d.content);
  };
  auto r = model().Chat(Ask("Count from 1 to 10, separated by commas.", 64), opts);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_GT(deltas.size(), 5u) << "the answer came in one piece: " << r->content;
  std::string streamed;
  for (const auto& d : deltas) streamed += d;
  EXPECT_EQ(streamed, r->content);
  EXPECT_NE(r->content.find("1, 2, 3"), std::string::npos) << r->content;
  EXPECT_GT(r->timings.first_token_ms, 0);
  EXPECT_LT(r->timings.first_token_ms, r->timings.total_ms);
}

TEST_P(ModelTest, CallsAToolOfTheGame) {
  auto world = envs::rpg::RpgWorld::Open("");
  ASSERT_TRUE(world.ok()) << world.error().ToString();
  std::vector<ToolSpec> tools = GameTools(*world);
  ASSERT_EQ(tools.size(), 5u);
  ChatRequest req;
  req.messages = {
      Message::System("You play a text adventure in a Telegram-style chat, only through the "
                      "tools. Answer with one tool call."),
      Message::User("Which chats can I talk to? Look them up.")};
  req.tools = tools;
  req.tool_choice.mode = ToolChoice::Mode::kRequired;
  req.sampling.temperature = 0;
  req.sampling.max_tokens = 96;
  auto r = model().Chat(req, {});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ParsedToolCalls parsed = ToolCallParser(tools).Parse(*r);
  ASSERT_TRUE(parsed.ok()) << parsed.Correction() << "\nthe model wrote: " << r->content;
  ASSERT_FALSE(parsed.calls.empty()) << "no tool call in: " << r->content;
  EXPECT_EQ(parsed.calls[0].name, "rpg__list_chats") << r->content;
  // The call works on the game: it lists the bot the player talks to.
  auto result = (*world)->ListChats(parsed.calls[0].arguments);
  EXPECT_FALSE(result.is_error);
  ASSERT_FALSE(result.content.empty());
  const std::string listed = DumpJson(result.content[0].data);
  EXPECT_NE(listed.find("dungeon_quest_bot"), std::string::npos) << listed;
}

TEST_P(ModelTest, AnswersInJsonMatchingASchema) {
  ChatRequest req = Ask("Describe a sword for a game: its name and its damage.", 96);
  req.response_format.type = ResponseFormat::Type::kJsonSchema;
  req.response_format.name = "item";
  req.response_format.schema = Json::parse(R"({
      "type": "object",
      "properties": {"name": {"type": "string"}, "damage": {"type": "integer"}},
      "required": ["name", "damage"], "additionalProperties": false})");
  auto r = model().Chat(req, {});
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  auto j = ParseJson(r->content, "answer");
  ASSERT_TRUE(j.ok()) << r->content;
  ASSERT_TRUE(j->is_object()) << r->content;
  EXPECT_TRUE((*j)["name"].is_string()) << r->content;
  EXPECT_FALSE((*j)["name"].get<std::string>().empty()) << r->content;
  EXPECT_TRUE((*j)["damage"].is_number_integer()) << r->content;
  EXPECT_EQ(j->size(), 2u) << r->content;
}

TEST_P(ModelTest, ReusesThePromptOfThePreviousTurn) {
  ChatRequest first = Ask("Name a colour of the rainbow.", 16);
  auto a = model().Chat(first, {});
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  ChatRequest second = first;
  second.messages.push_back(Message::Assistant(a->content));
  second.messages.push_back(Message::User("Name another one."));
  auto b = model().Chat(second, {});
  ASSERT_TRUE(b.ok()) << b.error().ToString();
  EXPECT_GT(b->usage.prompt_tokens, a->usage.prompt_tokens);
  // The whole first prompt (system and question) is served from the cache; only the new turn
  // is evaluated.
  EXPECT_GE(b->usage.cached_tokens, a->usage.prompt_tokens - 1)
      << "first prompt " << a->usage.prompt_tokens << " tokens, second " << b->usage.prompt_tokens;
  EXPECT_LT(b->usage.cached_tokens, b->usage.prompt_tokens);
}

// A stream that cannot finish (the server killed, or the caller cancelling) ends in a clean,
// typed error; the next request is answered in full, the same as before.
TEST_P(ModelTest, SurvivesALostStreamAndAnswersTheRetry) {
  ChatRequest req = Ask("Write a short story about a dragon who guards a cave.", 96);
  auto reference = model().Chat(req, {});
  ASSERT_TRUE(reference.ok()) << reference.error().ToString();
  ASSERT_GT(reference->content.size(), 40u);

  std::atomic<int> deltas = 0;
  std::string partial;
  std::stop_source cancel;
  int killed_pid = -1;
  CallOptions opts;
  opts.max_retries = 0;  // see the failure itself, not the client's retry
  opts.cancel = cancel.get_token();
  opts.on_delta = [&](const StreamDelta& d) {
    partial += d.content;
    if (++deltas != 3) return;
    if (server_) {
      killed_pid = server_->pid();
      ASSERT_GT(killed_pid, 0);
      kill(killed_pid, SIGKILL);
    } else {
      cancel.request_stop();
    }
  };
  auto lost = model().Chat(req, opts);
  ASSERT_FALSE(lost.ok()) << "the stream finished anyway: " << lost->content;
  EXPECT_GE(deltas.load(), 3);
  EXPECT_EQ(reference->content.substr(0, partial.size()), partial)
      << "what was shown before the failure is the start of the answer";
  if (server_) {
    EXPECT_EQ(lost.error().kind, LlmError::Kind::kNetwork) << lost.error().ToString();
    EXPECT_TRUE(lost.error().transient());
    // The supervisor notices and starts it again.
    auto deadline = std::chrono::steady_clock::now() + 120s;
    while (server_->restarts() < 1 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(100ms);
    ASSERT_EQ(server_->restarts(), 1) << "see " << server_->log_file();
    EXPECT_NE(server_->pid(), killed_pid);
  } else {
    EXPECT_EQ(lost.error().kind, LlmError::Kind::kCancelled) << lost.error().ToString();
  }

  std::string streamed;
  CallOptions again;
  again.on_delta = [&](const StreamDelta& d) { streamed += d.content; };
  auto retry = model().Chat(req, again);
  ASSERT_TRUE(retry.ok()) << retry.error().ToString();
  EXPECT_EQ(streamed, retry->content);
  if (server_) {
    // A restarted server evaluates the prompt from scratch, as for the reference: the same
    // greedy answer, whole.
    EXPECT_EQ(retry->content, reference->content);
  } else {
    // The engine serves the retry's prompt from the cancelled call's cache; one-token and
    // batched evaluation round differently, so a long greedy answer may part from the
    // reference after a while. What matters is a whole answer from an intact context.
    EXPECT_EQ(retry->finish_reason, FinishReason::kLength);
    EXPECT_GT(retry->content.size(), 40u) << retry->content;
    EXPECT_GE(retry->usage.cached_tokens, reference->usage.prompt_tokens - 1);
  }
}

INSTANTIATE_TEST_SUITE_P(RealModel, ModelTest,
                         ::testing::Values(Backend::kLlamaServer, Backend::kEmbedded), BackendName);

// What a user types: `LLM_BACKEND=llamacpp neuronaut llm ask --tools-from rpg ...` in a clone,
// with nothing configured. neuronaut finds the llama-server the project built and the model in
// ./models, starts the server, offers the game's tools, and prints the call.
TEST(ModelCliTest, LlamacppBackendStartsTheProjectBuiltServerOnTheFetchedModel) {
  if (!fs::is_regular_file(kModel)) NAUT_SKIP_OR_FAIL("no " << kModel.filename().string());
  if (!fs::is_regular_file(fs::path(NAUT_SOURCE_DIR) / kProjectLlamaCppBin / "llama-server"))
    NAUT_SKIP_OR_FAIL("llama-server is not built; `bash bench/engine/llama_cpp.sh setup`");
  fs::path home = fs::temp_directory_path() / ("naut-model-cli-" + NewId());
  fs::create_directories(home);
  auto r = RunCommand(
      {.argv = {NAUT_CLI, "llm", "ask", "--no-stream", "--temperature", "0", "--max-tokens", "96",
                "--tools-from", "rpg", "--system",
                "You play a text adventure in a Telegram-style chat, only through the tools. "
                "Answer with one tool call.",
                "Which chats can I talk to? Look them up."},
       .env = {{"NEURONAUT_HOME", home.string()},
               {"LLM_BACKEND", "llamacpp"},
               {"LLM_MODEL", kModel.filename().string()}},
       .cwd = NAUT_SOURCE_DIR},
      "", 600s);
  fs::remove_all(home);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->status.exit_code, 0) << r->err;
  EXPECT_NE(r->out.find("tool call: rpg__list_chats"), std::string::npos) << r->out << r->err;
  EXPECT_NE(r->out.find("prompt tokens"), std::string::npos) << r->out;
}

}  // namespace
}  // namespace naut::llm

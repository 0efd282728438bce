// `neuronaut serve` as a real process on port 0: hostile requests are refused with the right
// status and change nothing; a run started through the API (a real `neuronaut run` on the
// scripted model server) is followed live over SSE and stopped; MCP answers on the same port;
// SIGTERM ends serve and the runs it started.

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "core/json.h"
#include "core/subprocess.h"
#include "llm/scripted_llm_process.h"
#include "serve/serve_process.h"

namespace naut {
namespace {

using namespace std::chrono_literals;
using testing::ScriptedLlmProcess;
using testing::ServeProcess;

constexpr const char* kToken = "serve-test-token-42";

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = std::filesystem::temp_directory_path() / ("naut-serve-" + NewId());
    std::filesystem::create_directories(home_);
  }
  void TearDown() override {
    serve_.reset();
    std::error_code ec;
    std::filesystem::remove_all(home_, ec);
  }

  void StartServe(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    auto serve = ServeProcess::Start(home_, std::move(args), std::move(env));
    ASSERT_TRUE(serve) << serve.error().ToString();
    serve_ = std::move(*serve);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", serve_->port());
    client_->set_read_timeout(60, 0);
  }

  httplib::Headers Auth() const { return {{"Authorization", std::string("Bearer ") + kToken}}; }

  // `neuronaut` run as a client of the serve, in a home of its own, with these settings.
  CommandResult Client(const std::vector<std::string>& settings, std::vector<std::string> args) {
    std::vector<std::string> argv = {NAUT_CLI, "--home", (home_ / "client").string()};
    for (const auto& s : settings) argv.insert(argv.end(), {"--set", s});
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunCommand({.argv = argv, .env = {{"NO_COLOR", "1"}}}, {}, std::chrono::seconds(60));
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : CommandResult{};
  }

  Json Get(const std::string& path) {
    auto res = client_->Get(path.c_str());
    EXPECT_TRUE(res) << path;
    if (!res) return nullptr;
    EXPECT_EQ(res->status, 200) << path << ": " << res->body;
    auto j = ParseJson(res->body, path);
    return j ? *j : Json(nullptr);
  }

  std::filesystem::path home_;
  std::unique_ptr<ServeProcess> serve_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ServeTest, HostileRequestsAreRefusedAndNothingHappens) {
  StartServe({"--http", "127.0.0.1:0", "--token", kToken});
  // Oversized bodies: the API's limit and the server's, decided before the body is read.
  std::string big(300 * 1024, 'x');
  auto r = client_->Post("/api/runs", Auth(), big, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413) << r->body;
  // Broken JSON and wrong fields.
  for (const char* body : {"{\"env\": ", "[1,2]", "{\"goal\": 7}", "{\"rm\": \"-rf\"}"}) {
    r = client_->Post("/api/runs", Auth(), body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << body << ": " << r->body;
    EXPECT_NE(r->body.find("\"error\""), std::string::npos);
  }
  r = client_->Post("/mcp", "{not json", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  // A foreign page (Origin) and DNS rebinding (Host), on the API, the page and MCP.
  for (const char* path : {"/api/runs", "/", "/mcp"}) {
    auto o = client_->Get(path, {{"Origin", "http://evil.example"}});
    ASSERT_TRUE(o);
    EXPECT_EQ(o->status, 403) << path;
    EXPECT_TRUE(o->get_header_value("Access-Control-Allow-Origin").empty());
    auto h = client_->Get(path, {{"Host", "evil.example:" + std::to_string(serve_->port())}});
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 403) << path;
  }
  // The same origin is this server's own.
  auto own =
      client_->Get("/api/runs", {{"Origin", "http://127.0.0.1:" + std::to_string(serve_->port())}});
  ASSERT_TRUE(own);
  EXPECT_EQ(own->status, 200);
  // A write without the token, or with a wrong one.
  r = client_->Post("/api/runs", "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = client_->Post("/api/runs", {{"Authorization", "Bearer serve-test-token-43"}}, "{}",
                    "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  // Path traversal: the URL is only a key into the embedded table.
  std::filesystem::path secret = home_ / "secret.txt";
  { std::ofstream(secret) << "top secret"; }
  httplib::Client raw("127.0.0.1", serve_->port());
  for (const std::string& path : std::vector<std::string>{
           "/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd",
           "//etc/passwd", "/app.js/../../../etc/passwd", "/web/../CMakeLists.txt",
           "/" + secret.string(), "/..\\..\\etc\\passwd", "/index.html%00.js"}) {
    auto t = raw.Get(path.c_str());
    ASSERT_TRUE(t) << path;
    EXPECT_TRUE(t->status == 404 || t->status == 400) << path << ": " << t->status;
    EXPECT_EQ(t->body.find("root:"), std::string::npos) << path;
    EXPECT_EQ(t->body.find("top secret"), std::string::npos) << path;
  }
  // Nothing happened: no run was started, and the server goes on answering.
  Json runs = Get("/api/runs");
  EXPECT_TRUE(runs["runs"].empty()) << runs.dump();
  EXPECT_TRUE(std::filesystem::is_empty(home_ / "runs"));
  EXPECT_EQ(Get("/api/health")["status"], "ok");
}

TEST_F(ServeTest, TooManyRequestsAre429) {
  StartServe({"--http", "127.0.0.1:0", "--rate-limit", "2"});
  int refused = 0, answered = 0;
  std::string retry_after;
  for (int i = 0; i < 30; ++i) {
    auto r = client_->Get("/api/health");
    ASSERT_TRUE(r);
    if (r->status == 429) {
      ++refused;
      retry_after = r->get_header_value("Retry-After");
    } else {
      ++answered;
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_GE(answered, 8);  // the burst
  EXPECT_EQ(retry_after, "1");
  std::this_thread::sleep_for(1500ms);
  auto r = client_->Get("/api/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ServeTest, NonLoopbackBindNeedsTheTokenForEverythingButThePage) {
  StartServe({"--http", "0.0.0.0:0", "--token", kToken});
  for (const char* path : {"/api/health", "/api/runs", "/v1/models", "/slots", "/metrics"}) {
    auto r = client_->Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << path;
  }
  auto mcp = client_->Post("/mcp", "{}", "application/json");
  ASSERT_TRUE(mcp);
  EXPECT_EQ(mcp->status, 401);
  auto ok = client_->Get("/api/health", Auth());
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  auto page = client_->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
}

TEST_F(ServeTest, McpAnswersOnTheSamePort) {
  StartServe({"--http", "127.0.0.1:0"});
  Json init = {{"jsonrpc", "2.0"},
               {"id", 1},
               {"method", "initialize"},
               {"params",
                {{"protocolVersion", "2025-06-18"},
                 {"capabilities", Json::object()},
                 {"clientInfo", {{"name", "serve-test"}, {"version", "1"}}}}}};
  auto r = client_->Post("/mcp", {{"Accept", "application/json, text/event-stream"}},
                         DumpJson(init), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_FALSE(r->get_header_value("Mcp-Session-Id").empty());
  EXPECT_NE(r->body.find("serverInfo"), std::string::npos);
  // Without --model, /v1 says plainly that it is not there and how to get it.
  auto v1 = client_->Get("/v1/models");
  ASSERT_TRUE(v1);
  EXPECT_EQ(v1->status, 501);
  EXPECT_NE(v1->body.find("--model FILE.gguf"), std::string::npos) << v1->body;
}

// A tiny GGUF of ../shared/conformance, or "" (the test says it skipped).
std::string TinyModel() {
  const std::string path =
      NAUT_SOURCE_DIR "/../shared/conformance/models/synth-llama-256-Q4_K_M.gguf";
  return std::filesystem::exists(path) ? path : "";
}

TEST_F(ServeTest, ServesAModelAtV1OnTheSamePortAsTheApi) {
  const std::string model = TinyModel();
  if (model.empty()) GTEST_SKIP() << "../shared/conformance/models is absent; this test needs it";
  // The tiny model has no chat template: the prompt format comes from the config, as for run.
  StartServe({"--http", "127.0.0.1:0", "--token", kToken, "--model", model, "--parallel", "2",
              "--ctx-size", "256", "--threads", "1", "--set", "llm.chat_format=chatml"});
  int health = 0;
  for (int i = 0; i < 300 && health != 200; ++i) {
    auto r = client_->Get("/health");
    ASSERT_TRUE(r);
    health = r->status;
    if (health != 200) std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(health, 200) << "the model did not load";
  Json models = Get("/v1/models");
  ASSERT_EQ(models["data"].size(), 1u) << models.dump();
  EXPECT_EQ(models["data"][0]["id"], "synth-llama-256-Q4_K_M");

  Json request = {{"messages", Json::array({{{"role", "user"}, {"content", "Hello"}}})},
                  {"max_tokens", 6},
                  {"temperature", 0}};
  auto chat = client_->Post("/v1/chat/completions", DumpJson(request), "application/json");
  ASSERT_TRUE(chat);
  ASSERT_EQ(chat->status, 200) << chat->body;
  Json answer = *ParseJson(chat->body, "chat");
  EXPECT_EQ(answer["object"], "chat.completion");
  EXPECT_EQ(answer["usage"]["completion_tokens"], 6) << answer.dump();
  // The same request again reuses the slot's cached prompt.
  chat = client_->Post("/v1/chat/completions", DumpJson(request), "application/json");
  ASSERT_TRUE(chat);
  ASSERT_EQ(chat->status, 200) << chat->body;
  Json again = *ParseJson(chat->body, "chat");
  EXPECT_EQ(again["choices"][0]["message"]["content"], answer["choices"][0]["message"]["content"]);
  EXPECT_GT(again["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>(), 0);

  auto metrics = client_->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("tokens_predicted_total"), std::string::npos) << metrics->body;
  Json slots = Get("/slots");
  EXPECT_EQ(slots.size(), 2u) << slots.dump();
  // The API says what /v1 serves.
  Json status = Get("/api/health");
  EXPECT_NE(status.dump().find("synth-llama-256-Q4_K_M.gguf"), std::string::npos) << status.dump();
  // A long answer in flight does not keep serve from stopping.
  std::thread streamer([port = serve_->port()] {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    Json body = {{"prompt", "Once"}, {"max_tokens", 200}, {"stream", true}};
    c.Post("/v1/completions", DumpJson(body), "application/json");
  });
  std::this_thread::sleep_for(300ms);
  serve_->process().Signal(SIGTERM);
  auto stopped = serve_->process().WaitFor(30s);
  streamer.join();
  ASSERT_TRUE(stopped.has_value()) << "serve did not stop";
  EXPECT_TRUE(stopped->success()) << stopped->ToString();
}

// NeuroNaut's own pool takes a serve as it takes a llama-server: health, model, context and
// slots read from /health, /props and /slots, and a question answered through it.
TEST_F(ServeTest, ThePoolTakesServeAsAnEndpoint) {
  const std::string model = TinyModel();
  if (model.empty()) GTEST_SKIP() << "../shared/conformance/models is absent; this test needs it";
  StartServe({"--http", "127.0.0.1:0", "--model", model, "--parallel", "3", "--ctx-size", "256",
              "--threads", "1", "--set", "llm.chat_format=chatml"});
  auto cli = [&](std::vector<std::string> args) {
    return Client({"llm.backend=openai", "llm.endpoints=" + serve_->url()}, std::move(args));
  };
  CommandResult status;
  for (int i = 0; i < 50; ++i) {  // the model may still be loading: /health 503
    status = cli({"llm", "status"});
    if (status.status.success()) break;
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(status.status.success()) << status.out << status.err;
  EXPECT_NE(status.out.find("synth-llama-256-Q4_K_M"), std::string::npos) << status.out;
  // context 256, 3 slots, none busy
  EXPECT_TRUE(std::regex_search(status.out, std::regex(R"( 256 +3 +0\n)"))) << status.out;
  EXPECT_NE(status.out.find("1 of 1 endpoint(s) up"), std::string::npos) << status.out;
  CommandResult ask = cli({"llm", "ask", "--max-tokens", "5", "--temperature", "0", "Hello"});
  EXPECT_TRUE(ask.status.success()) << ask.out << ask.err;
  EXPECT_FALSE(ask.out.empty()) << ask.err;
}

// The memory's embedder pointed at serve's /v1/embeddings: records are stored with the model's
// vectors, and a search finds the one that shares its words first.
TEST_F(ServeTest, TheMemoryEmbedsThroughServe) {
  const std::string model = TinyModel();
  if (model.empty()) GTEST_SKIP() << "../shared/conformance/models is absent; this test needs it";
  StartServe({"--http", "127.0.0.1:0", "--model", model, "--ctx-size", "256", "--threads", "1",
              "--set", "llm.chat_format=chatml"});
  for (int i = 0; i < 50; ++i) {  // /health is 503 while the model loads
    auto h = client_->Get("/health");
    if (h && h->status == 200) break;
    std::this_thread::sleep_for(200ms);
  }
  auto cli = [&](std::vector<std::string> args) {
    return Client({"embeddings.backend=openai", "embeddings.base_url=" + serve_->url(),
                   "embeddings.model=synth-llama-256-Q4_K_M"},
                  std::move(args));
  };
  for (const char* text :
       {"The goblin drops gold coins after a fight", "Rest at the inn when the hero is hurt"}) {
    CommandResult add = cli({"memory", "add", text});
    ASSERT_TRUE(add.status.success()) << add.out << add.err;
  }
  CommandResult status = cli({"memory", "status"});
  ASSERT_TRUE(status.status.success()) << status.out << status.err;
  EXPECT_NE(status.out.find("openai:synth-llama-256-Q4_K_M"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("(dim 256"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("index: 2 vectors"), std::string::npos) << status.out;
  CommandResult search =
      cli({"memory", "search", "Rest at the inn when the hero is hurt", "-k", "2", "--json"});
  ASSERT_TRUE(search.status.success()) << search.out << search.err;
  EXPECT_LT(search.out.find("inn"), search.out.find("goblin")) << search.out;
}

TEST_F(ServeTest, AModelThatCannotBeLoadedEndsServeSayingWhy) {
  auto bad = home_ / "not-a-model.gguf";
  std::ofstream(bad) << "GGUF but not really";
  auto serve = ServeProcess::Start(home_, {"--http", "127.0.0.1:0", "--model", bad.string()});
  if (serve) {  // it may listen before the load fails: then it must exit, with status 1
    auto status = (*serve)->process().WaitFor(30s);
    ASSERT_TRUE(status.has_value()) << "serve kept running with a broken model";
    EXPECT_FALSE(status->success());
  }
  auto missing =
      ServeProcess::Start(home_, {"--http", "127.0.0.1:0", "--model", "/nonexistent.gguf"});
  EXPECT_FALSE(missing) << "serve started with a model file that does not exist";
}

// The scripted model: the first answer reads the chat (a tool call that does not start the game,
// so the task is never done), then slow plain answers keep the run
// going (each a model call in the trace) until it is stopped.
Json SlowScript() {
  return Json{
      {"responses",
       Json::array({{{"tool_calls",
                      Json::array({{{"id", "call_1"},
                                    {"name", "game__get_messages"},
                                    {"arguments",
                                     {{"chat_id", "@dungeon_quest_bot"}, {"page_size", 2}}}}})}}})},
      {"default", {{"content", "Let me look at the chat again."}, {"delay_ms", 400}}}};
}

// Reads the run's SSE stream until `until` says stop (or the stream ends); returns the event
// names seen.
std::vector<std::string> ReadStream(
    int port, const std::string& run_id,
    const std::function<bool(const std::vector<std::string>&)>& until,
    std::string* last_data = nullptr) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  std::vector<std::string> names;
  std::string buf;
  c.Get(("/api/runs/" + run_id + "/stream").c_str(), [&](const char* data, size_t n) {
    buf.append(data, n);
    size_t at;
    while ((at = buf.find("\n\n")) != std::string::npos) {
      std::string block = buf.substr(0, at);
      buf.erase(0, at + 2);
      size_t ev = block.find("event: ");
      if (ev != std::string::npos) {
        names.push_back(block.substr(ev + 7, block.find('\n', ev) - ev - 7));
        if (last_data != nullptr) *last_data = block;
      }
    }
    return !until(names);
  });
  return names;
}

TEST_F(ServeTest, ARunStartsIsFollowedLiveAndStops) {
  auto llm = ScriptedLlmProcess::Start(SlowScript());
  ASSERT_TRUE(llm) << llm.error().ToString();
  StartServe({"--http", "127.0.0.1:0", "--token", kToken},
             {{"LLM_BASE_URL", (*llm)->url()}, {"LLM_BACKEND", "openai"}});
  auto started =
      client_->Post("/api/runs", Auth(), R"({"env": "rpg", "max_tasks": 1})", "application/json");
  ASSERT_TRUE(started);
  ASSERT_EQ(started->status, 202) << started->body;
  auto body = ParseJson(started->body, "started");
  ASSERT_TRUE(body);
  std::string run_id = (*body)["run_id"];
  ASSERT_FALSE(run_id.empty());

  // A second run on the same home is refused while this one holds it.
  auto second = client_->Post("/api/runs", Auth(), "{}", "application/json");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 409) << second->body;

  // Steps arrive as they happen: the run start, then model calls and the tool call.
  auto names = ReadStream(serve_->port(), run_id, [](const std::vector<std::string>& n) {
    return std::count(n.begin(), n.end(), "model_call") >= 3;
  });
  EXPECT_EQ(names.front(), "run_start");
  EXPECT_NE(std::find(names.begin(), names.end(), "tool_call"), names.end());
  Json run = Get("/api/runs/" + run_id);
  EXPECT_EQ(run["status"], "running");

  auto stop =
      client_->Post(("/api/runs/" + run_id + "/stop").c_str(), Auth(), "", "application/json");
  ASSERT_TRUE(stop);
  EXPECT_EQ(stop->status, 202) << stop->body;
  // The stream from the start runs to the run's end and then says `end`.
  std::string last;
  names = ReadStream(
      serve_->port(), run_id, [](const std::vector<std::string>&) { return false; }, &last);
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names.back(), "end");
  EXPECT_NE(std::find(names.begin(), names.end(), "run_end"), names.end());
  run = Get("/api/runs/" + run_id);
  EXPECT_EQ(run["status"], "stopped") << run.dump();
  EXPECT_GE(run["trace"]["model_calls"].get<int>(), 3);
  // Stopping it again: it is not running.
  stop = client_->Post(("/api/runs/" + run_id + "/stop").c_str(), Auth(), "", "application/json");
  ASSERT_TRUE(stop);
  EXPECT_EQ(stop->status, 409);
}

TEST_F(ServeTest, SigtermStopsServeAndTheRunsItStarted) {
  auto llm = ScriptedLlmProcess::Start(SlowScript());
  ASSERT_TRUE(llm) << llm.error().ToString();
  StartServe({"--http", "127.0.0.1:0", "--token", kToken},
             {{"LLM_BASE_URL", (*llm)->url()}, {"LLM_BACKEND", "openai"}});
  auto started = client_->Post("/api/runs", Auth(), "{}", "application/json");
  ASSERT_TRUE(started);
  ASSERT_EQ(started->status, 202) << started->body;
  std::string run_id = (*ParseJson(started->body, "started"))["run_id"];
  pid_t run_pid = (*ParseJson(started->body, "started"))["pid"];
  // An open event stream must not keep serve from stopping.
  std::thread reader([&] {
    ReadStream(serve_->port(), run_id, [](const std::vector<std::string>&) { return false; });
  });
  std::this_thread::sleep_for(1500ms);
  serve_->process().Signal(SIGTERM);
  auto status = serve_->process().WaitFor(60s);
  reader.join();
  ASSERT_TRUE(status.has_value()) << "serve did not stop";
  EXPECT_TRUE(status->success()) << status->ToString();
  EXPECT_NE(::kill(run_pid, 0), 0) << "the run outlived serve";
}

}  // namespace
}  // namespace naut

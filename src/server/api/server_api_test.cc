// serve in-process on port 0, on a data home filled through the real stores: every route of
// openapi/openapi.json answers with a documented status and a body its schema accepts; the
// routes the server registers are exactly the documented ones; write actions need the token.

#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "agent/progress.h"
#include "agent/trace.h"
#include "core/config.h"
#include "core/data_home.h"
#include "core/files.h"
#include "core/ids.h"
#include "core/json.h"
#include "core/json_schema.h"
#include "memory/memory_store.h"
#include "server/api/api.h"
#include "server/serve.h"
#include "skills/skill_store.h"

namespace naut::server {
namespace {

constexpr const char* kToken = "test-token-0123456789abcdef";

// The document with every $ref inlined and `nullable` written as a type list, so the
// project's JSON Schema validator can check answers against it.
Json Resolve(const Json& node, const Json& doc, int depth = 0) {
  if (depth > 32) return node;
  if (node.is_object()) {
    if (node.contains("$ref")) {
      std::string ref = node["$ref"];
      std::string name = ref.substr(ref.rfind('/') + 1);
      return Resolve(doc["components"]["schemas"][name], doc, depth + 1);
    }
    Json out = Json::object();
    for (const auto& [k, v] : node.items()) out[k] = Resolve(v, doc, depth + 1);
    if (out.value("nullable", false) && out.contains("type") && out["type"].is_string())
      out["type"] = Json::array({out["type"], "null"});
    return out;
  }
  if (node.is_array()) {
    Json out = Json::array();
    for (const auto& v : node) out.push_back(Resolve(v, doc, depth + 1));
    return out;
  }
  return node;
}

class ServerApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = std::filesystem::temp_directory_path() / ("naut-serve-api-" + NewId());
    std::filesystem::create_directories(home_);
    ConfigOverrides o;
    o.home = home_;
    // Nothing listens on port 1: the pool's probe reports the endpoint down.
    o.settings = {{"llm.base_url", "http://127.0.0.1:1"}, {"mcp.builtin_servers", "true"}};
    auto config = LoadConfig(o, [](const std::string&) { return std::nullopt; });
    ASSERT_TRUE(config) << config.error().ToString();
    config_ = *config;
    Fill();
    auto serve = Serve::Open(config_, {.host = "127.0.0.1",
                                       .port = 0,
                                       .token = kToken,
                                       .run_command = {NAUT_CLI, "--home", home_.string()}});
    ASSERT_TRUE(serve) << serve.error().ToString();
    serve_ = std::move(*serve);
    ASSERT_TRUE(serve_->Start().ok());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", serve_->port());
    client_->set_read_timeout(30, 0);
    auto text = ReadFile(NAUT_OPENAPI_FILE);
    ASSERT_TRUE(text) << text.error().ToString();
    auto doc = ParseJson(*text, "openapi.json");
    ASSERT_TRUE(doc) << doc.error().ToString();
    doc_ = *doc;
  }

  void TearDown() override {
    if (serve_) serve_->Stop();
    std::error_code ec;
    std::filesystem::remove_all(home_, ec);
  }

  // A run with a trace, milestones and tasks; a skill in two versions; memories.
  void Fill() {
    DataHome home{home_};
    ASSERT_TRUE(OpenDataHome(home_));
    auto progress = agent::ProgressStore::Open(home.database(), home.progress_file());
    ASSERT_TRUE(progress) << progress.error().ToString();
    run_id_ = "20261206-serve-test";
    ASSERT_TRUE((*progress)->StartRun({.id = run_id_, .env = "rpg", .goal = "level 2"}).ok());
    ASSERT_TRUE(
        (*progress)
            ->DeclareMilestones("rpg", {{.env = "rpg", .id = "start", .description = "Start"},
                                        {.env = "rpg", .id = "gold", .description = "Gold"}})
            .ok());
    ASSERT_TRUE((*progress)->MarkMilestone("rpg", "start", "start_game").ok());
    auto task = (*progress)->BeginTask(
        {.env = "rpg", .description = "Start the game", .milestone = "start", .run_id = run_id_});
    ASSERT_TRUE(task);
    ASSERT_TRUE(
        (*progress)->FinishTask(*task, agent::TaskStatus::kDone, "start_game", "it started").ok());
    ASSERT_TRUE((*progress)->FinishRun(run_id_, "finished", "1 done").ok());
    {
      auto trace = agent::TraceWriter::Open(home.runs_dir(), run_id_);
      ASSERT_TRUE(trace);
      (*trace)->Event("run_start", {{"run_id", run_id_}, {"env", "rpg"}, {"critic", "checker"}});
      (*trace)->Event("task_start", {{"task", "Start the game"}});
      (*trace)->Event("model_call", {{"prompt_tokens", 900},
                                     {"cached_tokens", 300},
                                     {"completion_tokens", 40},
                                     {"latency_ms", 800},
                                     {"content", "game__send_message"}});
      (*trace)->Event("tool_call", {{"tool", "game__send_message"}, {"is_error", false}});
      (*trace)->Event("milestone_reached", {{"milestone", "start"}, {"model_calls", 1}});
      (*trace)->Event("task_end", {{"task", "Start the game"}, {"success", true}});
      (*trace)->Event("run_end", {{"status", "finished"}});
    }
    auto memory = memory::OpenMemoryStore(config_);
    ASSERT_TRUE(memory) << memory.error().ToString();
    ASSERT_TRUE((*memory)->Add({.kind = memory::Kind::kFact, .text = "The Hunt button pays gold"}));
    auto skills = skills::SkillStore::Open(**memory, {.skills_dir = home.skills_dir()});
    ASSERT_TRUE(skills) << skills.error().ToString();
    for (const char* body : {"return 1", "return 2"}) {
      auto added = (*skills)->Add(
          {.code = std::string("def start_game(chat_id=\"@bot\"):\n    \"\"\"Starts the game "
                               "and earns gold.\"\"\"\n    ") +
                   body + "\n",
           .environment = "rpg"});
      ASSERT_TRUE(added) << added.error().ToString();
    }
  }

  // A documented path with its parameters filled in from this home's data.
  std::string Instantiate(std::string path, const Json& op) const {
    auto replace = [&](const std::string& key, const std::string& value) {
      size_t at = path.find(key);
      if (at != std::string::npos) path.replace(at, key.size(), value);
    };
    replace("{id}", run_id_.substr(0, 12));  // a unique prefix works like the id
    replace("{name}", "start_game");
    std::string query;
    for (const auto& p : op.value("parameters", Json::array())) {
      if (p.value("in", "") == "query" && p.value("required", false)) {
        query += (query.empty() ? "?" : "&") + p["name"].get<std::string>() + "=" +
                 p.value("example", std::string("x"));
      }
    }
    return path + query;
  }

  std::filesystem::path home_;
  Config config_;
  std::string run_id_;
  std::unique_ptr<Serve> serve_;
  std::unique_ptr<httplib::Client> client_;
  Json doc_;
};

TEST_F(ServerApiTest, RegisteredRoutesAreExactlyTheDocumentedOnes) {
  std::set<std::string> documented, registered;
  for (const auto& [path, item] : doc_["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      std::string m = method;
      for (auto& c : m) c = static_cast<char>(std::toupper(c));
      documented.insert(m + " " + path);
    }
  }
  for (const auto& r : ApiRoutes())
    registered.insert(std::string(r.method) + " " + std::string(r.path));
  EXPECT_EQ(documented, registered);
}

TEST_F(ServerApiTest, EveryDocumentedRouteAnswersAsDocumented) {
  const httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kToken}};
  int checked = 0;
  for (const auto& [path, item] : doc_["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      std::string url = Instantiate(path, op);
      SCOPED_TRACE(method + " " + url);
      httplib::Result res{nullptr, httplib::Error::Unknown};
      if (path == "/api/runs/{id}/stream") {
        // A finished run's stream sends every line and then `end`, and closes.
        res = client_->Get(url.c_str());
      } else if (method == "get") {
        res = client_->Get(url.c_str());
      } else if (path == "/api/runs") {
        // An unknown environment: the run starts, fails to load its profile and exits, so the
        // answer is the documented refusal (a run that reaches the model is the integration
        // test's job).
        res = client_->Post(url.c_str(), auth, R"({"env": "no-such-env", "max_tasks": 1})",
                            "application/json");
      } else {
        res = client_->Post(url.c_str(), auth, "", "application/json");
      }
      ASSERT_TRUE(res) << httplib::to_string(res.error());
      std::string status = std::to_string(res->status);
      ASSERT_TRUE(op["responses"].contains(status))
          << "undocumented status " << status << ": " << res->body;
      const Json& documented = op["responses"][status];
      if (!documented.contains("content")) continue;
      for (const auto& [type, media] : documented["content"].items()) {
        EXPECT_EQ(res->get_header_value("Content-Type").rfind(type, 0), 0u)
            << res->get_header_value("Content-Type");
        if (type != "application/json") {
          EXPECT_NE(res->body.find("event: end"), std::string::npos) << res->body;
          EXPECT_NE(res->body.find("event: model_call"), std::string::npos) << res->body;
          continue;
        }
        auto body = ParseJson(res->body, "answer");
        ASSERT_TRUE(body) << res->body;
        Json schema = Resolve(media["schema"], doc_);
        auto report = CheckJsonSchema(*body, schema, "body", JsonSchemaOptions::ForPeer());
        EXPECT_TRUE(report.ok()) << report.problems[0] << "\n" << res->body;
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<int>(ApiRoutes().size()));
}

TEST_F(ServerApiTest, AnswersCarryTheStoredData) {
  auto runs = client_->Get("/api/runs");
  ASSERT_TRUE(runs);
  auto body = ParseJson(runs->body, "runs");
  ASSERT_TRUE(body);
  ASSERT_EQ((*body)["runs"].size(), 1u);
  EXPECT_EQ((*body)["runs"][0]["id"], run_id_);
  EXPECT_EQ((*body)["runs"][0]["status"], "finished");

  auto skill = client_->Get("/api/skills/start_game");
  ASSERT_TRUE(skill);
  auto k = ParseJson(skill->body, "skill");
  ASSERT_TRUE(k);
  EXPECT_EQ((*k)["version"], 2);
  EXPECT_NE((*k)["code"].get<std::string>().find("return 2"), std::string::npos);
  auto v1 = client_->Get("/api/skills/start_game?version=1");
  ASSERT_TRUE(v1);
  EXPECT_NE(v1->body.find("return 1"), std::string::npos);

  auto metrics = client_->Get(("/api/runs/" + run_id_ + "/metrics").c_str());
  ASSERT_TRUE(metrics);
  auto m = ParseJson(metrics->body, "metrics");
  ASSERT_TRUE(m);
  ASSERT_EQ((*m)["model_calls"].size(), 1u);
  EXPECT_EQ((*m)["model_calls"][0]["cached_tokens"], 300);
  EXPECT_EQ((*m)["milestones"][0]["milestone"], "start");

  auto progress = client_->Get("/api/progress?env=rpg");
  ASSERT_TRUE(progress);
  auto p = ParseJson(progress->body, "progress");
  ASSERT_TRUE(p);
  ASSERT_EQ((*p)["milestones"].size(), 2u);
  EXPECT_TRUE((*p)["milestones"][0]["done"].get<bool>());
  EXPECT_FALSE((*p)["milestones"][1]["done"].get<bool>());

  auto memory = client_->Get("/api/memory/search?q=gold%20hunt&kind=fact");
  ASSERT_TRUE(memory);
  EXPECT_NE(memory->body.find("The Hunt button pays gold"), std::string::npos) << memory->body;

  auto llm = client_->Get("/api/llm");
  ASSERT_TRUE(llm);
  auto l = ParseJson(llm->body, "llm");
  ASSERT_TRUE(l);
  EXPECT_EQ((*l)["endpoints"][0]["state"], "down");
  EXPECT_DOUBLE_EQ((*l)["cached_share"]["share"].get<double>(), 300.0 / 900.0);
}

TEST_F(ServerApiTest, WriteActionsNeedTheToken) {
  auto none = client_->Post("/api/runs", "{}", "application/json");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  auto wrong = client_->Post("/api/runs", {{"Authorization", "Bearer not-the-token"}}, "{}",
                             "application/json");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  auto stop = client_->Post(("/api/runs/" + run_id_ + "/stop").c_str(), "", "application/json");
  ASSERT_TRUE(stop);
  EXPECT_EQ(stop->status, 401);
  // Reads on a loopback bind need none.
  auto read = client_->Get("/api/runs");
  ASSERT_TRUE(read);
  EXPECT_EQ(read->status, 200);
}

TEST_F(ServerApiTest, UndocumentedApiPathsAre404WithJson) {
  for (const char* path : {"/api/nope", "/api/runs/x/y/z", "/api", "/api/skills/a/b/c"}) {
    auto res = client_->Get(path);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 404) << path;
    EXPECT_NE(res->body.find("\"error\""), std::string::npos) << path << ": " << res->body;
  }
}

TEST_F(ServerApiTest, StaticFilesComeFromTheEmbeddedTableOnly) {
  auto page = client_->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<script src=\"/app.js\""), std::string::npos);
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("default-src 'self'"),
            std::string::npos);
  EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");
  // No page loads anything from elsewhere.
  for (const char* asset : {"/", "/app.js", "/app.css"}) {
    auto res = client_->Get(asset);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << asset;
    EXPECT_EQ(res->body.find("http://"), std::string::npos) << asset;
    EXPECT_EQ(res->body.find("https://"), std::string::npos) << asset;
  }
}

}  // namespace
}  // namespace naut::server

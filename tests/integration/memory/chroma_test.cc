// The memory with Chroma as its vector store, against a real `chroma run` (PyPI chromadb,
// installed by scripts/chroma.sh) on a free loopback port with its own data directory; and
// against a small local HTTP server that answers junk.
#include <gtest/gtest.h>
#include <httplib.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "core/config.h"
#include "core/ids.h"
#include "core/net.h"
#include "core/subprocess.h"
#include "memory/chroma_index.h"
#include "memory/memory_store.h"

namespace naut::memory {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

const fs::path kSource = NAUT_SOURCE_DIR;
const fs::path kChromaDeps = kSource / ".cache" / "chroma" / "pydeps";

// One `chroma run` as a user starts it (scripts/chroma.sh run), on a fixed port so that it can
// be killed and started again there with the same data.
class ChromaServer {
 public:
  ChromaServer(fs::path data, int port) : data_(std::move(data)), port_(port) {}
  ~ChromaServer() { Stop(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  Status Start() {
    const fs::path log = data_.string() + ".log";
    SpawnOptions o;
    o.argv = {"bash", "-c",
              "exec bash '" + (kSource / "scripts" / "chroma.sh").string() + "' run --path '" +
                  data_.string() + "' --port " + std::to_string(port_) + " >>'" + log.string() +
                  "' 2>&1"};
    o.pipe_stdin = false;
    o.pipe_stdout = false;
    o.pipe_stderr = false;
    o.parent_death_signal = SIGKILL;
    NAUT_ASSIGN_OR_RETURN(process_, Subprocess::Spawn(o));
    httplib::Client c("127.0.0.1", port_);
    c.set_connection_timeout(0, 200'000);
    for (int i = 0; i < 300; ++i) {
      if (auto r = c.Get("/api/v2/heartbeat"); r && r->status == 200) return Status::Ok();
      if (!process_->running() || process_->TryWait()) break;
      std::this_thread::sleep_for(milliseconds(100));
    }
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return Unavailable(
        "chroma run on port " + std::to_string(port_) +
        " did not answer; its log: " + text.substr(text.size() > 2000 ? text.size() - 2000 : 0));
  }
  // Killed as a crash or a pulled cable would: no goodbye.
  void Kill() {
    if (!process_) return;
    process_->Signal(SIGKILL);
    process_->Wait();
    process_.reset();
  }
  void Stop() {
    if (!process_) return;
    process_->Terminate(milliseconds(3000));
    process_.reset();
  }

 private:
  fs::path data_;
  int port_;
  std::unique_ptr<Subprocess> process_;
};

// Collects the warnings the store logs.
class Warnings {
 public:
  Warnings() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64)) {
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~Warnings() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  int Count(const std::string& part) {
    int n = 0;
    for (const auto& line : sink_->last_formatted()) {
      if (line.find("[warning]") != std::string::npos && line.find(part) != std::string::npos) ++n;
    }
    return n;
  }
  std::string All() {
    std::string s;
    for (const auto& line : sink_->last_formatted()) s += line;
    return s;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

const char* kTexts[] = {
    "The Hunt button fights a monster and pays gold",
    "Resting at the inn restores health points",
    "read_text_file returns the content of a workspace file",
    "The blacksmith sells a sword for 50 gold",
    "Potions heal 20 health points when drunk before a fight",
    "The dragon in the cave has 300 hit points",
    "write_file creates a file in the workspace",
    "Gold coins drop from goblins near the forest",
    "The north gate closes at night",
    "build_package compiles the package and runs its tests",
    "A shield halves the damage of an attack",
    "The tavern keeper knows rumours about the dragon",
};

class ChromaStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kChromaDeps / ".installed")) {
      GTEST_SKIP()
          << "Chroma is not installed: run `bash scripts/chroma.sh` (scripts/test.sh does)";
    }
    dir_ = fs::temp_directory_path() / ("naut-chroma-" + NewId());
    fs::create_directories(dir_);
    auto port = FreeTcpPort();
    ASSERT_TRUE(port) << port.error().ToString();
    port_ = *port;
    server_ = std::make_unique<ChromaServer>(dir_ / "chroma", port_);
  }
  void TearDown() override {
    server_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // A store over `name`'s database; with Chroma at `chroma_url` unless empty.
  std::unique_ptr<MemoryStore> Open(const std::string& name, const std::string& chroma_url,
                                    double retry_s = 30) {
    StoreOptions o{.index_dir = dir_ / name / "index"};
    o.chroma.url = chroma_url;
    o.chroma.retry_s = retry_s;
    o.chroma.timeout_s = 5;
    fs::create_directories(dir_ / name);
    auto s = MemoryStore::Open(dir_ / name / "neuronaut.db", std::make_unique<HashingEmbedder>(256),
                               std::move(o));
    EXPECT_TRUE(s) << s.error().ToString();
    return s ? std::move(*s) : nullptr;
  }
  static NewMemory Memory(size_t i) {
    NewMemory m;
    // The first ones as written, then sentences of words drawn from them: distinct texts, so
    // that no two rows are equally near a query and both indexes must rank alike.
    std::string text;
    if (i < std::size(kTexts)) {
      text = kTexts[i];
    } else {
      std::mt19937 rng(static_cast<unsigned>(i));
      for (int w = 0; w < 7; ++w) {
        const std::string from = kTexts[rng() % std::size(kTexts)];
        std::vector<std::string> words;
        for (size_t at = 0; at < from.size();) {
          size_t sp = from.find(' ', at);
          if (sp == std::string::npos) sp = from.size();
          words.push_back(from.substr(at, sp - at));
          at = sp + 1;
        }
        text += (w ? " " : "") + words[rng() % words.size()];
      }
    }
    m.kind = i % 3 == 0 ? Kind::kEpisode : Kind::kFact;
    if (m.kind == Kind::kEpisode) {
      m.task = text;
      m.outcome = "success";
    } else {
      m.text = text;
    }
    m.environment = i % 2 == 0 ? "rpg" : "fs";
    return m;
  }
  static void Fill(MemoryStore& s, size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) ASSERT_TRUE(s.Add(Memory(i))) << i;
  }
  static std::vector<int64_t> Ids(const Result<std::vector<Hit>>& hits) {
    std::vector<int64_t> ids;
    if (!hits) return ids;
    for (const auto& h : *hits) ids.push_back(h.memory.id);
    return ids;
  }
  // The same top `k` up to ties: equal similarities rank by rank, and equal ids wherever a row
  // is not tied with a neighbour (rows equally near come back in any order). Both lists are
  // asked for a few more than `k`, so that a tie across the k-th place is seen.
  static void ExpectSameRanking(const Result<std::vector<Hit>>& a,
                                const Result<std::vector<Hit>>& b, size_t k) {
    ASSERT_TRUE(a && b);
    ASSERT_GE(a->size(), k);
    ASSERT_GE(b->size(), k);
    for (size_t i = 0; i < k; ++i) {
      const float sim = (*a)[i].similarity;
      EXPECT_NEAR(sim, (*b)[i].similarity, 1e-4) << i;
      const bool tied = (i > 0 && std::abs((*a)[i - 1].similarity - sim) < 1e-4) ||
                        (i + 1 < a->size() && std::abs((*a)[i + 1].similarity - sim) < 1e-4);
      if (!tied) {
        EXPECT_EQ((*a)[i].memory.id, (*b)[i].memory.id) << i;
      }
    }
  }
  static Query Vec(std::string text, size_t k = 5) {
    return {.text = std::move(text), .top_k = k, .mode = SearchMode::kVector};
  }
  static int64_t ChromaCount(MemoryStore& s) {
    if (s.chroma() == nullptr) return -1;
    auto n = s.chroma()->Count();
    return n ? *n : -1;
  }

  fs::path dir_;
  int port_ = 0;
  std::unique_ptr<ChromaServer> server_;
};

TEST_F(ChromaStoreTest, ClientMakesTenantDatabaseCollectionAndAnswersQueries) {
  ASSERT_TRUE(server_->Start().ok());
  ChromaIndex::Options o{.url = url(), .tenant = "naut-test", .database = "memories"};
  o.collection = ChromaIndex::CollectionName("/a/neuronaut.db", "hashing-v1", 3);
  auto c = ChromaIndex::Connect(o);
  ASSERT_TRUE(c) << c.error().ToString();
  const std::vector<float> a{1, 0, 0}, b{0, 1, 0}, d{0.6f, 0.8f, 0};
  std::vector<ChromaIndex::Item> items = {
      {1, a, "fact", "rpg"}, {2, b, "skill", "rpg"}, {3, d, "fact", ""}};
  ASSERT_TRUE((*c)->Upsert(items).ok());
  EXPECT_EQ(*(*c)->Count(), 3);
  auto hits = (*c)->Query(a, 3, "", "");
  ASSERT_TRUE(hits) << hits.error().ToString();
  ASSERT_EQ(hits->size(), 3u);
  EXPECT_EQ((*hits)[0].id, 1);
  EXPECT_NEAR((*hits)[0].similarity, 1.0, 1e-4);
  EXPECT_EQ((*hits)[1].id, 3);
  EXPECT_NEAR((*hits)[1].similarity, 0.6, 1e-4);
  auto facts_in_rpg = (*c)->Query(b, 3, "fact", "rpg");
  ASSERT_TRUE(facts_in_rpg);
  ASSERT_EQ(facts_in_rpg->size(), 1u);
  EXPECT_EQ((*facts_in_rpg)[0].id, 1);
  auto skills = (*c)->Query(a, 3, "skill", "");
  ASSERT_TRUE(skills);
  ASSERT_EQ(skills->size(), 1u);
  EXPECT_EQ((*skills)[0].id, 2);
  const int64_t gone[] = {3};
  ASSERT_TRUE((*c)->Delete(gone).ok());
  EXPECT_EQ(*(*c)->Ids(), (std::vector<int64_t>{1, 2}));
  // The same collection again: get-or-create finds it with its vectors.
  auto again = ChromaIndex::Connect(o);
  ASSERT_TRUE(again);
  EXPECT_EQ(*(*again)->Count(), 2);
  ASSERT_TRUE((*again)->Clear().ok());
  EXPECT_EQ(*(*again)->Count(), 0);
}

TEST_F(ChromaStoreTest, SearchesAnswerAsTheEmbeddedIndexDoes) {
  ASSERT_TRUE(server_->Start().ok());
  auto with = Open("with", url());
  auto without = Open("without", "");
  ASSERT_TRUE(with && without);
  Fill(*with, 0, 60);
  Fill(*without, 0, 60);
  ASSERT_NE(with->chroma(), nullptr);
  EXPECT_EQ(ChromaCount(*with), 60);
  for (const char* q : {"gold from monsters", "health and healing", "files in the workspace",
                        "the dragon", "compile the package"}) {
    EXPECT_EQ(Ids(with->Search(Vec(q))), Ids(without->Search(Vec(q)))) << q;
    Query filtered = Vec(q);
    filtered.kind = Kind::kFact;
    filtered.environment = "rpg";
    auto hits = with->Search(filtered);
    ASSERT_TRUE(hits);
    EXPECT_EQ(hits->size(), 5u);
    for (const auto& h : *hits) {
      EXPECT_EQ(h.memory.kind, Kind::kFact);
      EXPECT_EQ(h.memory.environment, "rpg");
    }
    EXPECT_EQ(Ids(hits), Ids(without->Search(filtered))) << q;
    Query episodes = Vec(q);
    episodes.kind = Kind::kEpisode;
    EXPECT_EQ(Ids(with->Search(episodes)), Ids(without->Search(episodes))) << q;
    // Hybrid search fuses Chroma's ranking with BM25 as it fuses the embedded one's.
    Query hybrid{.text = q, .top_k = 5};
    EXPECT_EQ(Ids(with->Search(hybrid)), Ids(without->Search(hybrid))) << q;
  }
  // A narrow filter (1 row in 61) goes to Chroma as a `where` filter.
  NewMemory rare = Memory(3);
  rare.environment = "rare";
  for (auto* s : {with.get(), without.get()}) ASSERT_TRUE(s->Add(rare));
  Query narrow = Vec("gold");
  narrow.environment = "rare";
  auto only = with->Search(narrow);
  ASSERT_TRUE(only);
  ASSERT_EQ(only->size(), 1u);
  EXPECT_EQ(only->front().memory.environment, "rare");
  EXPECT_EQ(Ids(only), Ids(without->Search(narrow)));
  EXPECT_NE(with->chroma(), nullptr);  // every search above went to Chroma
  auto st = with->GetStats();
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->chroma_up);
  EXPECT_NE(st->vector_store.find("61 vectors"), std::string::npos) << st->vector_store;
}

TEST_F(ChromaStoreTest, RemovedMemoriesLeaveChroma) {
  ASSERT_TRUE(server_->Start().ok());
  auto s = Open("db", url());
  Fill(*s, 0, 12);
  auto top = s->Search(Vec("The dragon in the cave has 300 hit points", 1));
  ASSERT_TRUE(top);
  ASSERT_EQ(top->size(), 1u);
  const int64_t id = (*top)[0].memory.id;
  ASSERT_TRUE(s->Remove(id).ok());
  EXPECT_EQ(ChromaCount(*s), 11);
  auto ids = *s->chroma()->Ids();
  EXPECT_EQ(std::count(ids.begin(), ids.end(), id), 0);
  auto after = s->Search(Vec("The dragon in the cave has 300 hit points", 3));
  ASSERT_TRUE(after);
  for (const auto& h : *after) EXPECT_NE(h.memory.id, id);
}

TEST_F(ChromaStoreTest, RowsWrittenWhileChromaWasDownAreCaughtUpOnOpen) {
  Warnings warnings;
  ASSERT_TRUE(server_->Start().ok());
  int64_t removed = 0;
  {
    auto s = Open("db", url());
    Fill(*s, 0, 10);
    EXPECT_EQ(ChromaCount(*s), 10);
    removed = Ids(s->Search(Vec(kTexts[4], 1))).at(0);
  }
  server_->Kill();
  Result<std::vector<Hit>> expected = std::vector<Hit>();
  {
    // Opened while Chroma is down: one warning, and everything works on the embedded index.
    auto s = Open("db", url());
    Fill(*s, 10, 20);
    ASSERT_TRUE(s->Remove(removed).ok());
    EXPECT_EQ(s->chroma(), nullptr);
    expected = s->Search(Vec("gold", 12));
    EXPECT_EQ(Ids(expected).size(), 12u);
    auto st = s->GetStats();
    ASSERT_TRUE(st);
    EXPECT_FALSE(st->chroma_up);
    EXPECT_NE(st->vector_store.find("embedded, because chroma at " + url() + " failed"),
              std::string::npos)
        << st->vector_store;
    EXPECT_EQ(warnings.Count("Chroma vector store at " + url()), 1) << warnings.All();
  }
  ASSERT_TRUE(server_->Start().ok());
  auto s = Open("db", url());
  ExpectSameRanking(s->Search(Vec("gold", 12)), expected, 8);
  ASSERT_NE(s->chroma(), nullptr);
  EXPECT_EQ(ChromaCount(*s), 19);  // 20 written, one removed while it was down
  auto ids = *s->chroma()->Ids();
  EXPECT_EQ(std::count(ids.begin(), ids.end(), removed), 0);
}

TEST_F(ChromaStoreTest, ChromaDyingMidRunFallsBackAndIsCaughtUpWhenBack) {
  Warnings warnings;
  ASSERT_TRUE(server_->Start().ok());
  auto s = Open("db", url(), /*retry_s=*/0.5);
  auto reference = Open("ref", "");
  Fill(*s, 0, 24);
  Fill(*reference, 0, 24);
  ASSERT_NE(s->chroma(), nullptr);
  server_->Kill();
  // The search that finds it dead still answers, from the embedded index, as before.
  for (const char* q : {"gold", "health", "workspace file"}) {
    auto hits = s->Search(Vec(q, 10));
    ASSERT_TRUE(hits) << hits.error().ToString();
    ExpectSameRanking(hits, reference->Search(Vec(q, 10)), 5);
  }
  EXPECT_EQ(s->chroma(), nullptr);
  // Writes while it is down land in SQLite (and the embedded index).
  Fill(*s, 24, 30);
  Fill(*reference, 24, 30);
  ExpectSameRanking(s->Search(Vec("gold", 15)), reference->Search(Vec("gold", 15)), 10);
  EXPECT_EQ(warnings.Count("Chroma vector store at " + url() + " failed"), 1) << warnings.All();
  ASSERT_TRUE(server_->Start().ok());
  std::this_thread::sleep_for(milliseconds(600));
  ExpectSameRanking(s->Search(Vec("gold", 15)), reference->Search(Vec("gold", 15)), 10);
  ASSERT_NE(s->chroma(), nullptr);
  EXPECT_EQ(ChromaCount(*s), 30);
  EXPECT_EQ(warnings.Count("answers again and is caught up"), 1) << warnings.All();
}

TEST_F(ChromaStoreTest, ReindexRefillsTheCollection) {
  ASSERT_TRUE(server_->Start().ok());
  auto s = Open("db", url());
  Fill(*s, 0, 15);
  // A stray entry that SQLite does not have: the refill drops it.
  std::vector<float> stray(256, 0.0f);
  stray[0] = 1;
  std::vector<ChromaIndex::Item> items = {{999, stray, "fact", ""}};
  ASSERT_TRUE(s->chroma()->Upsert(items).ok());
  EXPECT_EQ(ChromaCount(*s), 16);
  ASSERT_TRUE(s->Reindex().ok());
  ASSERT_NE(s->chroma(), nullptr);
  EXPECT_EQ(ChromaCount(*s), 15);
}

TEST_F(ChromaStoreTest, ConfigTurnsItOn) {
  ASSERT_TRUE(server_->Start().ok());
  Config config;
  config.home = dir_ / "home";
  config.memory.vector_store = "chroma";
  config.memory.chroma_url = url();
  auto s = OpenMemoryStore(config);
  ASSERT_TRUE(s) << s.error().ToString();
  ASSERT_TRUE((*s)->Add(Memory(1)));
  EXPECT_EQ(ChromaCount(**s), 1);
  config.memory.vector_store = "embedded";
  auto plain = OpenMemoryStore(config);
  ASSERT_TRUE(plain);
  ASSERT_TRUE((*plain)->Search(Vec("gold")));
  EXPECT_EQ((*plain)->chroma(), nullptr);
}

// A local HTTP server that answers like Chroma up to a point and then with junk.
class JunkServer {
 public:
  // `query_answer`: the body of every query answer; `all_junk`: every answer is junk.
  JunkServer(std::string query_answer, bool all_junk) {
    server_.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      res.status = 200;
      res.set_content("<html>not chroma</html>", "text/html");
    });
    auto ok = [all_junk](const std::string& body) {
      return [all_junk, body](const httplib::Request&, httplib::Response& res) {
        res.set_content(all_junk ? "{\"nanosecond" : body, "application/json");
      };
    };
    server_.Get("/api/v2/heartbeat", ok("{\"nanosecond heartbeat\": 1}"));
    server_.Get("/api/v2/pre-flight-checks", ok("{\"max_batch_size\": 100}"));
    server_.Get(R"(/api/v2/tenants/[^/]+)", ok("{\"name\": \"default_tenant\"}"));
    server_.Get(R"(/api/v2/tenants/[^/]+/databases/[^/]+)", ok("{\"name\": \"default_database\"}"));
    server_.Post(R"(/api/v2/tenants/[^/]+/databases/[^/]+/collections)",
                 ok("{\"id\": \"c0ffee\", \"name\": \"x\"}"));
    server_.Post(R"(/api/v2/tenants/.+/collections/c0ffee/get)", ok("{\"ids\": []}"));
    server_.Post(R"(/api/v2/tenants/.+/collections/c0ffee/(upsert|delete))", ok("{}"));
    server_.Post(R"(/api/v2/tenants/.+/collections/c0ffee/query)", ok(query_answer));
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(milliseconds(5));
  }
  ~JunkServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST_F(ChromaStoreTest, JunkAnswersAreClearErrorsAndTheStoreFallsBack) {
  auto reference = Open("ref", "");
  Fill(*reference, 0, 12);
  const std::pair<std::string, std::string> cases[] = {
      {"not json", "query of"},
      {"{\"ids\": [[\"1\"]], \"distances\": [[\"near\"]]}", "distance \"near\" is not a number"},
      {"{\"ids\": [[\"../etc\"]], \"distances\": [[0.1]]}", "is not a memory row id"},
      {"{\"ids\": [[\"1\", \"2\"]], \"distances\": [[0.1]]}", "2 ids and 1 distances"},
      {"[1, 2]", "no \"ids\" and \"distances\""},
      {std::string(100, '[') + std::string(100, ']'), "query of"},
  };
  for (const auto& [answer, error] : cases) {
    JunkServer junk(answer, /*all_junk=*/false);
    ChromaIndex::Options o{.url = junk.url(), .collection = "naut-junk"};
    auto c = ChromaIndex::Connect(o);
    ASSERT_TRUE(c) << c.error().ToString();
    const std::vector<float> v(256, 0.0625f);
    auto hits = (*c)->Query(v, 5, "", "");
    ASSERT_FALSE(hits) << answer;
    EXPECT_NE(hits.error().message().find("chroma at " + junk.url()), std::string::npos);
    EXPECT_NE(hits.error().message().find(error), std::string::npos) << hits.error().message();

    Warnings warnings;
    auto s = Open("junk-" + NewId(), junk.url());
    Fill(*s, 0, 12);
    ASSERT_NE(s->chroma(), nullptr);  // it looked like Chroma until the first query
    auto got = s->Search(Vec("gold", 10));
    ASSERT_TRUE(got) << got.error().ToString();
    ExpectSameRanking(got, reference->Search(Vec("gold", 10)), 5);
    EXPECT_EQ(s->chroma(), nullptr);
    EXPECT_EQ(warnings.Count("Chroma vector store at " + junk.url()), 1) << warnings.All();
  }
  // An answer without end is cut off.
  {
    httplib::Server endless;
    endless.Get("/api/v2/heartbeat", [](const httplib::Request&, httplib::Response& res) {
      res.set_content_provider("application/json", [](size_t, httplib::DataSink& sink) {
        const std::string chunk(1 << 16, ' ');
        return sink.write(chunk.data(), chunk.size());
      });
    });
    const int port = endless.bind_to_any_port("127.0.0.1");
    std::thread serving([&] { endless.listen_after_bind(); });
    while (!endless.is_running()) std::this_thread::sleep_for(milliseconds(5));
    auto c = ChromaIndex::Connect(
        {.url = "http://127.0.0.1:" + std::to_string(port), .collection = "naut-junk"});
    endless.stop();
    serving.join();
    ASSERT_FALSE(c);
    EXPECT_NE(c.error().message().find("heartbeat: the answer is longer than"), std::string::npos)
        << c.error().message();
  }
  // Junk from the first answer on: Connect refuses, the store never uses it.
  JunkServer junk("", /*all_junk=*/true);
  auto c = ChromaIndex::Connect({.url = junk.url(), .collection = "naut-junk"});
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message().find("heartbeat"), std::string::npos) << c.error().message();
  auto s = Open("all-junk", junk.url());
  Fill(*s, 0, 12);
  ExpectSameRanking(s->Search(Vec("gold", 10)), reference->Search(Vec("gold", 10)), 5);
  auto st = s->GetStats();
  ASSERT_TRUE(st);
  EXPECT_NE(st->vector_store.find("heartbeat"), std::string::npos) << st->vector_store;
}

}  // namespace
}  // namespace naut::memory

#include "memory/memory_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>

#include "core/ids.h"

namespace naut::memory {
namespace {

namespace fs = std::filesystem;

class MemoryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("naut-mem-" + NewId());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<MemoryStore> Open(int dim = 256) {
    auto s = MemoryStore::Open(dir_ / "neuronaut.db", std::make_unique<HashingEmbedder>(dim),
                               {.index_dir = dir_ / "index"});
    EXPECT_TRUE(s) << s.error().ToString();
    return s ? std::move(*s) : nullptr;
  }
  static NewMemory Fact(std::string text, std::string env = "",
                        std::vector<std::string> tags = {}) {
    NewMemory m;
    m.kind = Kind::kFact;
    m.text = std::move(text);
    m.environment = std::move(env);
    m.tags = std::move(tags);
    return m;
  }
  static std::vector<int64_t> Ids(const std::vector<Hit>& hits) {
    std::vector<int64_t> ids;
    ids.reserve(hits.size());
    for (const auto& h : hits) ids.push_back(h.memory.id);
    return ids;
  }
  void AddCorpus(MemoryStore& s) {
    ids_.push_back(
        *s.Add(Fact("The Hunt button fights a monster and pays gold", "rpg", {"combat"})));
    ids_.push_back(*s.Add(Fact("Resting at the inn restores health points", "rpg", {"health"})));
    ids_.push_back(*s.Add(Fact("read_text_file returns the content of a workspace file", "fs")));
    NewMemory ep;
    ep.kind = Kind::kEpisode;
    ep.task = "Earn 10 gold";
    ep.outcome = "success";
    ep.critique = "hunting twice was enough";
    ep.environment = "rpg";
    ep.run_id = "run-1";
    ep.step = 7;
    ids_.push_back(*s.Add(ep));
  }

  fs::path dir_;
  std::vector<int64_t> ids_;
};

TEST_F(MemoryStoreTest, AddsAndReadsBackEveryField) {
  auto s = Open();
  AddCorpus(*s);
  auto m = s->Get(ids_[3]);
  ASSERT_TRUE(m) << m.error().ToString();
  EXPECT_EQ(m->kind, Kind::kEpisode);
  EXPECT_EQ(m->task, "Earn 10 gold");
  EXPECT_EQ(m->step, 7);
  EXPECT_EQ(m->run_id, "run-1");
  EXPECT_NE(m->text.find("hunting twice"), std::string::npos);
  EXPECT_EQ(m->embedder, "hashing-v1");
  EXPECT_EQ(m->dim, 256);
  EXPECT_EQ(s->Get(ids_[0])->tags, std::vector<std::string>{"combat"});
  EXPECT_EQ(s->Get(999).error().code(), Code::kNotFound);
  EXPECT_EQ(s->Add(Fact("")).error().code(), Code::kInvalidArgument);
  EXPECT_EQ(s->Add(Fact("x", "", {"a,b"})).error().code(), Code::kInvalidArgument);
}

TEST_F(MemoryStoreTest, HybridSearchFusesWordsAndMeaning) {
  auto s = Open();
  AddCorpus(*s);
  auto hits = s->Search({.text = "how do I get gold by hunting", .top_k = 2});
  ASSERT_TRUE(hits) << hits.error().ToString();
  ASSERT_EQ(hits->size(), 2u);
  EXPECT_TRUE((*hits)[0].memory.id == ids_[0] || (*hits)[0].memory.id == ids_[3]);
  EXPECT_GT((*hits)[0].vector_rank, 0);
  EXPECT_GT((*hits)[0].text_rank, 0);
  EXPECT_GT((*hits)[0].score, 0);
  // Text only and vector only modes.
  auto text = s->Search({.text = "inn", .mode = SearchMode::kText});
  ASSERT_TRUE(text);
  EXPECT_EQ(Ids(*text), std::vector<int64_t>{ids_[1]});
  auto vec = s->Search({.text = "workspace file content", .top_k = 1, .mode = SearchMode::kVector});
  ASSERT_TRUE(vec);
  EXPECT_EQ(Ids(*vec), std::vector<int64_t>{ids_[2]});
}

TEST_F(MemoryStoreTest, FiltersByKindEnvironmentAndTags) {
  auto s = Open();
  AddCorpus(*s);
  auto env = s->Search({.text = "gold file health", .top_k = 10, .environment = "fs"});
  ASSERT_TRUE(env);
  EXPECT_EQ(Ids(*env), std::vector<int64_t>{ids_[2]});
  auto kind = s->Search({.text = "gold", .top_k = 10, .kind = Kind::kEpisode});
  ASSERT_TRUE(kind);
  EXPECT_EQ(Ids(*kind), std::vector<int64_t>{ids_[3]});
  auto tags = s->Search({.text = "gold", .top_k = 10, .tags = {"health"}});
  ASSERT_TRUE(tags);
  EXPECT_EQ(Ids(*tags), std::vector<int64_t>{ids_[1]});
  auto none = s->Search({.text = "gold", .top_k = 10, .tags = {"nope"}});
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(MemoryStoreTest, RemovedMemoriesAreNotFound) {
  auto s = Open();
  AddCorpus(*s);
  ASSERT_TRUE(s->Remove(ids_[1]).ok());
  EXPECT_EQ(s->Remove(ids_[1]).code(), Code::kNotFound);
  auto hits = s->Search({.text = "inn health rest", .top_k = 10});
  ASSERT_TRUE(hits);
  for (const auto& h : *hits) EXPECT_NE(h.memory.id, ids_[1]);
  s.reset();
  s = Open();  // the tombstone survives a reopen and the saved index agrees
  auto again = s->Search({.text = "inn health rest", .top_k = 10});
  for (const auto& h : *again) EXPECT_NE(h.memory.id, ids_[1]);
  EXPECT_FALSE(s->GetStats()->index_rebuilt);
}

TEST_F(MemoryStoreTest, SavedIndexIsReusedAndAStaleOneIsCaughtUp) {
  {
    auto s = Open();
    AddCorpus(*s);
  }
  fs::copy_file(dir_ / "index/memory.hnsw", dir_ / "old.hnsw");
  fs::copy_file(dir_ / "index/memory.hnsw.json", dir_ / "old.hnsw.json");
  int64_t late;
  {
    auto s = Open();
    late = *s->Add(Fact("The blacksmith sells swords"));
  }
  // As if the process died before saving: the index lags one row behind the database.
  fs::copy_file(dir_ / "old.hnsw", dir_ / "index/memory.hnsw",
                fs::copy_options::overwrite_existing);
  fs::copy_file(dir_ / "old.hnsw.json", dir_ / "index/memory.hnsw.json",
                fs::copy_options::overwrite_existing);
  auto s = Open();
  auto hits = s->Search({.text = "blacksmith swords", .top_k = 1, .mode = SearchMode::kVector});
  ASSERT_TRUE(hits) << hits.error().ToString();
  EXPECT_EQ(Ids(*hits), std::vector<int64_t>{late});
  auto st = s->GetStats();
  EXPECT_FALSE(st->index_rebuilt);
  EXPECT_EQ(st->indexed, 5u);
}

TEST_F(MemoryStoreTest, CorruptIndexIsRebuiltFromTheDatabase) {
  {
    auto s = Open();
    AddCorpus(*s);
  }
  {
    std::fstream f(dir_ / "index/memory.hnsw", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.write("garbage!garbage!", 16);
  }
  auto s = Open();
  auto hits = s->Search({.text = "inn health", .top_k = 1, .mode = SearchMode::kVector});
  ASSERT_TRUE(hits) << hits.error().ToString();
  EXPECT_EQ(Ids(*hits), std::vector<int64_t>{ids_[1]});
  auto st = s->GetStats();
  EXPECT_TRUE(st->index_rebuilt);
  EXPECT_NE(st->index_note.find("checksum"), std::string::npos) << st->index_note;
  EXPECT_EQ(st->indexed, 4u);
}

TEST_F(MemoryStoreTest, MissingIndexIsRebuiltFromTheDatabase) {
  {
    auto s = Open();
    AddCorpus(*s);
  }
  fs::remove(dir_ / "index/memory.hnsw");  // the record alone is left
  auto s = Open();
  auto hits = s->Search({.text = "inn health", .top_k = 1, .mode = SearchMode::kVector});
  ASSERT_TRUE(hits) << hits.error().ToString();
  EXPECT_EQ(Ids(*hits), std::vector<int64_t>{ids_[1]});
  auto st = s->GetStats();
  EXPECT_TRUE(st->index_rebuilt);
  EXPECT_EQ(st->indexed, 4u);
  EXPECT_TRUE(fs::exists(dir_ / "index/memory.hnsw"));  // and saved again at once
}

TEST_F(MemoryStoreTest, EmbedderSwitchIsDetectedAndReindexFixesIt) {
  {
    auto s = Open(256);
    AddCorpus(*s);
  }
  auto s = Open(128);
  auto add = s->Add(Fact("mixing would be wrong"));
  ASSERT_FALSE(add);
  EXPECT_EQ(add.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(add.error().message().find("neuronaut memory reindex"), std::string::npos);
  EXPECT_NE(add.error().message().find("dim 256"), std::string::npos) << add.error().message();
  EXPECT_EQ(s->Search({.text = "gold"}).error().code(), Code::kFailedPrecondition);
  // Words still work without vectors.
  EXPECT_TRUE(s->Search({.text = "gold", .mode = SearchMode::kText}));
  int64_t seen = 0;
  ASSERT_TRUE(s->Reindex([&](int64_t done, int64_t) { seen = done; }).ok());
  EXPECT_EQ(seen, 4);
  EXPECT_TRUE(s->Add(Fact("now it fits")));
  auto hits = s->Search({.text = "inn health", .top_k = 1, .mode = SearchMode::kVector});
  ASSERT_TRUE(hits);
  EXPECT_EQ(Ids(*hits), std::vector<int64_t>{ids_[1]});
  EXPECT_EQ(s->Get(ids_[1])->dim, 128);
}

TEST_F(MemoryStoreTest, TwoWritersOnOneDatabaseSeeEachOthersRows) {
  auto a = Open();
  auto b = Open();
  int64_t x = *a->Add(Fact("alpha apples"));
  int64_t y = *b->Add(Fact("beta bananas"));
  int64_t z = *a->Add(Fact("gamma grapes"));
  auto hits = a->Search({.text = "beta bananas", .top_k = 1, .mode = SearchMode::kVector});
  EXPECT_EQ(Ids(*hits), std::vector<int64_t>{y});
  hits = b->Search({.text = "gamma grapes", .top_k = 1, .mode = SearchMode::kVector});
  EXPECT_EQ(Ids(*hits), std::vector<int64_t>{z});
  (void)x;
  a.reset();
  b.reset();
  auto c = Open();
  EXPECT_EQ(c->Index().value()->size(), 3u);
}

// A sentence model's embedder as the store sees it: same vectors as hashing, default breadth.
class SentenceLikeEmbedder : public Embedder {
 public:
  std::string id() const override { return "sentence-like"; }
  Result<int> Dimension() override { return 64; }
  Result<std::vector<Vector>> Embed(std::span<const std::string> texts) override {
    return HashingEmbedder(64).Embed(texts);
  }
};

TEST_F(MemoryStoreTest, SearchBreadthComesFromTheEmbedderUnlessSet) {
  auto hashing = Open();
  EXPECT_EQ(hashing->Index().value()->ef_search(), 1024u);
  hashing.reset();
  auto sentence = MemoryStore::Open(dir_ / "other.db", std::make_unique<SentenceLikeEmbedder>(),
                                    {.index_dir = dir_ / "other"});
  ASSERT_TRUE(sentence);
  EXPECT_EQ((*sentence)->Index().value()->ef_search(), Embedder::kSentenceModelBreadth);
  auto set = MemoryStore::Open(dir_ / "set.db", std::make_unique<HashingEmbedder>(64),
                               {.index_dir = dir_ / "set", .index = {.ef_search = 77}});
  ASSERT_TRUE(set);
  EXPECT_EQ((*set)->Index().value()->ef_search(), 77u);
}

TEST_F(MemoryStoreTest, FilteredSearchThroughTheIndexFindsWhatTheExactPathFinds) {
  auto s = Open();
  std::mt19937 rng(3);
  const char* words[] = {"gold",   "monster", "inn",  "potion", "sword", "file",
                         "health", "quest",   "shop", "forest", "cave",  "dragon"};
  const char* envs[] = {"rpg", "fs", ""};
  std::vector<NewMemory> batch;
  for (int i = 0; i < 300; ++i) {
    NewMemory m = Fact("", envs[i % 3]);
    for (int w = 0; w < 6; ++w) m.text += std::string(words[rng() % 12]) + " ";
    m.text += std::to_string(i);
    m.kind = i % 4 == 0 ? Kind::kEpisode : Kind::kFact;
    batch.push_back(std::move(m));
  }
  ASSERT_TRUE(s->AddBatch(batch));
  ASSERT_TRUE(s->Remove(5).ok());
  s.reset();
  // The same rows searched with every filtered query compared exactly, and through HNSW.
  auto exact = MemoryStore::Open(dir_ / "neuronaut.db", std::make_unique<HashingEmbedder>(256),
                                 {.index_dir = dir_ / "index", .exact_below = 1000000});
  // A breadth so small that comparing the matching rows never looks cheaper: the index is asked
  // through the filter (and, this small, answers exactly).
  auto graph =
      MemoryStore::Open(dir_ / "neuronaut.db", std::make_unique<HashingEmbedder>(256),
                        {.index_dir = dir_ / "index", .index = {.ef_search = 1}, .exact_below = 0});
  ASSERT_TRUE(exact && graph);
  for (const std::string text : {"gold monster", "inn health potion", "dragon cave 7"}) {
    for (SearchMode mode : {SearchMode::kVector, SearchMode::kHybrid}) {
      Query q{.text = text, .top_k = 8, .mode = mode, .kind = Kind::kFact, .environment = "rpg"};
      auto a = (*exact)->Search(q);
      auto b = (*graph)->Search(q);
      ASSERT_TRUE(a && b);
      EXPECT_EQ(Ids(*a), Ids(*b)) << text;
      EXPECT_EQ(a->size(), 8u);
      for (const auto& h : *b) {
        EXPECT_EQ(h.memory.kind, Kind::kFact);
        EXPECT_EQ(h.memory.environment, "rpg");
        EXPECT_NE(h.memory.id, 5);
      }
    }
  }
}

TEST_F(MemoryStoreTest, RowsRemovedByAnotherConnectionAreNotFound) {
  auto a = Open();
  AddCorpus(*a);
  auto b = Open();
  // `a` has loaded its index and the rows' kinds before `b` removes one.
  Query q{.text = "inn health rest", .top_k = 10, .environment = "rpg"};
  auto before = a->Search(q);
  ASSERT_TRUE(before);
  const std::vector<int64_t> found = Ids(*before);
  EXPECT_NE(std::find(found.begin(), found.end(), ids_[1]), found.end());
  ASSERT_TRUE(b->Remove(ids_[1]).ok());
  for (SearchMode mode : {SearchMode::kHybrid, SearchMode::kVector, SearchMode::kText}) {
    for (const std::string env : {"rpg", ""}) {
      auto hits =
          a->Search({.text = "inn health rest", .top_k = 10, .mode = mode, .environment = env});
      ASSERT_TRUE(hits);
      if (mode != SearchMode::kText) {  // no other row has these words
        EXPECT_FALSE(hits->empty());
      }
      for (size_t i = 0; i < hits->size(); ++i) {
        EXPECT_NE((*hits)[i].memory.id, ids_[1]);
        // The removed row took no place among the candidates.
        if (mode == SearchMode::kVector) {
          EXPECT_EQ((*hits)[i].vector_rank, static_cast<int>(i + 1));
        }
      }
    }
  }
}

TEST(RowAttributes, KnowsKindsAndEnvironmentsAndCountsThem) {
  using internal::RowAttributes;
  RowAttributes rows;
  rows.Set(1, Kind::kFact, "rpg");
  rows.Set(2, Kind::kEpisode, "rpg");
  rows.Set(3, Kind::kFact, "");
  rows.Set(5000, Kind::kFact, "fs");
  EXPECT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows.Matches(1, Kind::kFact, "rpg"), RowAttributes::Match::kYes);
  EXPECT_EQ(rows.Matches(1, std::nullopt, ""), RowAttributes::Match::kYes);
  EXPECT_EQ(rows.Matches(2, Kind::kFact, ""), RowAttributes::Match::kNo);
  EXPECT_EQ(rows.Matches(3, std::nullopt, "rpg"), RowAttributes::Match::kNo);
  EXPECT_EQ(rows.Matches(4, Kind::kFact, ""), RowAttributes::Match::kUnknown);
  EXPECT_EQ(rows.Matches(99999, Kind::kFact, ""), RowAttributes::Match::kUnknown);
  EXPECT_EQ(rows.Count(Kind::kFact, ""), 3);
  EXPECT_EQ(rows.Count(std::nullopt, "rpg"), 2);
  EXPECT_EQ(rows.Count(Kind::kFact, "rpg"), 1);
  rows.Set(1, Kind::kSkill, "fs");  // replaced, counted once
  EXPECT_EQ(rows.Count(std::nullopt, ""), 4);
  EXPECT_EQ(rows.Count(Kind::kSkill, "fs"), 1);
  rows.Erase(1);
  rows.Erase(1);
  rows.Erase(-3);
  EXPECT_EQ(rows.Matches(1, std::nullopt, ""), RowAttributes::Match::kUnknown);
  EXPECT_EQ(rows.Count(std::nullopt, ""), 3);
  rows.Clear();
  EXPECT_EQ(rows.size(), 0u);
  EXPECT_EQ(rows.Count(std::nullopt, ""), 0);
}

}  // namespace
}  // namespace naut::memory

#include "memory/vector_index.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>
#include <set>

#include "core/files.h"
#include "core/ids.h"
#include "core/json.h"
#include "memory/embedder.h"

namespace naut::memory {
namespace {

namespace fs = std::filesystem;

Vector RandomUnit(std::mt19937& rng, int dim) {
  std::normal_distribution<float> d;
  Vector v(static_cast<size_t>(dim));
  for (float& x : v) x = d(rng);
  Normalize(v);
  return v;
}

class VectorIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("naut-vi-" + NewId());
    fs::create_directories(dir_);
    path_ = dir_ / "memory.hnsw";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A breadth small enough for `n` rows to be searched through the graph, not exactly.
  std::unique_ptr<VectorIndex> Filled(int n, int dim = 32, size_t ef_search = 64) {
    std::mt19937 rng(7);
    auto index = std::make_unique<VectorIndex>(dim, VectorIndex::Options{.ef_search = ef_search});
    for (int i = 1; i <= n; ++i) {
      vectors_.push_back(RandomUnit(rng, dim));
      index->Add(i, vectors_.back());
    }
    return index;
  }

  fs::path dir_, path_;
  std::vector<Vector> vectors_;
};

TEST_F(VectorIndexTest, FindsEachVectorAsItsOwnNearestNeighbour) {
  auto index = Filled(2000);  // grows past the initial capacity
  EXPECT_EQ(index->size(), 2000u);
  for (int i : {1, 500, 2000}) {
    auto hits = index->Search(vectors_[static_cast<size_t>(i - 1)], 3);
    ASSERT_EQ(hits.size(), 3u);
    EXPECT_EQ(hits[0].id, i);
    EXPECT_NEAR(hits[0].similarity, 1.0f, 1e-4);
    EXPECT_GE(hits[0].similarity, hits[1].similarity);
  }
}

TEST_F(VectorIndexTest, ApproximateSearchAgreesWithExactSearch) {
  auto index = Filled(3000);
  std::mt19937 rng(99);
  size_t found = 0, total = 0;
  for (int q = 0; q < 50; ++q) {
    Vector v = RandomUnit(rng, 32);
    auto exact = index->SearchExact(v, 10);
    auto approx = index->Search(v, 10);
    std::set<int64_t> truth;
    for (auto& h : exact) truth.insert(h.id);
    for (auto& h : approx) found += truth.count(h.id);
    total += exact.size();
  }
  EXPECT_GE(static_cast<double>(found) / static_cast<double>(total), 0.9);
}

// Allows the row ids divisible by `every`.
class EveryNth : public IdFilter {
 public:
  explicit EveryNth(int64_t every) : every_(every) {}
  bool Allows(int64_t id) const override { return id % every_ == 0; }

 private:
  int64_t every_;
};

TEST_F(VectorIndexTest, FilteredSearchReturnsOnlyAllowedRowsAndAgreesWithExactSearch) {
  auto index = Filled(3000);
  index->Remove(30);
  const EveryNth every_third(3);
  std::mt19937 rng(5);
  size_t found = 0, total = 0;
  for (int q = 0; q < 50; ++q) {
    Vector v = RandomUnit(rng, 32);
    auto approx = index->Search(v, 10, &every_third);
    ASSERT_EQ(approx.size(), 10u);
    for (size_t i = 0; i < approx.size(); ++i) {
      EXPECT_EQ(approx[i].id % 3, 0);
      EXPECT_NE(approx[i].id, 30);
      if (i > 0) {
        EXPECT_GE(approx[i - 1].similarity, approx[i].similarity);
      }
    }
    std::set<int64_t> truth;
    for (auto& h : index->SearchExact(v, 10, &every_third)) truth.insert(h.id);
    for (auto& h : approx) found += truth.count(h.id);
    total += truth.size();
  }
  EXPECT_GE(static_cast<double>(found) / static_cast<double>(total), 0.95);
}

TEST_F(VectorIndexTest, FilteredSearchOfFewAllowedRowsFindsAllOfThem) {
  auto index = Filled(500, 32, 10);
  const EveryNth every_hundredth(100);  // 100, 200, ..., 500
  auto hits = index->Search(vectors_[0], 10, &every_hundredth);
  std::set<int64_t> ids;
  for (auto& h : hits) ids.insert(h.id);
  EXPECT_EQ(ids, (std::set<int64_t>{100, 200, 300, 400, 500}));
  const EveryNth none(1000);
  EXPECT_TRUE(index->Search(vectors_[0], 10, &none).empty());
}

TEST_F(VectorIndexTest, SmallIndexIsSearchedExactly) {
  auto index = Filled(500, 32, 1024);
  std::mt19937 rng(11);
  for (int q = 0; q < 10; ++q) {
    Vector v = RandomUnit(rng, 32);
    auto approx = index->Search(v, 10);
    auto exact = index->SearchExact(v, 10);
    ASSERT_EQ(approx.size(), exact.size());
    for (size_t i = 0; i < exact.size(); ++i) EXPECT_EQ(approx[i].id, exact[i].id);
  }
  const std::vector<int64_t> among = {3, 7, 400, 9999};
  auto hits = index->SearchAmong(vectors_[6], 2, among);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].id, 7);
  EXPECT_NEAR(hits[0].similarity, 1.0f, 1e-5);
}

TEST_F(VectorIndexTest, SearchBreadthDefaultsToTheBroadOne) {
  EXPECT_EQ(VectorIndex(8, {}).ef_search(), 1024u);
  EXPECT_EQ(VectorIndex(8, {.ef_search = 50}).ef_search(), 50u);
  EXPECT_EQ(Filled(10)->VectorOf(3).size(), 32u);
  EXPECT_TRUE(Filled(10)->VectorOf(11).empty());
}

TEST_F(VectorIndexTest, RemovedIdsAreNotReturned) {
  auto index = Filled(100);
  index->Remove(5);
  index->Remove(5);
  index->Remove(12345);
  EXPECT_FALSE(index->Contains(5));
  EXPECT_EQ(index->size(), 99u);
  for (const auto& h : index->Search(vectors_[4], 10)) EXPECT_NE(h.id, 5);
  for (const auto& h : index->SearchExact(vectors_[4], 10)) EXPECT_NE(h.id, 5);
  index->Add(5, vectors_[4]);
  EXPECT_TRUE(index->Contains(5));
}

TEST_F(VectorIndexTest, SavesAndLoads) {
  auto index = Filled(300);
  index->Remove(3);
  index->set_max_id(301);
  ASSERT_TRUE(index->Save(path_, "hashing-v1").ok());
  auto loaded = VectorIndex::Load(path_, "hashing-v1", 32, {});
  ASSERT_TRUE(loaded) << loaded.error().ToString();
  EXPECT_EQ((*loaded)->size(), 299u);
  EXPECT_EQ((*loaded)->max_id(), 301);
  EXPECT_EQ((*loaded)->Ids(), index->Ids());
  EXPECT_EQ((*loaded)->Search(vectors_[9], 1).at(0).id, 10);
}

TEST_F(VectorIndexTest, MissingIndexIsNotFound) {
  EXPECT_EQ(VectorIndex::Load(path_, "hashing-v1", 32, {}).error().code(), Code::kNotFound);
}

TEST_F(VectorIndexTest, AnotherEmbedderOrDimensionIsRefused) {
  ASSERT_TRUE(Filled(10)->Save(path_, "hashing-v1").ok());
  auto r = VectorIndex::Load(path_, "openai:nomic", 32, {});
  EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.error().message().find("hashing-v1"), std::string::npos);
  EXPECT_EQ(VectorIndex::Load(path_, "hashing-v1", 64, {}).error().code(),
            Code::kFailedPrecondition);
}

TEST_F(VectorIndexTest, DamagedFilesAreDataLossNotCrashes) {
  ASSERT_TRUE(Filled(200)->Save(path_, "hashing-v1").ok());
  std::string good;
  {
    std::ifstream in(path_, std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto write = [&](const std::string& bytes) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << bytes;
  };
  // One flipped byte in the middle (a neighbour id, a vector or a count).
  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x5a;
  write(flipped);
  auto r = VectorIndex::Load(path_, "hashing-v1", 32, {});
  EXPECT_EQ(r.error().code(), Code::kDataLoss);
  // Truncated.
  write(good.substr(0, good.size() / 3));
  EXPECT_EQ(VectorIndex::Load(path_, "hashing-v1", 32, {}).error().code(), Code::kDataLoss);
  // Garbage record.
  write(good);
  std::ofstream(path_.string() + ".json", std::ios::trunc) << "{\"format\": 1";
  EXPECT_EQ(VectorIndex::Load(path_, "hashing-v1", 32, {}).error().code(), Code::kDataLoss);
}

TEST_F(VectorIndexTest, HeaderIsCheckedEvenWhenTheRecordMatchesTheBytes) {
  // A file whose record was rewritten to match it (size and checksum) but whose header
  // claims impossible sizes must still be refused before hnswlib reads it.
  auto index = Filled(50);
  ASSERT_TRUE(index->Save(path_, "hashing-v1").ok());
  std::string bytes;
  {
    std::ifstream in(path_, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  uint64_t huge = 1ULL << 60;
  std::memcpy(bytes.data() + 8, &huge, 8);   // max_elements
  std::memcpy(bytes.data() + 16, &huge, 8);  // cur_element_count
  std::ofstream(path_, std::ios::binary | std::ios::trunc) << bytes;
  auto record = Json::parse(*ReadFile(path_.string() + ".json"));
  record["checksum"] = std::to_string(*internal::IndexFileChecksum(path_));
  ASSERT_TRUE(WriteFileAtomic(path_.string() + ".json", record.dump()).ok());
  auto r = VectorIndex::Load(path_, "hashing-v1", 32, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kDataLoss);
  EXPECT_NE(r.error().message().find("header"), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace naut::memory

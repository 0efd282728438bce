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

  std::unique_ptr<VectorIndex> Filled(int n, int dim = 32) {
    std::mt19937 rng(7);
    auto index = std::make_unique<VectorIndex>(dim, VectorIndex::Options{});
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

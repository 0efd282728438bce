#pragma once
// An approximate nearest-neighbour index (HNSW, cosine similarity as the inner product of
// unit vectors) whose labels are the row ids of the SQLite table that holds the vectors.
//
// The index is a cache: SQLite is the source of truth. Save() writes the hnswlib file beside a
// small JSON record (embedder id, dimension, the highest row id covered, the element count,
// the file's size and checksum), each replaced atomically; Load() verifies all of them before
// handing the bytes to hnswlib, whose loader trusts its input. Any mismatch is kDataLoss and
// the caller rebuilds from SQLite.
//
// Threads: one thread at a time (hnswlib's own locking is not relied on).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace hnswlib {
template <typename T>
class HierarchicalNSW;
class InnerProductSpace;
}  // namespace hnswlib

namespace naut::memory {

struct IndexHit {
  int64_t id;
  float similarity;  // cosine, 1 = same direction
};

// Decides, for a row id, whether a search may return it (a filter on the rows' attributes).
// Called from the searching thread only, many times per search: it must be cheap.
class IdFilter {
 public:
  virtual ~IdFilter() = default;
  virtual bool Allows(int64_t id) const = 0;
};

struct IndexRecord {
  std::string embedder;
  int dim = 0;
  int64_t max_id = 0;  // every row id <= max_id was considered when the index was saved
  size_t count = 0;    // live (not removed) elements
};

class VectorIndex {
 public:
  // Hashing vectors of short texts have a high intrinsic dimension, the hard case for HNSW:
  // recall comes from M and ef_search, hardly from ef_construction, which mostly costs insert
  // time (bench/README.md: M 16 / ef_construction 200 / ef_search 256 gave recall@10 0.90 at
  // 20,000 items; M 32 / 64 / 1024 gives 0.96 at 100,000 and inserts 2-3x faster). Vectors of
  // a real sentence model lie near a low-dimensional manifold and need a far smaller ef_search
  // for the same recall, so the search breadth comes from the embedder (see
  // Embedder::SearchBreadth) unless set here.
  struct Options {
    size_t m = 32;
    size_t ef_construction = 64;
    size_t ef_search = 0;  // 0: the embedder's (a bare VectorIndex: 1024); raised to k
  };

  VectorIndex(int dim, Options options);
  ~VectorIndex();
  VectorIndex(const VectorIndex&) = delete;
  VectorIndex& operator=(const VectorIndex&) = delete;

  // Loads the index saved at `path` (and `path` + ".json"). Errors: kNotFound when there is no
  // index, kDataLoss when it is corrupt, truncated or disagrees with its record,
  // kFailedPrecondition when it was made by another embedder or dimension than expected.
  static Result<std::unique_ptr<VectorIndex>> Load(const std::filesystem::path& path,
                                                   const std::string& embedder, int dim,
                                                   Options options);
  // Writes the index and its record; a crash leaves a pair that Load() accepts or rejects,
  // never one it misreads.
  Status Save(const std::filesystem::path& path, const std::string& embedder) const;

  // Adds (or replaces) the vector of row `id`; `v` has dim() floats and unit length.
  void Add(int64_t id, std::span<const float> v);
  // Forgets row `id` (a no-op when absent).
  void Remove(int64_t id);
  bool Contains(int64_t id) const;

  // The k nearest live rows, most similar first; with a filter, the k nearest that it allows
  // (the graph is walked through every row, but only allowed ones are collected, and the walk
  // goes on until ef_search allowed rows are found or the reachable graph is exhausted).
  // An index so small that the walk would compare about as many vectors as it holds (up to
  // 16 x ef_search) is searched exactly instead.
  std::vector<IndexHit> Search(std::span<const float> query, size_t k,
                               const IdFilter* filter = nullptr) const;
  // The same by comparing with every stored vector (small indexes; measuring recall).
  std::vector<IndexHit> SearchExact(std::span<const float> query, size_t k,
                                    const IdFilter* filter = nullptr) const;
  // Whether comparing `rows` vectors exactly costs less than a filtered walk that collects
  // ef_search of them among all the rows held (it passes about size() / rows others for each).
  bool ExactIsCheaper(size_t rows) const;
  // The k rows among `ids` nearest to `query`, compared exactly; ids not held are skipped.
  std::vector<IndexHit> SearchAmong(std::span<const float> query, size_t k,
                                    std::span<const int64_t> ids) const;
  // The vector stored for row `id`, empty when absent.
  std::span<const float> VectorOf(int64_t id) const;
  // All live row ids, ascending.
  std::vector<int64_t> Ids() const;

  int dim() const { return dim_; }
  size_t size() const;  // live elements
  int64_t max_id() const { return max_id_; }
  // The search breadth of later searches (raised to k per search).
  size_t ef_search() const { return options_.ef_search; }
  void set_ef_search(size_t ef) { options_.ef_search = ef; }
  void set_max_id(int64_t id) { max_id_ = id; }

 private:
  template <bool kFiltered>
  std::vector<IndexHit> SearchGraph(const float* query, size_t k, const IdFilter* filter) const;

  int dim_;
  Options options_;
  int64_t max_id_ = 0;
  std::unique_ptr<hnswlib::InnerProductSpace> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw_;
};

namespace internal {
// The checksum Save() records for the index file at `path`.
Result<uint64_t> IndexFileChecksum(const std::filesystem::path& path);
}  // namespace internal

}  // namespace naut::memory

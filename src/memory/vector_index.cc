#include "memory/vector_index.h"

#include <fcntl.h>
#include <hnswlib/hnswlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <queue>

#include "core/files.h"
#include "core/json.h"

namespace naut::memory {

namespace fs = std::filesystem;

namespace {

constexpr int kFormat = 1;
// The search breadth that keeps recall@10 >= 0.95 even on hashing vectors at 100,000 rows.
constexpr size_t kBroadSearch = 1024;
// A walk of breadth ef compares roughly ef x (2 M) / 4 vectors; below this many rows per unit of
// ef, comparing every vector costs less and finds the true neighbours.
constexpr size_t kExactRowsPerEf = 16;

void KeepBest(std::vector<IndexHit>& hits, size_t k) {
  k = std::min(k, hits.size());
  std::partial_sort(
      hits.begin(), hits.begin() + static_cast<ptrdiff_t>(k), hits.end(),
      [](const IndexHit& a, const IndexHit& b) { return a.similarity > b.similarity; });
  hits.resize(k);
}

// A fast 64-bit checksum of a file (FNV-style over 8-byte words); it only has to notice
// damage, not resist an adversary who can already write the data home.
Result<uint64_t> FileChecksum(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("vector index " + path.string() + ": cannot be opened");
  uint64_t h = 1469598103934665603ULL;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    size_t n = static_cast<size_t>(in.gcount());
    size_t words = n / 8;
    for (size_t i = 0; i < words; ++i) {
      uint64_t w;
      std::memcpy(&w, buf.data() + i * 8, 8);
      h = (h ^ w) * 1099511628211ULL;
      h ^= h >> 29;
    }
    for (size_t i = words * 8; i < n; ++i) {
      h = (h ^ static_cast<unsigned char>(buf[i])) * 1099511628211ULL;
    }
  }
  return h;
}

Status FsyncPath(const fs::path& path, bool directory) {
  int fd = ::open(path.c_str(), (directory ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Internal("cannot open " + path.string() + " to sync it");
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Internal("fsync of " + path.string() + " failed");
  return Status::Ok();
}

template <typename T>
bool ReadPod(std::ifstream& in, T& out) {
  in.read(reinterpret_cast<char*>(&out), sizeof(T));
  return static_cast<bool>(in);
}

// Checks the hnswlib header against what this build would write for `dim` and `m`, so
// that the loader never sizes allocations or walks links from untrusted numbers.
Status CheckHeader(const fs::path& path, int dim, size_t m, size_t count, uintmax_t file_size) {
  std::ifstream in(path, std::ios::binary);
  size_t offset_level0, max_elements, cur, size_per, label_offset, offset_data, max_m, max_m0,
      big_m, efc;
  int max_level;
  unsigned int enter;
  double mult;
  bool ok = ReadPod(in, offset_level0) && ReadPod(in, max_elements) && ReadPod(in, cur) &&
            ReadPod(in, size_per) && ReadPod(in, label_offset) && ReadPod(in, offset_data) &&
            ReadPod(in, max_level) && ReadPod(in, enter) && ReadPod(in, max_m) &&
            ReadPod(in, max_m0) && ReadPod(in, big_m) && ReadPod(in, mult) && ReadPod(in, efc);
  const std::string where = "vector index " + path.string();
  if (!ok) return DataLoss(where + ": truncated header");
  const size_t links0 = 2 * m * sizeof(unsigned int) + sizeof(unsigned int);
  const size_t data = static_cast<size_t>(dim) * sizeof(float);
  const size_t expect_per = links0 + data + sizeof(hnswlib::labeltype);
  if (offset_level0 != 0 || big_m != m || max_m != m || max_m0 != 2 * m || size_per != expect_per ||
      offset_data != links0 || label_offset != links0 + data) {
    return DataLoss(where + ": header does not describe a dim " + std::to_string(dim) + ", M " +
                    std::to_string(m) + " index");
  }
  // Capacity grows by doubling from 1024, so a saved capacity far above the count is damage.
  if (cur < count || cur > max_elements || max_elements > std::max<size_t>(2048, 2 * cur + 2) ||
      (cur > 0 && enter >= cur) || max_level < 0 || max_level > 64) {
    return DataLoss(where + ": header element counts are inconsistent");
  }
  const uintmax_t header =
      10 * sizeof(size_t) + sizeof(int) + sizeof(unsigned int) + sizeof(double);
  if (cur > file_size / (size_per + sizeof(unsigned int)) ||
      file_size < header + cur * (size_per + sizeof(unsigned int))) {
    return DataLoss(where + ": header claims " + std::to_string(cur) +
                    " elements, more than the file holds");
  }
  return Status::Ok();
}

// hnswlib 0.6.2's searchBaseLayer reads the link after the last one of the list it walks, to
// feed a prefetch hint (`*(datal + j + 1)` under USE_SSE). Level-0 lists are followed by the
// vector, so that read stays inside the element; but the lists of the upper layers live in a
// block of exactly `size_links_per_element_ * level` bytes (+1 when made by addPoint), so for a
// node whose top-layer list is full the read lands 3 (after a load: 4) bytes past the block.
// Each such block is grown by one zeroed link; hnswlib frees it with free(), so realloc is
// safe, and the saved file does not change (it writes `size_links_per_element_ * level`).
void GiveLinksSlack(hnswlib::HierarchicalNSW<float>& h, hnswlib::tableint internal) {
  const int level = h.element_levels_[internal];
  if (level <= 0 || h.linkLists_[internal] == nullptr) return;
  const size_t used = h.size_links_per_element_ * static_cast<size_t>(level);
  void* grown = std::realloc(h.linkLists_[internal], used + sizeof(hnswlib::tableint));
  if (grown == nullptr) return;  // the old block stays valid; only the slack is missing
  std::memset(static_cast<char*>(grown) + used, 0, sizeof(hnswlib::tableint));
  h.linkLists_[internal] = static_cast<char*>(grown);
}

}  // namespace

Result<uint64_t> internal::IndexFileChecksum(const fs::path& path) { return FileChecksum(path); }

VectorIndex::VectorIndex(int dim, Options options)
    : dim_(dim),
      options_(options.ef_search == 0 ? Options{.m = options.m,
                                                .ef_construction = options.ef_construction,
                                                .ef_search = kBroadSearch}
                                      : options),
      space_(std::make_unique<hnswlib::InnerProductSpace>(static_cast<size_t>(dim))),
      hnsw_(std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), 1024, options.m,
                                                              options.ef_construction)) {}

VectorIndex::~VectorIndex() = default;

Result<std::unique_ptr<VectorIndex>> VectorIndex::Load(const fs::path& path,
                                                       const std::string& embedder, int dim,
                                                       Options options) {
  const std::string where = "vector index " + path.string();
  fs::path record_path = path.string() + ".json";
  std::error_code ec;
  if (!fs::exists(path, ec) || !fs::exists(record_path, ec)) {
    return NotFound(where + ": not built yet");
  }
  NAUT_ASSIGN_OR_RETURN(std::string record_text, ReadFile(record_path));
  auto record = ParseJson(record_text, record_path.string());
  if (!record || !record->is_object()) return DataLoss(where + ": its record is not JSON");
  const Json& r = *record;
  auto field = [&](const char* key) -> const Json* {
    auto it = r.find(key);
    return it == r.end() ? nullptr : &*it;
  };
  const Json *format = field("format"), *emb = field("embedder"), *d = field("dim"),
             *max_id = field("max_id"), *count = field("count"), *size = field("size"),
             *sum = field("checksum"), *mm = field("m");
  if (!format || !format->is_number_integer() || format->get<int>() != kFormat || !emb ||
      !emb->is_string() || !d || !d->is_number_integer() || !max_id ||
      !max_id->is_number_integer() || !count || !count->is_number_unsigned() || !size ||
      !size->is_number_unsigned() || !sum || !sum->is_string() || !mm ||
      !mm->is_number_unsigned()) {
    return DataLoss(where +
                    ": its record lacks format, embedder, dim, max_id, count, size, "
                    "checksum or m");
  }
  if (emb->get<std::string>() != embedder || d->get<int>() != dim) {
    return FailedPrecondition(where + ": holds vectors of " + emb->get<std::string>() + " (dim " +
                              std::to_string(d->get<int>()) + "), not " + embedder + " (dim " +
                              std::to_string(dim) + ")");
  }
  if (mm->get<size_t>() != options.m) {
    return FailedPrecondition(where + ": built with M " + std::to_string(mm->get<size_t>()));
  }
  uintmax_t file_size = fs::file_size(path, ec);
  if (ec || file_size != size->get<uintmax_t>()) {
    return DataLoss(where + ": size " + std::to_string(file_size) + " differs from the " +
                    std::to_string(size->get<uintmax_t>()) + " bytes recorded");
  }
  NAUT_ASSIGN_OR_RETURN(uint64_t checksum, FileChecksum(path));
  if (std::to_string(checksum) != sum->get<std::string>()) {
    return DataLoss(where + ": checksum mismatch (the file was damaged)");
  }
  NAUT_RETURN_IF_ERROR(CheckHeader(path, dim, options.m, count->get<size_t>(), file_size));

  auto index = std::make_unique<VectorIndex>(dim, options);
  try {
    index->hnsw_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(index->space_.get(),
                                                                     path.string(), false, 0);
  } catch (const std::exception& e) {
    return DataLoss(where + ": " + e.what());
  }
  // hnswlib's loading constructor leaves num_deleted_ uninitialised before counting into it.
  size_t deleted = 0;
  for (size_t i = 0; i < index->hnsw_->cur_element_count; ++i) {
    if (index->hnsw_->isMarkedDeleted(static_cast<hnswlib::tableint>(i))) ++deleted;
  }
  index->hnsw_->num_deleted_ = deleted;
  for (size_t i = 0; i < index->hnsw_->cur_element_count; ++i) {
    GiveLinksSlack(*index->hnsw_, static_cast<hnswlib::tableint>(i));
  }
  index->max_id_ = max_id->get<int64_t>();
  if (index->size() != count->get<size_t>()) {
    return DataLoss(where + ": holds " + std::to_string(index->size()) +
                    " vectors, its record says " + std::to_string(count->get<size_t>()));
  }
  return index;
}

Status VectorIndex::Save(const fs::path& path, const std::string& embedder) const {
  const std::string where = "vector index " + path.string();
  NAUT_RETURN_IF_ERROR(MakePrivateDirs(path.parent_path()));
  fs::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
  try {
    hnsw_->saveIndex(tmp.string());
  } catch (const std::exception& e) {
    return Internal(where + ": saving failed: " + e.what());
  }
  std::error_code ec;
  uintmax_t size = fs::file_size(tmp, ec);
  if (ec) return Internal(where + ": the saved file vanished: " + ec.message());
  NAUT_ASSIGN_OR_RETURN(uint64_t checksum, FileChecksum(tmp));
  NAUT_RETURN_IF_ERROR(FsyncPath(tmp, false));
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Internal(where + ": cannot replace it: " + ec.message());
  }
  (void)FsyncPath(path.parent_path(), true);
  Json record{{"format", kFormat},
              {"embedder", embedder},
              {"dim", dim_},
              {"max_id", max_id_},
              {"count", size_t{this->size()}},
              {"size", size},
              {"checksum", std::to_string(checksum)},
              {"m", options_.m}};
  return WriteFileAtomic(path.string() + ".json", DumpJson(record, 2) + "\n");
}

void VectorIndex::Add(int64_t id, std::span<const float> v) {
  if (hnsw_->cur_element_count >= hnsw_->max_elements_) {
    hnsw_->resizeIndex(std::max<size_t>(1024, hnsw_->max_elements_ * 2));
  }
  hnsw_->addPoint(v.data(), static_cast<hnswlib::labeltype>(id));
  auto it = hnsw_->label_lookup_.find(static_cast<hnswlib::labeltype>(id));
  if (it != hnsw_->label_lookup_.end()) GiveLinksSlack(*hnsw_, it->second);
  max_id_ = std::max(max_id_, id);
}

void VectorIndex::Remove(int64_t id) {
  auto it = hnsw_->label_lookup_.find(static_cast<hnswlib::labeltype>(id));
  if (it == hnsw_->label_lookup_.end() || hnsw_->isMarkedDeleted(it->second)) return;
  hnsw_->markDeletedInternal(it->second);
}

bool VectorIndex::Contains(int64_t id) const {
  auto it = hnsw_->label_lookup_.find(static_cast<hnswlib::labeltype>(id));
  return it != hnsw_->label_lookup_.end() && !hnsw_->isMarkedDeleted(it->second);
}

size_t VectorIndex::size() const { return hnsw_->cur_element_count - hnsw_->num_deleted_; }

std::vector<IndexHit> VectorIndex::Search(std::span<const float> query, size_t k,
                                          const IdFilter* filter) const {
  if (k == 0 || size() == 0) return {};
  if (size() <= std::max(options_.ef_search, k) * kExactRowsPerEf) {
    return SearchExact(query, k, filter);
  }
  return filter != nullptr ? SearchGraph<true>(query.data(), k, filter)
                           : SearchGraph<false>(query.data(), k, nullptr);
}

// hnswlib's searchKnn with a filter (as hnswlib 0.7 has it, which Debian does not ship yet)
// and without its shared metric counters: a greedy descent through the upper layers, then a
// beam search of breadth ef on layer 0 that walks through every row but collects only live,
// allowed ones, and stops when the nearest unexplored candidate is farther than the farthest
// of ef collected rows.
template <bool kFiltered>
std::vector<IndexHit> VectorIndex::SearchGraph(const float* query, size_t k,
                                               const IdFilter* filter) const {
  using hnswlib::tableint;
  const auto& h = *hnsw_;
  const size_t ef = std::max(options_.ef_search, k);
  auto distance = [&](tableint id) {
    return h.fstdistfunc_(query, h.getDataByInternalId(id), h.dist_func_param_);
  };
  tableint cur = h.enterpoint_node_;
  float cur_dist = distance(cur);
  for (int level = h.maxlevel_; level > 0; --level) {
    for (bool changed = true; changed;) {
      changed = false;
      hnswlib::linklistsizeint* list = h.get_linklist(cur, level);
      const int n = h.getListCount(list);
      const auto* links = reinterpret_cast<const tableint*>(list + 1);
      for (int i = 0; i < n; ++i) {
        const float d = distance(links[i]);
        if (d < cur_dist) {
          cur_dist = d;
          cur = links[i];
          changed = true;
        }
      }
    }
  }

  const bool deletions = h.num_deleted_ > 0;
  auto collectable = [&](tableint id) {
    if (deletions && h.isMarkedDeleted(id)) return false;
    if constexpr (kFiltered) {
      return filter->Allows(static_cast<int64_t>(h.getExternalLabel(id)));
    } else {
      return true;
    }
  };
  using Pair = std::pair<float, tableint>;
  auto by_first = [](const Pair& a, const Pair& b) { return a.first < b.first; };
  // `top`: the farthest collected row on top; `frontier`: the nearest candidate on top.
  std::priority_queue<Pair, std::vector<Pair>, decltype(by_first)> top(by_first),
      frontier(by_first);
  hnswlib::VisitedList* visited = h.visited_list_pool_->getFreeVisitedList();
  hnswlib::vl_type* mark = visited->mass;
  const hnswlib::vl_type tag = visited->curV;
  float bound = std::numeric_limits<float>::max();
  if (collectable(cur)) {
    bound = cur_dist;
    top.emplace(cur_dist, cur);
  }
  frontier.emplace(-cur_dist, cur);
  mark[cur] = tag;
  const bool exact_stop = !deletions && !kFiltered;
  while (!frontier.empty()) {
    const Pair next = frontier.top();
    if (-next.first > bound && (top.size() == ef || exact_stop)) break;
    frontier.pop();
    hnswlib::linklistsizeint* list = h.get_linklist0(next.second);
    const int n = h.getListCount(list);
    const auto* links = reinterpret_cast<const tableint*>(list + 1);
    for (int i = 0; i < n; ++i) {
      const tableint id = links[i];
      if (mark[id] == tag) continue;
      mark[id] = tag;
      const float d = distance(id);
      if (top.size() < ef || d < bound) {
        frontier.emplace(-d, id);
        if (collectable(id)) {
          top.emplace(d, id);
          if (top.size() > ef) top.pop();
        }
        if (!top.empty()) bound = top.top().first;
      }
    }
  }
  h.visited_list_pool_->releaseVisitedList(visited);

  while (top.size() > k) top.pop();
  std::vector<IndexHit> hits(top.size());
  for (size_t i = top.size(); i-- > 0;) {
    hits[i] = {static_cast<int64_t>(h.getExternalLabel(top.top().second)), 1.0f - top.top().first};
    top.pop();
  }
  return hits;
}

std::vector<IndexHit> VectorIndex::SearchExact(std::span<const float> query, size_t k,
                                               const IdFilter* filter) const {
  std::vector<IndexHit> all;
  const size_t n = hnsw_->cur_element_count;
  all.reserve(n - hnsw_->num_deleted_);
  for (size_t i = 0; i < n; ++i) {
    auto internal = static_cast<hnswlib::tableint>(i);
    if (hnsw_->isMarkedDeleted(internal)) continue;
    const auto id = static_cast<int64_t>(hnsw_->getExternalLabel(internal));
    if (filter != nullptr && !filter->Allows(id)) continue;
    const float* v = reinterpret_cast<const float*>(hnsw_->getDataByInternalId(internal));
    float dist = hnsw_->fstdistfunc_(query.data(), v, hnsw_->dist_func_param_);
    all.push_back({id, 1.0f - dist});
  }
  KeepBest(all, k);
  return all;
}

bool VectorIndex::ExactIsCheaper(size_t rows) const {
  const double walk = static_cast<double>(kExactRowsPerEf * options_.ef_search) *
                      static_cast<double>(size()) / static_cast<double>(std::max<size_t>(rows, 1));
  return static_cast<double>(rows) <= walk;
}

std::vector<IndexHit> VectorIndex::SearchAmong(std::span<const float> query, size_t k,
                                               std::span<const int64_t> ids) const {
  std::vector<std::pair<hnswlib::tableint, int64_t>> rows;
  rows.reserve(ids.size());
  for (int64_t id : ids) {
    auto it = hnsw_->label_lookup_.find(static_cast<hnswlib::labeltype>(id));
    if (it == hnsw_->label_lookup_.end() || hnsw_->isMarkedDeleted(it->second)) continue;
    rows.emplace_back(it->second, id);
  }
  // In storage order, with the vectors a few rows ahead fetched early: scattered rows are
  // otherwise bound by memory latency, not by the arithmetic.
  std::sort(rows.begin(), rows.end());
  constexpr size_t kAhead = 4;
  const size_t bytes = static_cast<size_t>(dim_) * sizeof(float);
  std::vector<IndexHit> hits;
  hits.reserve(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i + kAhead < rows.size()) {
      const char* next = hnsw_->getDataByInternalId(rows[i + kAhead].first);
      for (size_t line = 0; line < bytes; line += 64) __builtin_prefetch(next + line);
    }
    const float dist = hnsw_->fstdistfunc_(query.data(), hnsw_->getDataByInternalId(rows[i].first),
                                           hnsw_->dist_func_param_);
    hits.push_back({rows[i].second, 1.0f - dist});
  }
  KeepBest(hits, k);
  return hits;
}

std::span<const float> VectorIndex::VectorOf(int64_t id) const {
  auto it = hnsw_->label_lookup_.find(static_cast<hnswlib::labeltype>(id));
  if (it == hnsw_->label_lookup_.end() || hnsw_->isMarkedDeleted(it->second)) return {};
  return {reinterpret_cast<const float*>(hnsw_->getDataByInternalId(it->second)),
          static_cast<size_t>(dim_)};
}

std::vector<int64_t> VectorIndex::Ids() const {
  std::vector<int64_t> ids;
  for (const auto& [label, internal] : hnsw_->label_lookup_) {
    if (!hnsw_->isMarkedDeleted(internal)) ids.push_back(static_cast<int64_t>(label));
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace naut::memory

// Memory at scale, measured on the real store (SQLite WAL + FTS5 + HNSW file):
//   memory_bench [--items 100000] [--queries 300] [--dim 512] [--ef 256,512] [--efc 64] [--m 32]
//                [--batch 1000] [--dir D] [--keep 1]
//                [--vectors hashing|clustered] [--vectors-file FILE]
// Prints insert rate, index save/load time, hybrid query latency (p50/p99) without and with
// filters, vector-only query latency through HNSW and through exact search, and recall@10 of
// HNSW against exact search. Texts are synthetic sentences drawn from a fixed vocabulary
// (deterministic seed), so BM25 has words to match whatever makes the vectors:
//   hashing    the hashing embedder over the texts (the default; dim 512): high intrinsic
//              dimension, the hard case for HNSW.
//   clustered  dim 384 (unless --dim) points near 300 random centres in a 24-dimensional
//              subspace, normalised: the low intrinsic dimension of real sentence embeddings.
//              Queries are new points of the same model ("random words") or points near a
//              stored item ("words of a stored item").
//   --vectors-file FILE  raw little-endian float32 rows of --dim floats (e.g. real embeddings):
//              row i is item i's vector; rows after the items are the "random words" queries
//              (else rows of stored items are reused), and a stored row plus a little noise the
//              "words of a stored item" ones.
// --ef omitted: the store's own choice (the embedder's search breadth). --dir with --keep 1
// reuses a store that a previous run with the same flags filled (queries only).
//
// The embedded index against Chroma, side by side on the same vectors:
//   memory_bench --chroma http://127.0.0.1:8000 [--rounds 3] [--overfetch 120] [--items N]
//                [--queries Q] [--vectors clustered|--vectors-file FILE] [--ef E] [--efc 64]
//                [--m 32]
// Each round fills a fresh embedded index (VectorIndex, in this process) and a fresh Chroma
// collection (over HTTP, in batches of up to 1000) with the same items, then asks both the same
// top-10 queries, unfiltered and filtered (kind fact and environment rpg: 1 item in 6): insert
// rate, query p50/p99, recall@10 against exact search; and Chroma asked plain for --overfetch hits
// (120) that are filtered here, as the store does for broad filters. The two alternate which goes
// first; the summary gives the median and the range over the rounds. Both use the same HNSW
// parameters (M, ef_construction, ef_search: the sentence-model breadth, 128, unless --ef).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/ids.h"
#include "memory/chroma_index.h"
#include "memory/memory_store.h"

namespace {

using Clock = std::chrono::steady_clock;
using naut::memory::HashingEmbedder;
using naut::memory::Kind;
using naut::memory::MemoryStore;
using naut::memory::NewMemory;
using naut::memory::Vector;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  auto i = static_cast<size_t>(std::lround(p * static_cast<double>(v.size() - 1)));
  return v[std::min(i, v.size() - 1)];
}

std::string Word(std::mt19937& rng) {
  // A Zipf-like vocabulary of 20,000 pronounceable words.
  static const char* kSyl[] = {"ka",  "lo",  "mi",  "ne",  "ru",  "ta",  "shi",
                               "vo",  "ge",  "pa",  "dor", "fen", "gul", "hat",
                               "jin", "kel", "mor", "nak", "pil", "quo"};
  std::exponential_distribution<double> zipf(1.0 / 2500.0);
  unsigned id = static_cast<unsigned>(zipf(rng)) % 20000;
  std::string w;
  for (int i = 0; i < 3; ++i) {
    w += kSyl[id % 20];
    id /= 20;
  }
  return w;
}

std::string Sentence(std::mt19937& rng, int words) {
  std::string s;
  for (int i = 0; i < words; ++i) s += (i ? " " : "") + Word(rng);
  return s;
}

// Hands out the vector the bench set for each text beforehand, as if a model had made it.
class TableEmbedder : public naut::memory::Embedder {
 public:
  TableEmbedder(std::string id, int dim) : id_(std::move(id)), dim_(dim) {}
  std::string id() const override { return id_; }
  naut::Result<int> Dimension() override { return dim_; }
  naut::Result<std::vector<Vector>> Embed(std::span<const std::string> texts) override {
    std::vector<Vector> out;
    for (const auto& t : texts) {
      auto it = table_.find(t);
      if (it == table_.end()) return naut::InvalidArgument("bench: no vector for '" + t + "'");
      out.push_back(it->second);
    }
    return out;
  }
  void Set(const std::string& text, Vector v) { table_[text] = std::move(v); }
  void Clear() { table_.clear(); }

 private:
  std::string id_;
  int dim_;
  std::unordered_map<std::string, Vector> table_;
};

// Vectors that are not made from the texts: the clustered model, or rows of a file.
class VectorSource {
 public:
  virtual ~VectorSource() = default;
  virtual Vector Item(size_t i) = 0;
  virtual Vector Query(size_t q) = 0;
  // A query near stored item `i` (its vector plus a little noise).
  virtual Vector Near(size_t i, const Vector& item) = 0;
};

class ClusteredSource : public VectorSource {
 public:
  static constexpr int kLatent = 24;
  static constexpr int kCentres = 300;
  explicit ClusteredSource(int dim) : dim_(dim), rng_(7) {
    std::normal_distribution<float> g;
    basis_.resize(static_cast<size_t>(dim) * kLatent);
    for (auto& b : basis_) b = g(rng_);
    centres_.resize(static_cast<size_t>(kCentres) * kLatent);
    for (auto& c : centres_) c = g(rng_);
  }
  Vector Item(size_t /*i*/) override { return Draw(); }
  Vector Query(size_t /*q*/) override { return Draw(); }
  Vector Near(size_t /*i*/, const Vector& item) override { return Jitter(item, 0.25f); }

 private:
  // A centre plus spread within the subspace, plus a little full-dimensional noise.
  Vector Draw() {
    std::normal_distribution<float> g;
    const size_t c = rng_() % kCentres;
    float z[kLatent];
    for (int j = 0; j < kLatent; ++j) z[j] = centres_[c * kLatent + j] + 0.6f * g(rng_);
    Vector v(static_cast<size_t>(dim_));
    for (int d = 0; d < dim_; ++d) {
      float s = 0;
      for (int j = 0; j < kLatent; ++j) s += basis_[static_cast<size_t>(d) * kLatent + j] * z[j];
      v[static_cast<size_t>(d)] = s + 0.5f * g(rng_);
    }
    naut::memory::Normalize(v);
    return v;
  }

 protected:
  Vector Jitter(const Vector& base, float amount) {
    std::normal_distribution<float> g;
    Vector v = base;
    const float scale = amount / std::sqrt(static_cast<float>(v.size()));
    for (auto& x : v) x += scale * g(rng_);
    naut::memory::Normalize(v);
    return v;
  }

  int dim_;
  std::mt19937 rng_;
  std::vector<float> basis_, centres_;
};

class FileSource : public ClusteredSource {
 public:
  FileSource(std::vector<float> rows, int dim, size_t items)
      : ClusteredSource(dim), rows_(std::move(rows)), items_(items) {}
  size_t rows() const { return rows_.size() / static_cast<size_t>(dim_); }
  Vector Item(size_t i) override { return Row(i); }
  Vector Query(size_t q) override {
    const size_t spare = rows() - std::min(rows(), items_);
    return spare > 0 ? Row(items_ + q % spare) : Jitter(Row(rng_() % items_), 0.25f);
  }

 private:
  Vector Row(size_t i) {
    const auto* p = rows_.data() + i * static_cast<size_t>(dim_);
    Vector v(p, p + dim_);
    naut::memory::Normalize(v);
    return v;
  }
  std::vector<float> rows_;
  size_t items_;
};

// The rows the bench's filtered queries ask for (kind fact, environment rpg), known from how
// it fills a fresh store: ids from 1, batch position i gives kind and environment.
class FactsInRpg : public naut::memory::IdFilter {
 public:
  explicit FactsInRpg(size_t batch) : batch_(batch) {}
  bool Allows(int64_t id) const override {
    const size_t i = static_cast<size_t>(id - 1) % batch_;
    return i % 3 != 0 && i % 4 == 0;
  }

 private:
  size_t batch_;
};

// What one round measured of one index.
struct Round {
  double insert_per_s = 0;
  double p50 = 0, p99 = 0, filtered_p50 = 0, filtered_p99 = 0;
  double recall = 0, filtered_recall = 0;
  // Chroma only: the filter applied here to an unfiltered query for --overfetch hits.
  double overfetch_p50 = 0, overfetch_p99 = 0, overfetch_recall = 0;
};

// The items of the comparison: item i is row i + 1, of kind fact unless i % 3 == 0 (episode),
// in environment rpg when i % 4 == 0.
std::string KindOf(size_t i) { return i % 3 == 0 ? "episode" : "fact"; }
std::string EnvOf(size_t i) {
  const char* envs[] = {"rpg", "fs", "exec", ""};
  return envs[i % 4];
}
class FactsInRpgItems : public naut::memory::IdFilter {
 public:
  bool Allows(int64_t id) const override {
    const auto i = static_cast<size_t>(id - 1);
    return i % 3 != 0 && i % 4 == 0;
  }
};

double Recall(const std::vector<std::set<int64_t>>& truth,
              const std::vector<std::vector<int64_t>>& got) {
  size_t found = 0, total = 0;
  for (size_t q = 0; q < truth.size(); ++q) {
    for (int64_t id : got[q]) found += truth[q].count(id);
    total += truth[q].size();
  }
  return total == 0 ? 0 : static_cast<double>(found) / static_cast<double>(total);
}

void PrintSummary(const char* name, const std::vector<Round>& rounds) {
  auto stat = [&](double Round::*field, const char* fmt) {
    std::vector<double> v;
    for (const auto& r : rounds) v.push_back(r.*field);
    std::sort(v.begin(), v.end());
    std::printf(fmt, v[v.size() / 2], v.front(), v.back());
  };
  std::printf("%s over %zu rounds: median (min-max)\n", name, rounds.size());
  stat(&Round::insert_per_s, "  insert %.0f items/s (%.0f-%.0f)\n");
  stat(&Round::p50, "  query top-10 p50 %.3f ms (%.3f-%.3f)");
  stat(&Round::p99, ", p99 %.3f ms (%.3f-%.3f)\n");
  stat(&Round::filtered_p50, "  filtered (kind=fact, env=rpg) p50 %.3f ms (%.3f-%.3f)");
  stat(&Round::filtered_p99, ", p99 %.3f ms (%.3f-%.3f)\n");
  stat(&Round::recall, "  recall@10 %.4f (%.4f-%.4f)");
  stat(&Round::filtered_recall, ", filtered %.4f (%.4f-%.4f)\n");
  if (rounds.front().overfetch_p50 > 0) {
    stat(&Round::overfetch_p50, "  filtered by over-fetching p50 %.3f ms (%.3f-%.3f)");
    stat(&Round::overfetch_p99, ", p99 %.3f ms (%.3f-%.3f)");
    stat(&Round::overfetch_recall, ", recall@10 %.4f (%.4f-%.4f)\n");
  }
}

int CompareWithChroma(const std::string& url, size_t rounds, size_t overfetch, size_t items,
                      size_t queries, int dim, VectorSource& source,
                      naut::memory::VectorIndex::Options opts, const std::string& vectors) {
  using naut::memory::ChromaIndex;
  using naut::memory::VectorIndex;
  std::vector<Vector> rows(items), qs(queries);
  for (size_t i = 0; i < items; ++i) rows[i] = source.Item(i);
  for (size_t q = 0; q < queries; ++q) qs[q] = source.Query(q);
  const FactsInRpgItems facts_in_rpg;
  std::printf(
      "embedded index vs Chroma at %s: items %zu, vectors %s, dim %d, M %zu, "
      "ef_construction %zu, ef_search %zu, %zu queries, %zu rounds\n",
      url.c_str(), items, vectors.c_str(), dim, opts.m, opts.ef_construction, opts.ef_search,
      queries, rounds);
  std::fflush(stdout);
  std::vector<std::set<int64_t>> truth, truth_filtered;
  std::vector<Round> embedded_rounds, chroma_rounds;
  auto run_embedded = [&]() -> Round {
    Round r;
    VectorIndex index(dim, opts);
    auto a = Clock::now();
    for (size_t i = 0; i < items; ++i) index.Add(static_cast<int64_t>(i + 1), rows[i]);
    r.insert_per_s = static_cast<double>(items) / (Ms(Clock::now() - a) / 1000);
    if (truth.empty()) {
      for (const auto& qv : qs) {
        std::set<int64_t> t, tf;
        for (const auto& h : index.SearchExact(qv, 10)) t.insert(h.id);
        for (const auto& h : index.SearchExact(qv, 10, &facts_in_rpg)) tf.insert(h.id);
        truth.push_back(std::move(t));
        truth_filtered.push_back(std::move(tf));
      }
    }
    std::vector<double> plain, filtered;
    std::vector<std::vector<int64_t>> got, got_filtered;
    for (const auto& qv : qs) {
      a = Clock::now();
      auto hits = index.Search(qv, 10);
      plain.push_back(Ms(Clock::now() - a));
      a = Clock::now();
      auto fh = index.Search(qv, 10, &facts_in_rpg);
      filtered.push_back(Ms(Clock::now() - a));
      got.emplace_back();
      for (const auto& h : hits) got.back().push_back(h.id);
      got_filtered.emplace_back();
      for (const auto& h : fh) got_filtered.back().push_back(h.id);
    }
    r.p50 = Percentile(plain, 0.5);
    r.p99 = Percentile(plain, 0.99);
    r.filtered_p50 = Percentile(filtered, 0.5);
    r.filtered_p99 = Percentile(filtered, 0.99);
    r.recall = Recall(truth, got);
    r.filtered_recall = Recall(truth_filtered, got_filtered);
    return r;
  };
  auto run_chroma = [&](size_t round) -> naut::Result<Round> {
    Round r;
    ChromaIndex::Options o;
    o.url = url;
    o.collection = "naut-bench-" + naut::NewId() + "-" + std::to_string(round);
    o.m = opts.m;
    o.ef_construction = opts.ef_construction;
    o.ef_search = opts.ef_search;
    o.timeout_s = 600;
    NAUT_ASSIGN_OR_RETURN(auto chroma, ChromaIndex::Connect(o));
    std::vector<ChromaIndex::Item> batch;
    auto a = Clock::now();
    for (size_t i = 0; i < items; ++i) {
      batch.push_back({static_cast<int64_t>(i + 1), rows[i], KindOf(i), EnvOf(i)});
      if (batch.size() == 1000 || i + 1 == items) {
        NAUT_RETURN_IF_ERROR(chroma->Upsert(batch));
        batch.clear();
      }
    }
    r.insert_per_s = static_cast<double>(items) / (Ms(Clock::now() - a) / 1000);
    std::vector<double> plain, filtered, overfetched;
    std::vector<std::vector<int64_t>> got, got_filtered, got_overfetched;
    for (const auto& qv : qs) {
      a = Clock::now();
      NAUT_ASSIGN_OR_RETURN(auto wide, chroma->Query(qv, overfetch, "", ""));
      got_overfetched.emplace_back();
      for (const auto& h : wide) {
        if (got_overfetched.back().size() < 10 && facts_in_rpg.Allows(h.id)) {
          got_overfetched.back().push_back(h.id);
        }
      }
      overfetched.push_back(Ms(Clock::now() - a));
      a = Clock::now();
      NAUT_ASSIGN_OR_RETURN(auto hits, chroma->Query(qv, 10, "", ""));
      plain.push_back(Ms(Clock::now() - a));
      a = Clock::now();
      NAUT_ASSIGN_OR_RETURN(auto fh, chroma->Query(qv, 10, "fact", "rpg"));
      filtered.push_back(Ms(Clock::now() - a));
      got.emplace_back();
      for (const auto& h : hits) got.back().push_back(h.id);
      got_filtered.emplace_back();
      for (const auto& h : fh) got_filtered.back().push_back(h.id);
    }
    r.p50 = Percentile(plain, 0.5);
    r.p99 = Percentile(plain, 0.99);
    r.filtered_p50 = Percentile(filtered, 0.5);
    r.filtered_p99 = Percentile(filtered, 0.99);
    r.recall = Recall(truth, got);
    r.filtered_recall = Recall(truth_filtered, got_filtered);
    r.overfetch_p50 = Percentile(overfetched, 0.5);
    r.overfetch_p99 = Percentile(overfetched, 0.99);
    r.overfetch_recall = Recall(truth_filtered, got_overfetched);
    // The collection is left out of the next rounds (and the server's disk) once measured.
    if (auto s = chroma->Clear(); !s.ok()) return s;
    return r;
  };
  auto print = [](const char* name, size_t round, const Round& r) {
    std::printf(
        "round %zu %-8s insert %8.0f items/s; top-10 p50 %7.3f ms p99 %7.3f ms; "
        "filtered p50 %7.3f ms p99 %7.3f ms; recall@10 %.4f, filtered %.4f\n",
        round, name, r.insert_per_s, r.p50, r.p99, r.filtered_p50, r.filtered_p99, r.recall,
        r.filtered_recall);
    if (r.overfetch_p50 > 0) {
      std::printf("        over-fetch and filter here: p50 %7.3f ms p99 %7.3f ms, recall@10 %.4f\n",
                  r.overfetch_p50, r.overfetch_p99, r.overfetch_recall);
    }
    std::fflush(stdout);
  };
  // The exact answers come from the first embedded round, which therefore always runs first in
  // round 1; later rounds alternate.
  for (size_t round = 1; round <= rounds; ++round) {
    const bool embedded_first = round % 2 == 1;
    for (int turn = 0; turn < 2; ++turn) {
      if ((turn == 0) == embedded_first) {
        embedded_rounds.push_back(run_embedded());
        print("embedded", round, embedded_rounds.back());
      } else {
        auto r = run_chroma(round);
        if (!r) {
          std::fprintf(stderr, "%s\n", r.error().ToString().c_str());
          return 1;
        }
        chroma_rounds.push_back(*r);
        print("chroma", round, chroma_rounds.back());
      }
    }
  }
  PrintSummary("embedded", embedded_rounds);
  PrintSummary("chroma", chroma_rounds);
  return 0;
}

std::vector<size_t> ParseList(const std::string& v) {
  std::vector<size_t> out;
  for (size_t at = 0; at < v.size();) {
    size_t comma = v.find(',', at);
    if (comma == std::string::npos) comma = v.size();
    out.push_back(std::stoul(v.substr(at, comma - at)));
    at = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  naut::memory::VectorIndex::Options defaults;
  size_t items = 100000, queries = 300, batch = 1000, efc = defaults.ef_construction,
         m = defaults.m;
  int dim = 0;
  bool keep = false;
  std::string vectors = "hashing", vectors_file;
  std::vector<size_t> efs;  // --ef 256,512: the queries run once per value; empty: the store's
  std::filesystem::path dir;
  std::string chroma_url;
  size_t rounds = 3, overfetch = 120;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    std::string v = argv[i + 1];
    if (k == "--items")
      items = std::stoul(v);
    else if (k == "--queries")
      queries = std::stoul(v);
    else if (k == "--dim")
      dim = std::stoi(v);
    else if (k == "--ef")
      efs = ParseList(v);
    else if (k == "--efc")
      efc = std::stoul(v);
    else if (k == "--m")
      m = std::stoul(v);
    else if (k == "--batch")
      batch = std::stoul(v);
    else if (k == "--dir")
      dir = v;
    else if (k == "--keep")
      keep = v == "1";
    else if (k == "--vectors")
      vectors = v;
    else if (k == "--chroma")
      chroma_url = v;
    else if (k == "--overfetch")
      overfetch = std::stoul(v);
    else if (k == "--rounds")
      rounds = std::max<size_t>(1, std::stoul(v));
    else if (k == "--vectors-file") {
      vectors = "file";
      vectors_file = v;
    } else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  if (vectors != "hashing" && vectors != "clustered" && vectors != "file") {
    std::fprintf(stderr, "--vectors is hashing or clustered\n");
    return 2;
  }
  if (dim == 0) dim = vectors == "hashing" ? 512 : 384;
  std::unique_ptr<VectorSource> source;
  if (vectors == "clustered") source = std::make_unique<ClusteredSource>(dim);
  if (vectors == "file") {
    std::ifstream in(vectors_file, std::ios::binary | std::ios::ate);
    if (!in) {
      std::fprintf(stderr, "cannot read %s\n", vectors_file.c_str());
      return 1;
    }
    const auto bytes = static_cast<size_t>(in.tellg());
    in.seekg(0);
    std::vector<float> rows(bytes / sizeof(float));
    in.read(reinterpret_cast<char*>(rows.data()), static_cast<std::streamsize>(rows.size() * 4));
    auto file = std::make_unique<FileSource>(std::move(rows), dim, items);
    if (file->rows() < items) items = file->rows();
    if (items == 0) {
      std::fprintf(stderr, "%s holds no row of %d floats\n", vectors_file.c_str(), dim);
      return 1;
    }
    source = std::move(file);
  }

  if (!chroma_url.empty()) {
    if (!source) {
      std::fprintf(stderr, "--chroma compares on --vectors clustered or --vectors-file\n");
      return 2;
    }
    naut::memory::VectorIndex::Options opts;
    opts.m = m;
    opts.ef_construction = efc;
    opts.ef_search = efs.empty() ? naut::memory::Embedder::kSentenceModelBreadth : efs.front();
    return CompareWithChroma(chroma_url, rounds, overfetch, items, queries, dim, *source, opts,
                             vectors);
  }
  bool own_dir = dir.empty();
  if (own_dir) dir = std::filesystem::temp_directory_path() / ("naut-bench-" + naut::NewId());
  const bool reuse = keep && std::filesystem::exists(dir / "neuronaut.db");
  std::filesystem::create_directories(dir);
  naut::memory::StoreOptions opts{.index_dir = dir / "index"};
  opts.index.ef_construction = efc;
  opts.index.m = m;
  TableEmbedder* table = nullptr;
  auto open = [&] {
    std::unique_ptr<naut::memory::Embedder> embedder;
    if (source) {
      auto t = std::make_unique<TableEmbedder>("bench-" + vectors, dim);
      table = t.get();
      embedder = std::move(t);
    } else {
      embedder = std::make_unique<HashingEmbedder>(dim);
    }
    auto s = MemoryStore::Open(dir / "neuronaut.db", std::move(embedder), opts);
    if (!s) {
      std::fprintf(stderr, "%s\n", s.error().ToString().c_str());
      std::exit(1);
    }
    return std::move(*s);
  };

  std::mt19937 rng(42);
  // Texts (and vectors) that related queries are made from.
  std::vector<std::string> stored_sample;
  std::vector<Vector> stored_vectors;
  auto store = open();
  const char* envs[] = {"rpg", "fs", "exec", ""};
  auto t0 = Clock::now();
  for (size_t done = 0; done < items;) {
    std::vector<NewMemory> chunk;
    if (table) table->Clear();
    for (size_t i = 0; i < batch && done + i < items; ++i) {
      NewMemory m;
      m.kind = (i % 3 == 0) ? Kind::kEpisode : Kind::kFact;
      m.text = Sentence(rng, 12);
      Vector v;
      if (source) {
        v = source->Item(done + i);
        table->Set(m.text, v);
      }
      if ((done + i) % 97 == 0) {
        stored_sample.push_back(m.text);
        stored_vectors.push_back(v);
      }
      m.environment = envs[i % 4];
      m.tags = {"t" + std::to_string(i % 10)};
      chunk.push_back(std::move(m));
    }
    if (!reuse) {
      auto ids = store->AddBatch(chunk);
      if (!ids) {
        std::fprintf(stderr, "%s\n", ids.error().ToString().c_str());
        return 1;
      }
    }
    done += chunk.size();
  }
  double insert_ms = Ms(Clock::now() - t0);
  auto t1 = Clock::now();
  if (auto s = store->Flush(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  double save_ms = Ms(Clock::now() - t1);
  store.reset();
  auto t2 = Clock::now();
  store = open();
  auto index = store->Index();
  if (!index) {
    std::fprintf(stderr, "%s\n", index.error().ToString().c_str());
    return 1;
  }
  double load_ms = Ms(Clock::now() - t2);
  if (efs.empty()) efs = {(*index)->ef_search()};

  auto db_size = std::filesystem::file_size(dir / "neuronaut.db");
  auto ix_size = std::filesystem::file_size(dir / "index" / "memory.hnsw");
  std::printf("items %zu, vectors %s, dim %d, M %zu, ef_construction %zu\n", items, vectors.c_str(),
              dim, m, efc);
  if (!reuse) {
    std::printf("insert (embed + SQLite + FTS5 + HNSW, batches of %zu): %.0f items/s (%.1f s)\n",
                batch, static_cast<double>(items) / (insert_ms / 1000), insert_ms / 1000);
  }
  std::printf("index save %.0f ms, open + load %.0f ms; database %.0f MiB, index %.0f MiB\n",
              save_ms, load_ms, static_cast<double>(db_size) / 1048576.0,
              static_cast<double>(ix_size) / 1048576.0);
  std::fflush(stdout);

  HashingEmbedder hashing(dim);
  const std::mt19937 query_rng = rng;  // the same queries for every ef
  // Two query sets: 5 random words (for hashing vectors the hardest case for HNSW: the true
  // neighbours are barely nearer than the rest), and 5 consecutive words of a stored item (a
  // query about something remembered).
  auto related = [&](std::mt19937& r, size_t& which) {
    which = r() % stored_sample.size();
    const std::string& t = stored_sample[which];
    std::vector<std::string> words;
    for (size_t at = 0; at < t.size();) {
      size_t sp = t.find(' ', at);
      if (sp == std::string::npos) sp = t.size();
      words.push_back(t.substr(at, sp - at));
      at = sp + 1;
    }
    size_t first = r() % (words.size() - 4);
    std::string q;
    for (size_t i = first; i < first + 5; ++i) q += (i > first ? " " : "") + words[i];
    return q;
  };
  // The query vectors, made once so that every ef sees the same ones.
  std::vector<std::string> texts[2];
  std::vector<Vector> qvs[2];
  for (int set = 0; set < 2; ++set) {
    rng = query_rng;
    for (size_t q = 0; q < queries; ++q) {
      size_t which = 0;
      std::string text = set == 0 ? Sentence(rng, 5) : related(rng, which);
      Vector qv;
      if (!source) {
        qv = hashing.EmbedText(text);
      } else {
        qv = set == 0 ? source->Query(q) : source->Near(which, stored_vectors[which]);
      }
      texts[set].push_back(std::move(text));
      qvs[set].push_back(std::move(qv));
    }
  }
  for (size_t ef_now : efs) {
    for (int set = 0; set < 2; ++set) {
      (*index)->set_ef_search(ef_now);
      std::vector<double> hybrid, filtered, text_only, vector_only, text_filtered, vector_filtered,
          hnsw, exact;
      size_t found = 0, total = 0, found_filtered = 0, total_filtered = 0;
      const FactsInRpg facts_in_rpg(batch);
      for (size_t q = 0; q < queries; ++q) {
        const std::string& text = texts[set][q];
        const Vector& qv = qvs[set][q];
        if (table) {
          table->Clear();
          table->Set(text, qv);
        }
        auto a = Clock::now();
        auto hits = store->Search({.text = text, .top_k = 10});
        hybrid.push_back(Ms(Clock::now() - a));
        if (!hits) {
          std::fprintf(stderr, "%s\n", hits.error().ToString().c_str());
          return 1;
        }
        a = Clock::now();
        auto fh =
            store->Search({.text = text, .top_k = 10, .kind = Kind::kFact, .environment = "rpg"});
        filtered.push_back(Ms(Clock::now() - a));
        if (!fh) {
          std::fprintf(stderr, "%s\n", fh.error().ToString().c_str());
          return 1;
        }
        a = Clock::now();
        auto th =
            store->Search({.text = text, .top_k = 10, .mode = naut::memory::SearchMode::kText});
        text_only.push_back(Ms(Clock::now() - a));
        a = Clock::now();
        auto vh =
            store->Search({.text = text, .top_k = 10, .mode = naut::memory::SearchMode::kVector});
        vector_only.push_back(Ms(Clock::now() - a));
        a = Clock::now();
        auto tf = store->Search({.text = text,
                                 .top_k = 10,
                                 .mode = naut::memory::SearchMode::kText,
                                 .kind = Kind::kFact,
                                 .environment = "rpg"});
        text_filtered.push_back(Ms(Clock::now() - a));
        a = Clock::now();
        auto vf = store->Search({.text = text,
                                 .top_k = 10,
                                 .mode = naut::memory::SearchMode::kVector,
                                 .kind = Kind::kFact,
                                 .environment = "rpg"});
        vector_filtered.push_back(Ms(Clock::now() - a));
        if (!th || !vh || !tf || !vf) {
          std::fprintf(stderr, "text or vector search failed\n");
          return 1;
        }
        a = Clock::now();
        auto approx = (*index)->Search(qv, 10);
        hnsw.push_back(Ms(Clock::now() - a));
        a = Clock::now();
        auto truth = (*index)->SearchExact(qv, 10);
        exact.push_back(Ms(Clock::now() - a));
        std::set<int64_t> t;
        for (const auto& h : truth) t.insert(h.id);
        for (const auto& h : approx) found += t.count(h.id);
        total += truth.size();
        // HNSW through the filter, against exact search over the rows the filter allows.
        std::set<int64_t> allowed_truth;
        for (const auto& h : (*index)->SearchExact(qv, 10, &facts_in_rpg)) {
          allowed_truth.insert(h.id);
        }
        for (const auto& h : (*index)->Search(qv, 10, &facts_in_rpg)) {
          found_filtered += allowed_truth.count(h.id);
        }
        total_filtered += allowed_truth.size();
      }
      std::printf("-- ef_search %zu, queries: %s\n", ef_now,
                  set == 0 ? "5 random words" : "5 words of a stored item");
      std::printf("hybrid query top-10 (%zu queries): p50 %.2f ms, p99 %.2f ms\n", queries,
                  Percentile(hybrid, 0.5), Percentile(hybrid, 0.99));
      std::printf("hybrid query with filters (kind=fact, env=rpg): p50 %.2f ms, p99 %.2f ms\n",
                  Percentile(filtered, 0.5), Percentile(filtered, 0.99));
      std::printf(
          "store search, words only (BM25) / meaning only (HNSW): p50 %.2f / %.2f ms, with "
          "filters %.2f / %.2f ms\n",
          Percentile(text_only, 0.5), Percentile(vector_only, 0.5), Percentile(text_filtered, 0.5),
          Percentile(vector_filtered, 0.5));
      std::printf("vector top-10 via HNSW: p50 %.3f ms, p99 %.3f ms\n", Percentile(hnsw, 0.5),
                  Percentile(hnsw, 0.99));
      std::printf("vector top-10 via exact search: p50 %.2f ms, p99 %.2f ms (%.0fx HNSW at p50)\n",
                  Percentile(exact, 0.5), Percentile(exact, 0.99),
                  Percentile(exact, 0.5) / Percentile(hnsw, 0.5));
      std::printf("recall@10 of HNSW against exact search: %.4f; with the filter: %.4f\n",
                  static_cast<double>(found) / static_cast<double>(total),
                  static_cast<double>(found_filtered) / static_cast<double>(total_filtered));
      std::fflush(stdout);
    }
  }
  store.reset();
  if (own_dir) std::filesystem::remove_all(dir);
  return 0;
}

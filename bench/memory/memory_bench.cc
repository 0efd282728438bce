// Memory at scale, measured on the real store (SQLite WAL + FTS5 + HNSW file):
//   memory_bench [--items 100000] [--queries 300] [--dim 512] [--ef 256] [--efc 64] [--m 16]
//                [--batch 1000] [--dir D]
// Prints insert rate, index save/load time, hybrid query latency (p50/p99), vector-only query
// latency through HNSW and through exact search, and recall@10 of HNSW against exact search.
// Texts are synthetic sentences drawn from a fixed vocabulary (deterministic seed).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/ids.h"
#include "memory/memory_store.h"

namespace {

using Clock = std::chrono::steady_clock;
using naut::memory::HashingEmbedder;
using naut::memory::Kind;
using naut::memory::MemoryStore;
using naut::memory::NewMemory;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
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

}  // namespace

int main(int argc, char** argv) {
  naut::memory::VectorIndex::Options defaults;
  size_t items = 100000, queries = 300, batch = 1000, ef = defaults.ef_search,
         efc = defaults.ef_construction, m = defaults.m;
  int dim = 512;
  std::vector<size_t> efs = {ef};  // --ef 256,512: the queries run once per value
  std::filesystem::path dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    std::string v = argv[i + 1];
    if (k == "--items")
      items = std::stoul(v);
    else if (k == "--queries")
      queries = std::stoul(v);
    else if (k == "--dim")
      dim = std::stoi(v);
    else if (k == "--ef") {
      efs.clear();
      for (size_t at = 0; at < v.size();) {
        size_t comma = v.find(',', at);
        if (comma == std::string::npos) comma = v.size();
        efs.push_back(std::stoul(v.substr(at, comma - at)));
        at = comma + 1;
      }
      ef = efs.front();
    } else if (k == "--efc")
      efc = std::stoul(v);
    else if (k == "--m")
      m = std::stoul(v);
    else if (k == "--batch")
      batch = std::stoul(v);
    else if (k == "--dir")
      dir = v;
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  bool own_dir = dir.empty();
  if (own_dir) dir = std::filesystem::temp_directory_path() / ("naut-bench-" + naut::NewId());
  std::filesystem::create_directories(dir);
  naut::memory::StoreOptions opts{.index_dir = dir / "index"};
  opts.index.ef_search = ef;
  opts.index.ef_construction = efc;
  opts.index.m = m;
  auto open = [&] {
    auto s = MemoryStore::Open(dir / "neuronaut.db", std::make_unique<HashingEmbedder>(dim), opts);
    if (!s) {
      std::fprintf(stderr, "%s\n", s.error().ToString().c_str());
      std::exit(1);
    }
    return std::move(*s);
  };

  std::mt19937 rng(42);
  std::vector<std::string> stored_sample;  // texts that related queries are made from
  auto store = open();
  const char* envs[] = {"rpg", "fs", "exec", ""};
  auto t0 = Clock::now();
  for (size_t done = 0; done < items;) {
    std::vector<NewMemory> chunk;
    for (size_t i = 0; i < batch && done + i < items; ++i) {
      NewMemory m;
      m.kind = (i % 3 == 0) ? Kind::kEpisode : Kind::kFact;
      m.text = Sentence(rng, 12);
      if ((done + i) % 97 == 0) stored_sample.push_back(m.text);
      m.environment = envs[i % 4];
      m.tags = {"t" + std::to_string(i % 10)};
      chunk.push_back(std::move(m));
    }
    auto ids = store->AddBatch(chunk);
    if (!ids) {
      std::fprintf(stderr, "%s\n", ids.error().ToString().c_str());
      return 1;
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

  auto db_size = std::filesystem::file_size(dir / "neuronaut.db");
  auto ix_size = std::filesystem::file_size(dir / "index" / "memory.hnsw");
  std::printf("items %zu, dim %d, M %zu, ef_construction %zu\n", items, dim, m, efc);
  std::printf("insert (embed + SQLite + FTS5 + HNSW, batches of %zu): %.0f items/s (%.1f s)\n",
              batch, static_cast<double>(items) / (insert_ms / 1000), insert_ms / 1000);
  std::printf("index save %.0f ms, open + load %.0f ms; database %.0f MiB, index %.0f MiB\n",
              save_ms, load_ms, static_cast<double>(db_size) / 1048576.0,
              static_cast<double>(ix_size) / 1048576.0);
  std::fflush(stdout);

  HashingEmbedder embedder(dim);
  const std::mt19937 query_rng = rng;  // the same queries for every ef
  // Two query sets: 5 random words (the hardest case for HNSW on hashing vectors: the true
  // neighbours are barely nearer than the rest), and 5 consecutive words of a stored item (a
  // query about something remembered).
  auto related = [&](std::mt19937& r) {
    const std::string& t = stored_sample[r() % stored_sample.size()];
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
  for (size_t ef_now : efs) {
    for (int set = 0; set < 2; ++set) {
      rng = query_rng;
      (*index)->set_ef_search(ef_now);
      std::vector<double> hybrid, filtered, hnsw, exact;
      size_t found = 0, total = 0;
      for (size_t q = 0; q < queries; ++q) {
        std::string text = set == 0 ? Sentence(rng, 5) : related(rng);
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
        auto qv = embedder.EmbedText(text);
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
      }
      std::printf("-- ef_search %zu, queries: %s\n", ef_now,
                  set == 0 ? "5 random words" : "5 words of a stored item");
      std::printf("hybrid query top-10 (%zu queries): p50 %.2f ms, p99 %.2f ms\n", queries,
                  Percentile(hybrid, 0.5), Percentile(hybrid, 0.99));
      std::printf("hybrid query with filters (kind=fact, env=rpg): p50 %.2f ms, p99 %.2f ms\n",
                  Percentile(filtered, 0.5), Percentile(filtered, 0.99));
      std::printf("vector top-10 via HNSW: p50 %.3f ms, p99 %.3f ms\n", Percentile(hnsw, 0.5),
                  Percentile(hnsw, 0.99));
      std::printf("vector top-10 via exact search: p50 %.2f ms, p99 %.2f ms (%.0fx HNSW at p50)\n",
                  Percentile(exact, 0.5), Percentile(exact, 0.99),
                  Percentile(exact, 0.5) / Percentile(hnsw, 0.5));
      std::printf("recall@10 of HNSW against exact search: %.4f\n",
                  static_cast<double>(found) / static_cast<double>(total));
      std::fflush(stdout);
    }
  }
  store.reset();
  if (own_dir) std::filesystem::remove_all(dir);
  return 0;
}

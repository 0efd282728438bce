// Inserts memories into <dir>/neuronaut.db forever, printing "<id> <n>" after each commit,
// until killed. Used by crash_test.cc to kill a writer at arbitrary moments, including in
// the middle of an index save (it saves every 10 inserts).

#include <cstdio>
#include <cstdlib>
#include <string>

#include "memory/memory_store.h"

int main(int argc, char** argv) {
  using namespace naut::memory;
  if (argc != 3) {
    std::fprintf(stderr, "usage: memory_crash_writer <dir> <first-n>\n");
    return 2;
  }
  std::filesystem::path dir = argv[1];
  long n = std::atol(argv[2]);
  auto store = MemoryStore::Open(dir / "neuronaut.db", std::make_unique<HashingEmbedder>(64),
                                 {.index_dir = dir / "index", .save_every = 10});
  if (!store) {
    std::fprintf(stderr, "%s\n", store.error().ToString().c_str());
    return 1;
  }
  for (;; ++n) {
    NewMemory m;
    m.kind = Kind::kFact;
    m.text = "record " + std::to_string(n) + " about topic" + std::to_string(n % 17);
    m.tags = {"crash"};
    auto id = (*store)->Add(m);
    if (!id) {
      std::fprintf(stderr, "%s\n", id.error().ToString().c_str());
      return 1;
    }
    std::printf("%lld %ld\n", static_cast<long long>(*id), n);
    std::fflush(stdout);
  }
}

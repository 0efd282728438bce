// SQLite is the source of truth: a writer killed with SIGKILL at any moment (mid-insert,
// mid-index-save) loses no committed record, and the next open brings the vector index back
// into agreement with the database.

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <map>
#include <random>
#include <sstream>

#include "core/ids.h"
#include "core/subprocess.h"
#include "memory/memory_store.h"

namespace naut::memory {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Reads "<id> <n>" lines from the writer until `want` arrived.
std::map<int64_t, long> ReadCommitted(Subprocess& p, size_t want, std::string& tail) {
  std::map<int64_t, long> committed;
  char buf[4096];
  while (committed.size() < want) {
    ssize_t got = ::read(p.stdout_fd(), buf, sizeof buf);
    if (got <= 0) break;
    tail.append(buf, static_cast<size_t>(got));
    size_t nl;
    while ((nl = tail.find('\n')) != std::string::npos) {
      std::istringstream line(tail.substr(0, nl));
      tail.erase(0, nl + 1);
      long long id;
      long n;
      if (line >> id >> n) committed[id] = n;
    }
  }
  return committed;
}

TEST(MemoryCrash, KilledWriterLosesNoCommittedRecordAndIndexAgrees) {
  fs::path dir = fs::temp_directory_path() / ("naut-crash-" + NewId());
  fs::create_directories(dir);
  std::mt19937 rng(20261126);
  std::map<int64_t, long> all;
  long next = 0;
  for (int round = 0; round < 6; ++round) {
    auto p = Subprocess::Spawn(
        {.argv = {NAUT_CRASH_WRITER, dir.string(), std::to_string(next)}, .pipe_stdin = false});
    ASSERT_TRUE(p) << p.error().ToString();
    std::string tail;
    // Kill after a varying number of commits so that some kills land inside an index save.
    size_t want = std::uniform_int_distribution<size_t>(5, 60)(rng);
    auto committed = ReadCommitted(**p, want, tail);
    (*p)->Signal(SIGKILL);
    auto status = (*p)->Wait();
    ASSERT_EQ(status.signal, SIGKILL) << "writer ended before the kill: " << status.ToString();
    ASSERT_GE(committed.size(), want);
    all.insert(committed.begin(), committed.end());
    for (auto& [id, n] : committed) next = std::max(next, n + 1);
    next += 1000;  // numbers of a later round never collide with an unprinted commit

    auto store = MemoryStore::Open(dir / "neuronaut.db", std::make_unique<HashingEmbedder>(64),
                                   {.index_dir = dir / "index"});
    ASSERT_TRUE(store) << store.error().ToString();
    for (const auto& [id, n] : all) {
      auto m = (*store)->Get(id);
      ASSERT_TRUE(m) << "round " << round << ": committed record " << id << " lost";
      EXPECT_EQ(m->text.rfind("record " + std::to_string(n) + " ", 0), 0u) << m->text;
    }
    auto index = (*store)->Index();
    ASSERT_TRUE(index) << index.error().ToString();
    auto ids = (*store)->db().Prepare("SELECT id FROM memory_items WHERE deleted = 0 ORDER BY id");
    ASSERT_TRUE(ids);
    std::vector<int64_t> db_ids;
    while (*ids->Step()) db_ids.push_back(ids->ColumnInt(0));
    EXPECT_EQ((*index)->Ids(), db_ids) << "round " << round;
    EXPECT_GE(db_ids.size(), all.size());
    // The last committed record is found by meaning through the index.
    auto last = *all.rbegin();
    auto hits = (*store)->Search({.text = "record " + std::to_string(last.second) + " about topic" +
                                          std::to_string(last.second % 17),
                                  .top_k = 1,
                                  .mode = SearchMode::kVector});
    ASSERT_TRUE(hits) << hits.error().ToString();
    ASSERT_EQ(hits->size(), 1u);
    EXPECT_EQ(hits->at(0).memory.id, last.first);
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace naut::memory

#include "engine/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace naut::engine {
namespace {

// Many short jobs of different sizes back to back, as a decode step issues them: every chunk
// runs exactly once per job and ParallelFor returns only when all have run. A worker that
// still looks at the previous job while the next one is published must not claim a chunk
// from it (that once ran a chunk twice and left the caller waiting forever).
TEST(ThreadPoolTest, EveryChunkRunsOnceAcrossManyShortJobs) {
  // A hang is the failure to catch: a watchdog ends the process with a message instead of
  // leaving it to the test timeout.
  std::atomic<bool> finished{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 1200 && !finished.load(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!finished.load()) {
      std::fprintf(stderr, "ThreadPool.ParallelFor did not return within 120 s: hung\n");
      std::abort();
    }
  });
  auto run = [&] {
    for (int threads : {2, 3, 4}) {
      ThreadPool pool(threads);
      std::vector<std::atomic<int>> hits(64);
      for (int job = 0; job < 50000; ++job) {
        const int64_t n = 1 + (job * 7919) % 63;
        for (auto& h : hits) h.store(0, std::memory_order_relaxed);
        pool.ParallelFor(n, [&](int64_t i) { hits[i].fetch_add(1, std::memory_order_relaxed); });
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_EQ(hits[i].load(), 1) << "threads " << threads << " job " << job << " chunk " << i;
        }
        ASSERT_EQ(hits[n].load(std::memory_order_relaxed), 0) << "a chunk past the job ran";
      }
    }
  };
  run();
  finished.store(true);
  watchdog.join();
}

TEST(ThreadPoolTest, SingleChunkAndEmptyJobsRunOnTheCaller) {
  ThreadPool pool(2);
  int ran = 0;
  pool.ParallelFor(0, [&](int64_t) { ++ran; });
  EXPECT_EQ(ran, 0);
  pool.ParallelFor(1, [&](int64_t i) { ran += static_cast<int>(i) + 1; });
  EXPECT_EQ(ran, 1);
}

}  // namespace
}  // namespace naut::engine

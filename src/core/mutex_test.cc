#include "core/mutex.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <thread>
#include <vector>

namespace naut {
namespace {

// True when `mu` could be taken right now (and lets go of it again).
bool Free(Mutex& mu) {
  if (!mu.try_lock()) {
    return false;
  }
  mu.unlock();
  return true;
}

struct Counter {
  Mutex mu;
  std::condition_variable_any cv;
  int value GUARDED_BY(mu) = 0;
};

TEST(MutexTest, MutexLockKeepsOtherThreadsOut) {
  Mutex mu;
  std::atomic<bool> other_has_it{false};
  std::thread other;
  {
    MutexLock lock(mu);
    other = std::thread([&] {
      MutexLock inner(mu);
      other_has_it = true;
    });
    // The other thread cannot get the mutex while this scope holds it.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_FALSE(other_has_it);
  }
  other.join();
  EXPECT_TRUE(other_has_it);
  EXPECT_TRUE(Free(mu));
}

TEST(MutexTest, UnlockLetsGoBeforeTheScopeEnds) {
  Mutex mu;
  MutexLock lock(mu);
  lock.unlock();
  std::thread other([&] { EXPECT_TRUE(Free(mu)); });
  other.join();
  lock.lock();
  std::thread again([&] { EXPECT_FALSE(Free(mu)); });
  again.join();
}

TEST(MutexTest, ConditionVariableWaitsOnTheLock) {
  Counter c;
  std::thread producer([&] {
    MutexLock lock(c.mu);
    c.value = 42;
    c.cv.notify_all();
  });
  {
    MutexLock lock(c.mu);
    c.cv.wait(lock, [&]() REQUIRES(c.mu) { return c.value != 0; });
    EXPECT_EQ(c.value, 42);
  }
  producer.join();
}

TEST(MutexTest, CountsStayExactUnderContention) {
  Counter c;
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        MutexLock lock(c.mu);
        ++c.value;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  MutexLock lock(c.mu);
  EXPECT_EQ(c.value, 40000);
}

}  // namespace
}  // namespace naut
